"""``generic_fem.two_point`` is :mod:`generic_fem.friction.two_point` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .friction import two_point as _target

sys.modules[__name__] = _target
