"""generic-fem, models layer: the model interface (GenericModel): what a model states (docs/architecture.rst)."""
