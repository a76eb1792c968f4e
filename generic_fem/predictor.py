"""``generic_fem.predictor`` is :mod:`generic_fem.solvers.predictor` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .solvers import predictor as _target

sys.modules[__name__] = _target
