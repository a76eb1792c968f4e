"""``generic_fem.spatial_weights`` is :mod:`generic_fem.kernels.spatial_weights` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .kernels import spatial_weights as _target

sys.modules[__name__] = _target
