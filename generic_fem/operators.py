"""``generic_fem.operators`` is :mod:`generic_fem.friction.operators` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .friction import operators as _target

sys.modules[__name__] = _target
