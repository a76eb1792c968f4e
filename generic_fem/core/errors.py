"""Exceptions raised by generic-fem with messages that name the problem."""

__all__ = ["InvalidStateError", "InvalidParameterError", "StepFailedError"]


class InvalidStateError(ValueError):
    """Initial or given data outside the model's state space (negative, non-finite, ...)."""


class InvalidParameterError(ValueError):
    """Inconsistent or unsupported model / mesh / solver parameters."""


class StepFailedError(RuntimeError):
    """A time step could not be completed after the allowed number of retries."""
