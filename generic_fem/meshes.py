"""``generic_fem.meshes`` is :mod:`generic_fem.core.meshes` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import meshes as _target

sys.modules[__name__] = _target
