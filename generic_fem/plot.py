"""``generic_fem.plot`` is :mod:`generic_fem.core.plot` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import plot as _target

sys.modules[__name__] = _target
