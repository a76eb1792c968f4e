"""Sizes of the sub-steps inside one time step (docs/theory.rst, "Failed solves")."""
import math

__all__ = ["SubstepSizes"]


class SubstepSizes:
    """The size of the next sub-step after an accepted one.

    After an accepted sub-step of size ``dt`` the next one doubles (``2 dt``), but stays
    below the smallest size that failed in this step, until two sub-steps have passed
    without a rejection; then the failed size may be tried again.  Retrying at once a
    size that just failed cost most of the work of a step (near-saturated
    Fermi–Dirac data, Gauss rule, 8² cells, ``Δt = 2``: 198 rejected attempts in the
    last of twelve steps, alternating between a size that failed and half of it).
    One object per step: the memory of failed sizes does not outlive the step."""

    def __init__(self):
        self.smallest_failed = math.inf
        self.clean = 0

    def next_after(self, dt, rejected):
        """The next sub-step's size after an accepted one of size ``dt`` that had
        ``rejected`` failed attempts (each at twice the size of the one after it)."""
        if rejected:
            self.smallest_failed, self.clean = min(self.smallest_failed, 2.0 * dt), 0
        else:
            self.clean += 1
            if self.clean == 2:     # two clean sub-steps below it: try the failed size again
                self.smallest_failed, self.clean = 2.0 * self.smallest_failed, 0
        return min(2.0 * dt, 0.5 * self.smallest_failed)
