"""``generic_fem.parameters`` is :mod:`generic_fem.core.parameters` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import parameters as _target

sys.modules[__name__] = _target
