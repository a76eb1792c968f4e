"""``generic_fem.run`` is :mod:`generic_fem.drivers.run` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .drivers import run as _target

sys.modules[__name__] = _target
