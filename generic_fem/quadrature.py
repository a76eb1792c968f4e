"""``generic_fem.quadrature`` is :mod:`generic_fem.core.quadrature` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import quadrature as _target

sys.modules[__name__] = _target
