"""``generic_fem.schemes`` is :mod:`generic_fem.solvers.schemes` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .solvers import schemes as _target

sys.modules[__name__] = _target
