"""``generic_fem.history`` is :mod:`generic_fem.core.history` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import history as _target

sys.modules[__name__] = _target
