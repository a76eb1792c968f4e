"""generic-fem, solvers layer: time stepping: schemes, the nonlinear solver, its safeguards, the step controller, the stepper and its adjoint (docs/architecture.rst)."""
