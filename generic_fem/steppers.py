"""``generic_fem.steppers`` is :mod:`generic_fem.solvers.steppers` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .solvers import steppers as _target

sys.modules[__name__] = _target
