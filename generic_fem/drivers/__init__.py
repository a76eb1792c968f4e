"""generic-fem, drivers layer: runs and the energy-dissipation functionals (docs/architecture.rst)."""
