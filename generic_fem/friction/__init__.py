"""generic-fem, friction layer: the friction operators: the declared interface, local, two-point, their pull-backs and checks (docs/architecture.rst)."""
