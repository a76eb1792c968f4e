"""``generic_fem.assembly`` is :mod:`generic_fem.core.assembly` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import assembly as _target

sys.modules[__name__] = _target
