"""``generic_fem.substeps`` is :mod:`generic_fem.solvers.substeps` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .solvers import substeps as _target

sys.modules[__name__] = _target
