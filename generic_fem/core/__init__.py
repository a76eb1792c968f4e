"""generic-fem, core layer: the foundations: errors, parameters, PETSc options, assembly, the quadrature rule, meshes, compiled code, histories and output (docs/architecture.rst)."""
