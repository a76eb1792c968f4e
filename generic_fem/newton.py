r"""Safeguards of the Newton iteration in entropy variables (docs/theory.rst,
"Convergence criterion", "Globalisation", "Data with deep tails").

The unknown of every stepper is the entropy variable ``w`` (``f = F(w)``).  In the
tails of a velocity box a node can carry ``f ~ 1e-30`` of the bulk: its row of the
discrete system is below the round-off of the coupled solve (docs/two_point.rst,
"Tails and round-off").  The pieces here:

:class:`NodalDensity`, :class:`PointDensity`
    ``F(w)`` at the nodes, ``F(w_h)`` at the quadrature
    points (compiled interpolations).
:meth:`EntropyNewtonControl.update`
    the limited step: clipping to ``±s``; optionally the step is Anderson-mixed.
:meth:`EntropyNewtonControl.update_measure`
    the density test: the largest change of ``f`` at a quadrature point over the
    last iteration relative to the peak of ``f`` (per component).
:meth:`EntropyNewtonControl.entropy_defect`
    ``⟨θ, R⟩``: what a residual ``R`` does to the entropy balance.
:meth:`EntropyNewtonControl.report`
    on failure, the points where the iteration had not settled: coordinates, ``f``,
    ``w`` and the last change (the stepper retries with ``Δt/2`` down to ``min_dt``
    and then raises :class:`~generic_fem.errors.StepFailedError` with it).
"""
import numpy as np
import ufl
import firedrake as fd
from mpi4py import MPI

__all__ = ["NodalDensity", "EntropyNewtonControl", "AndersonMixing"]


def _compiled_interpolation(expr, target):
    """``target.interpolate(expr)`` as a reusable callable (compiled once)."""
    from .two_point import _interpolation
    return _interpolation(fd.interpolate(expr, target.function_space()), target)


def _global_max(comm, a):
    """Elementwise maximum of the array ``a`` over the ranks."""
    a = np.ascontiguousarray(a, dtype=float)
    if comm.size == 1:
        return a
    out = np.empty_like(a)
    comm.Allreduce(a, out, op=MPI.MAX)
    return out


class NodalDensity:
    """``F(w)`` at the nodes of ``V``; ``w`` is a scratch Function filled from PETSc
    vectors."""

    def __init__(self, model, V):
        self.w = fd.Function(V, name="w_nodes")
        self.f = fd.Function(V, name="f_nodes")
        self._density = _compiled_interpolation(model.density(self.w), self.f)

    def density(self, w_values):
        """``F(w)`` at the (owned) nodes for the given owned nodal values of ``w``."""
        self.w.dat.data_wo[...] = w_values.reshape(self.w.dat.data_ro.shape)
        self._density()
        return np.array(self.f.dat.data_ro).reshape(-1)


class PointDensity:
    """``F(w_h)`` at the quadrature points of the model's rule, where the density lives."""

    def __init__(self, model, V):
        shape = V.value_shape
        self.Q = model.Q if not shape else model.quadrature_space(shape)
        self.w = fd.Function(V, name="w_iterate")
        self.f = fd.Function(self.Q, name="f_points")
        self._density = _compiled_interpolation(model.density(self.w), self.f)
        self.model = model
        self._coords = None
        self._wq = None

    def __call__(self, w_values):
        """``F(w_h)`` at the owned points (flat array) for owned nodal values of ``w``."""
        self.w.dat.data_wo[...] = w_values.reshape(self.w.dat.data_ro.shape)
        self._density()
        return np.array(self.f.dat.data_ro).reshape(-1)

    def coordinates(self):
        """Coordinates of the owned points, one row per point (``None`` if unavailable)."""
        if self._coords is None:
            mesh = self.model.mesh
            gd = mesh.geometric_dimension() if callable(mesh.geometric_dimension) else mesh.geometric_dimension
            try:
                X = fd.Function(self.model.quadrature_space((gd,)))
                X.interpolate(ufl.SpatialCoordinate(mesh))
                self._coords = np.array(X.dat.data_ro).reshape(-1, gd)
            except Exception:   # e.g. no vector quadrature space on this mesh
                self._coords = False
        return self._coords if self._coords is not False else None

    def entropy_variable(self):
        """``w_h`` at the owned points of the last call (flat array)."""
        if self._wq is None:
            self._wq = fd.Function(self.Q)
            self._interp_w = _compiled_interpolation(self.w, self._wq)
        self._interp_w()
        return np.array(self._wq.dat.data_ro).reshape(-1)


