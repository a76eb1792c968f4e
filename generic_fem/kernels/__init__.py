"""generic-fem, kernels layer: the pair weights and the compiled pair sums, and the summation backends (docs/architecture.rst)."""
