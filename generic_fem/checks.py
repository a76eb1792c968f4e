"""``generic_fem.checks`` is :mod:`generic_fem.friction.checks` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .friction import checks as _target

sys.modules[__name__] = _target
