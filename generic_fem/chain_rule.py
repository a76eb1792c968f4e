"""``generic_fem.chain_rule`` is :mod:`generic_fem.solvers.chain_rule` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .solvers import chain_rule as _target

sys.modules[__name__] = _target
