"""``generic_fem.output`` is :mod:`generic_fem.core.output` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import output as _target

sys.modules[__name__] = _target
