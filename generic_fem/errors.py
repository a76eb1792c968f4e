"""``generic_fem.errors`` is :mod:`generic_fem.core.errors` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import errors as _target

sys.modules[__name__] = _target
