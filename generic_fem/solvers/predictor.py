r"""The initial guess of a step, and the local-error scale it gives the solve.

:class:`Extrapolation` extrapolates the entropy variable in time through the last
``p + 1`` accepted states (Lagrange, variable step sizes), ``p`` the order of the
scheme.  The distance of the step's solution from this prediction is then
``O(Δt^{p+1})``, the order of the step's local truncation error: a classical
predictor–corrector error estimate (Hairer, Nørsett & Wanner, *Solving ODEs I*, §III.5),
which the steppers use to stop the nonlinear iteration once its own error is a small
fraction of it (docs/theory.rst, "Convergence criterion").
"""
import numpy as np
import firedrake as fd

__all__ = ["Extrapolation", "lagrange_extrapolation_weights"]


def lagrange_extrapolation_weights(times, target):
    """Weights ``ℓ_j`` with ``p(target) = Σ_j ℓ_j p(times_j)`` for every polynomial ``p``
    of degree ``len(times) − 1``."""
    times = np.asarray(times, dtype=float)
    out = np.ones(len(times))
    for j, tj in enumerate(times):
        for m, tm in enumerate(times):
            if m != j:
                out[j] *= (target - tm) / (tj - tm)
    return out


class Extrapolation:
    """Polynomial extrapolation in time of ``w`` through the last ``order + 1`` states.

    Applied only where the density is above ``bulk`` (1e-6) of its peak, and limited to
    ``±clip`` (½) per node: in the tails ``w`` moves by large amounts from step to
    step and an extrapolation overshoots; there the guess is ``w^n``.  The
    extrapolation is never taken further than the last step size (``Δt`` larger than
    that predicts ``t^n + Δt_prev``), and a prediction counts as one of the step's
    order (:meth:`guess` returns ``full``) only with ``order`` past states and
    ``Δt ≤ Δt_prev``.

    Increments below ``floor`` (1e-10; a relative change of the density below the
    solve's tolerance) are dropped: near a steady state the extrapolation is round-off,
    and a guess bitwise equal to ``w^n`` there lets the operator skip its pair sums.

    :arg control: the :class:`~generic_fem.solvers.newton.EntropyNewtonControl` (nodal densities).
    :arg order: the degree of the extrapolating polynomial (the scheme's order).
    """

    def __init__(self, control, order, bulk=1e-6, clip=0.5, floor=1e-10):
        self.control = control
        self.order = int(order)
        self.bulk, self.clip, self.floor = float(bulk), float(clip), float(floor)
        self.past = []    # [(t, Function)], oldest first

    def reset(self):
        self.past = []

    def push(self, t, w):
        """Remember the accepted state ``w`` (a Function) at time ``t`` (before a step from it)."""
        if self.order < 1:
            return
        while self.past and self.past[-1][0] >= t:   # (a state at or after t: superseded)
            self.past.pop()
        if len(self.past) < self.order:
            keep = fd.Function(w.function_space(), name=f"w_past_{len(self.past)}")
        else:   # reuse the oldest state's Function
            keep = self.past.pop(0)[1]
        keep.dat.data[...] = w.dat.data_ro
        self.past.append((float(t), keep))

    def states(self):
        """``[(t, w)]`` of the past states, oldest first (for checkpoints)."""
        return list(self.past)

    def guess(self, t, w, dt):
        """``(values, full)``: the predicted owned values of ``w`` at ``t + Δt`` from the
        state ``w`` (a Function) at ``t``, and whether the prediction has the scheme's
        order (else ``values`` is ``w``'s own)."""
        w0 = np.array(w.dat.data_ro).reshape(-1)
        if not self.past or self.order < 1:
            return w0, False
        last = t - self.past[-1][0]
        if not last > 0:
            return w0, False
        target = t + min(dt, last)
        times = [s for s, _ in self.past] + [t]
        ell = lagrange_extrapolation_weights(times, target)
        pred = ell[-1] * w0
        for lj, (_, wj) in zip(ell[:-1], self.past):
            pred = pred + lj * np.asarray(wj.dat.data_ro).reshape(-1)
        rel = self.control.per_component_relative(self.control.nodal.density(w0))
        step = np.where((rel > self.bulk) & (np.abs(pred - w0) > self.floor), pred - w0, 0.0)
        guess = w0 + np.clip(step, -self.clip, self.clip)
        full = len(self.past) == self.order and dt <= last * (1 + 1e-12)
        return guess, full
