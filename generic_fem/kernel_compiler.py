"""``generic_fem.kernel_compiler`` is :mod:`generic_fem.core.kernel_compiler` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import kernel_compiler as _target

sys.modules[__name__] = _target
