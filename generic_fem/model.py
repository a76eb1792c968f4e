"""``generic_fem.model`` is :mod:`generic_fem.models.model` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .models import model as _target

sys.modules[__name__] = _target