class EntropyNewtonControl:
    r"""Safeguards of the Newton iteration for the entropy variable ``w`` (the leading
    ``n`` local entries of the SNES vectors; an auxiliary field after them is left
    alone): the step limit, Anderson mixing, the density test and failure reports.

    The step limit (:meth:`update`): an update of ``w_i`` is clipped to ``±s``, so a
    step cannot overflow ``F(w)``.  (Letting nodes of negligible density rise freely
    up to 1e-14 of the peak made two more ``γ = 1`` cases of the robustness matrix run,
    but it is a ratchet: over 100 steps of ``γ = 1`` on ``R = 10`` the box edge ended at
    7e-12 of the peak, 1e12 times the equilibrium's, where the clip alone brings it
    down to it; docs/theory.rst, "Robustness".)

    :arg model: the model (its ``density``).
    :arg V: the space of ``w``.
    :arg max_update: the largest change of ``w`` at a node in one iteration (``s``).
    :arg anderson_depth: depth of :class:`AndersonMixing` (0: off).
    """

    def __init__(self, model, V, max_update, anderson_depth=0):
        self.model = model
        self.V = V
        self.comm = model.mesh.comm
        self.ncomp = int(np.prod(V.value_shape)) if V.value_shape else 1
        self.nodal = NodalDensity(model, V)
        self.points = PointDensity(model, V)
        self.n = self.nodal.w.dat.data_ro.size
        self.max_update = float(max_update)

        self._fq_prev = None
        #: diagnostics of the last iteration (for failure messages)
        self.last_change = None
        #: the relative Jacobian diagonal of the last step (per component)
        self.diagonal_weight = None

        self.anderson = AndersonMixing(self.comm, anderson_depth)

    def _per_component_relative(self, values):
        """``values / max(values)`` per component (global maximum)."""
        k = self.ncomp
        vk = values.reshape(-1, k)
        peak = np.max(vk, axis=0) if vk.size else np.full(k, -np.inf)
        peak = _global_max(self.comm, peak)
        with np.errstate(all="ignore"):
            return (vk / np.where(peak > 0, peak, 1.0)).reshape(-1)

    # ----------------------------------------------------------------- update map
    def update(self, x, y, diagonal=None, first=False):
        """Replace the Newton step ``x − y`` (SNES convention, ``y`` = −δ) in place by
        the limited (and, with ``anderson_depth``, mixed) step; ``diagonal`` is the
        Jacobian's diagonal (owned entries of ``w``), ``first`` starts a new Anderson
        history."""
        n = self.n
        xa = x.getArray(readonly=True)[:n]
        ya = y.getArray()
        delta = -ya[:n]
        s_max = self.max_update
        w_new = xa + delta
        if s_max > 0:
            w_new = np.clip(w_new, xa - s_max, xa + s_max)
        step = w_new - xa
        weight = None
        if diagonal is not None:
            weight = self._per_component_relative(np.abs(diagonal))
            self.diagonal_weight = weight
        if self.anderson.depth > 0:
            if first:
                self.anderson.reset()
            if weight is None:
                weight = self._per_component_relative(self.nodal.density(xa))
            step = self.anderson.step(xa, step, weight)
            if s_max > 0:
                step = np.clip(step, -s_max, s_max)
        ya[:n] = -step
        y.setArray(ya)
        return True

    # ----------------------------------------------------------------- convergence
    def start(self, x):
        """Record the densities at the points of the initial iterate (and forget the
        last solve's diagnostics)."""
        self.last_change = None
        self._fq_prev = self.points(x.getArray(readonly=True)[:self.n])

    def update_measure(self, x):
        """``max_q |f_q^{k+1} − f_q^k| / max_q f_q^{k+1}`` over the quadrature points
        (per component; global): the last change of the density relative to its peak."""
        fq = self.points(x.getArray(readonly=True)[:self.n])
        prev = self._fq_prev if self._fq_prev is not None else fq
        k = self.ncomp
        peak = np.max(fq.reshape(-1, k), axis=0) if fq.size else np.full(k, -np.inf)
        peak = _global_max(self.comm, peak)
        with np.errstate(all="ignore"):
            rel = (np.abs(fq - prev).reshape(-1, k) / np.where(peak > 0, peak, 1.0)).reshape(-1)
        rel[~np.isfinite(rel)] = np.inf
        self.last_change = (rel, fq)
        self._fq_prev = fq
        local = float(rel.max()) if rel.size else 0.0
        return self.comm.allreduce(local, op=MPI.MAX)

    # ----------------------------------------------------------------- entropy defect
    def entropy_defect(self, residual, theta):
        """``⟨θ, R⟩`` over the entries of ``w`` (global): what a residual ``R`` adds to
        the entropy balance ``H^{n+1} − H^n ≤ −Δt ⟨θ, M θ⟩ + ⟨θ, R⟩``."""
        n = self.n
        return self.comm.allreduce(float(np.dot(theta[:n], residual[:n])), op=MPI.SUM)

    # ----------------------------------------------------------------- failure report
    def report(self, count=3):
        """The quadrature points with the largest last change of ``f``: coordinates,
        ``f``, ``w`` and the change relative to the peak (collective)."""
        if self.last_change is None:
            return ""
        rel, fq = self.last_change
        k = self.ncomp
        X = self.points.coordinates()
        wq = self.points.entropy_variable()
        order = np.argsort(-rel)[:count]
        rows = [(float(rel[j]), X[j // k].tolist() if X is not None else None, j % k,
                 float(fq[j]), float(wq[j])) for j in order]
        rows = [r for part in self.comm.allgather(rows) for r in part]
        rows.sort(key=lambda r: -r[0])
        lines = []
        for change, xy, comp, fv, wv in rows[:count]:
            where = "(" + ", ".join(f"{c:.3g}" for c in xy) + ")" if xy is not None else "?"
            comp_s = f", component {comp}" if k > 1 else ""
            lines.append(f"v = {where}{comp_s}: f = {fv:.3e}, w = {wv:.4g}, "
                         f"last change of f = {change:.2e} of the peak")
        return "; ".join(lines)


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
