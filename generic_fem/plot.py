"""``generic_fem.plot`` is :mod:`generic_fem.core.plot` (an alias of the old path, kept for one
release: the same module object)."""
import sys

from .core import plot as _target

if __name__ == "__main__":    # python -m generic_fem.plot (the old command)
    _target.main()
else:
    sys.modules[__name__] = _target
