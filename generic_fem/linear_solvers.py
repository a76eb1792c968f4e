"""``generic_fem.linear_solvers`` is :mod:`generic_fem.solvers.linear_solvers` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .solvers import linear_solvers as _target

sys.modules[__name__] = _target
