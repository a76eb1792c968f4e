"""``generic_fem.adjoint`` is :mod:`generic_fem.solvers.adjoint` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .solvers import adjoint as _target

sys.modules[__name__] = _target
