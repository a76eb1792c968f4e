"""``generic_fem.petsc_options`` is :mod:`generic_fem.core.petsc_options` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import petsc_options as _target

sys.modules[__name__] = _target
