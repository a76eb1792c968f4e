"""``generic_fem.taping`` is :mod:`generic_fem.core.taping` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import taping as _target

sys.modules[__name__] = _target
