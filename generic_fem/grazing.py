"""``generic_fem.grazing`` is :mod:`generic_fem.drivers.grazing` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .drivers import grazing as _target

sys.modules[__name__] = _target
