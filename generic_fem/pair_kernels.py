"""``generic_fem.pair_kernels`` is :mod:`generic_fem.kernels.pair_kernels` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .kernels import pair_kernels as _target

sys.modules[__name__] = _target
