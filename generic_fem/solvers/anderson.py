r"""Anderson acceleration of the Picard iteration in the entropy variable
(docs/theory.rst, "Globalisation"; D. G. Anderson, J. ACM 12 (1965) 547; Walker & Ni,
SIAM J. Numer. Anal. 49 (2011) 1715).  Used by
:class:`~generic_fem.solvers.newton.EntropyNewtonControl` on every update."""
import numpy as np
from mpi4py import MPI

__all__ = ["AndersonMixing"]


class AndersonMixing:
    r"""Anderson acceleration (type II, depth ``m``) of a fixed-point iteration
    ``x ← x + r(x)`` in the entropy variable, with ``r`` the (density-space) Picard
    step of the frozen-coefficient Jacobian.

    With the differences ``ΔX_j = x_{j+1} − x_j``, ``ΔR_j = r_{j+1} − r_j`` of the last
    ``m`` iterates, the accelerated step is

    .. math::  x_{k+1} = x_k + r_k − (ΔX + ΔR)\,γ, \qquad
               γ = \arg\min_γ ‖D (r_k − ΔR γ)‖_2,

    where ``D`` weighs each node by its relative Jacobian diagonal (which scales like
    the density there): the least-squares problem is posed on the change of ``f``, so
    nodes below round-off (whose ``w`` the equations do not determine) take no part in
    the mixing.  The Picard iteration of a two-point operator converges slowly only
    in a few smooth modes (those the local, frozen part of the Jacobian represents
    worst); Anderson mixing removes them at no cost in operator evaluations.  ``γ`` is
    Tikhonov-regularised (``regularisation`` times the trace of the normal equations,
    1e-6: with 1e-10 the mixing amplified round-off until 1 and 2 ranks took different
    iterations) and the history is dropped (plain steps) once the weighted step is
    below ``noise`` relative to the peak density, where differences of iterates are
    round-off."""

    def __init__(self, comm, depth=5, regularisation=1e-6, noise=1e-9):
        self.comm = comm
        self.noise = float(noise)
        self.depth = int(depth)
        self.reg = float(regularisation)
        self.reset()

    def reset(self):
        self._x = None
        self._r = None
        self._dX = []
        self._dR = []

    def _dot(self, a, b):
        return self.comm.allreduce(float(np.dot(a, b)), op=MPI.SUM)

    def step(self, x, r, weight):
        """The accelerated step ``x_{k+1} − x_k`` for the iterate ``x`` and plain step
        ``r`` (owned nodal values), ``weight`` the nodal densities."""
        if self.depth <= 0:
            return r
        wr = weight * r
        size = self.comm.allreduce(float(np.max(np.abs(wr))) if wr.size else 0.0, op=MPI.MAX)
        if size < self.noise:
            # at the round-off floor the differences are noise: plain steps from here
            self.reset()
            return r
        if self._x is not None:
            self._dX.append(x - self._x)
            self._dR.append(r - self._r)
            if len(self._dX) > self.depth:
                self._dX.pop(0)
                self._dR.pop(0)
        self._x, self._r = x.copy(), r.copy()
        if not self._dR:
            return r
        m = len(self._dR)
        Wr = weight * r
        WR = [weight * d for d in self._dR]
        A = np.array([[self._dot(WR[i], WR[j]) for j in range(m)] for i in range(m)])
        b = np.array([self._dot(WR[i], Wr) for i in range(m)])
        scale = max(np.trace(A), 1e-300)
        try:
            gamma = np.linalg.solve(A + self.reg * scale * np.eye(m), b)
        except np.linalg.LinAlgError:
            self.reset()
            return r
        step = r - sum(g * (dx + dr) for g, dx, dr in zip(gamma, self._dX, self._dR))
        if not self.comm.allreduce(bool(np.all(np.isfinite(step))), op=MPI.LAND):
            self.reset()
            return r
        return step
