"""``generic_fem.invariants`` is :mod:`generic_fem.solvers.invariants` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .solvers import invariants as _target

sys.modules[__name__] = _target
