"""``generic_fem.functional`` is :mod:`generic_fem.drivers.functional` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .drivers import functional as _target

sys.modules[__name__] = _target
