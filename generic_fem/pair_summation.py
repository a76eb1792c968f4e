"""``generic_fem.pair_summation`` is :mod:`generic_fem.kernels.pair_summation` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .kernels import pair_summation as _target

sys.modules[__name__] = _target
