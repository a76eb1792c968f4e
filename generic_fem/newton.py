"""``generic_fem.newton`` is :mod:`generic_fem.solvers.newton` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .solvers import newton as _target

sys.modules[__name__] = _target
