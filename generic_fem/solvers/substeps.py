"""Sizes of the sub-steps inside one time step and of their attempts (docs/theory.rst,
"Failed solves")."""
import math

__all__ = ["SubstepSizes", "StepController"]


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


class StepController:
    """The sizes of the sub-steps that cover one time step, and of the attempts of each.

    :meth:`Stepper.advance <generic_fem.solvers.steppers.Stepper.advance>` covers exactly
    ``Δt = min(dt, dt_max)``: :meth:`begin` opens the step; :meth:`next_size` gives the
    largest size the next sub-step may take (what is left of ``Δt``, never leaving a
    sliver below ``1e-9 Δt``); :meth:`attempts` the sizes of its successive attempts
    (halved after each failure, at most ``max_rejections`` times and never below
    ``min_dt``); :meth:`accepted` records a sub-step and its rejected attempts
    (:class:`SubstepSizes` then chooses the next size); :meth:`end` closes the step, and
    the next one starts at twice its last sub-step (at most ``dt``).

    :arg dt: the step size ``dt`` (``dt_target``).
    :arg max_rejections: failed attempts of one sub-step before it fails.
    :arg min_dt: the smallest attempt (default ``1e-6 dt``).
    """

    def __init__(self, dt, max_rejections=6, min_dt=None):
        self.dt_target = float(dt)
        self.max_rejections = int(max_rejections)
        self.min_dt = float(min_dt) if min_dt is not None else 1e-6 * self.dt_target
        self.dt_next = self.dt_target     # the first sub-step of the next step
        self.span = self.done = self._h = None
        self._last = None
        self._sizes = None

    def begin(self, dt_max=None):
        """Open a step of ``min(dt, dt_max)``; returns its size."""
        span = self.dt_target if dt_max is None else min(self.dt_target, float(dt_max))
        self.span, self.done = span, 0.0
        self._h = min(self.dt_next, span)
        self._sizes = SubstepSizes()
        return span

    @property
    def finished(self):
        """Whether the accepted sub-steps cover the step."""
        return self.done >= self.span

    def next_size(self):
        """The largest size of the next sub-step."""
        left = self.span - self.done
        h = min(self._h, left)
        if left - h < 1e-9 * self.span:   # no sliver at the end
            h = left
        return h

    def attempts(self, dt):
        """The sizes of the successive attempts of a sub-step of at most ``dt``: ``dt``,
        ``dt/2``, ... (``max_rejections + 1`` at most, none below ``min_dt``); the caller
        stops at the first that succeeds."""
        n = 0
        while True:
            yield dt
            n += 1
            if n > self.max_rejections or dt / 2 < self.min_dt:
                return
            dt = dt / 2

    def accepted(self, dt, rejected):
        """Record an accepted sub-step of size ``dt`` after ``rejected`` failed attempts;
        returns the time covered so far."""
        left = self.span - self.done
        self.done = self.span if dt == left else self.done + dt
        self._last = dt
        self._h = self._sizes.next_after(dt, rejected)
        return self.done

    def end(self):
        """Close the step: the next starts at twice its last sub-step (at most ``dt``; the
        memory of failed sizes is per step)."""
        self.dt_next = min(2.0 * self._last, self.dt_target)
