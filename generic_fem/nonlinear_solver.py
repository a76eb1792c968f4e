"""``generic_fem.nonlinear_solver`` is :mod:`generic_fem.solvers.nonlinear_solver` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .solvers import nonlinear_solver as _target

sys.modules[__name__] = _target
