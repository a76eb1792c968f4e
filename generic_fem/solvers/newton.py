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
    the limited step: clipping to ``±s``; optionally the step is Anderson-mixed
    (:class:`~generic_fem.solvers.anderson.AndersonMixing`).
:meth:`EntropyNewtonControl.update_measure`
    the density test: the largest change of ``f`` at a quadrature point over the
    last iteration relative to the peak of ``f`` (per component).
:meth:`EntropyNewtonControl.entropy_defect`
    ``⟨θ, R⟩``: what a residual ``R`` does to the entropy balance.
:meth:`EntropyNewtonControl.report_residual`
    on failure, the nodes where the iteration had not settled (the largest rows of the
    residual): coordinates, ``f``, ``w`` and the correction of ``w`` they ask for (the stepper retries with ``Δt/2`` down to ``min_dt``
    and then raises :class:`~generic_fem.core.errors.StepFailedError` with it).
"""
import numpy as np
import firedrake as fd
from mpi4py import MPI

from ..core.assembly import compiled_interpolation
from .anderson import AndersonMixing

__all__ = ["NodalDensity", "EntropyNewtonControl", "AndersonMixing"]


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
        self._density = compiled_interpolation(model.density(self.w), self.f)

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
        self._density = compiled_interpolation(model.density(self.w), self.f)

    def __call__(self, w_values):
        """``F(w_h)`` at the owned points (flat array) for owned nodal values of ``w``."""
        self.w.dat.data_wo[...] = w_values.reshape(self.w.dat.data_ro.shape)
        self._density()
        return np.array(self.f.dat.data_ro).reshape(-1)


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
        self._fq_pred = None
        self._peak_prev = None
        #: the relative Jacobian diagonal of the last step (per component)
        self.diagonal_weight = None
        #: whether the last update clipped some node in the direction the update before
        #: it clipped it, with a correction asked that shrank by at least half the
        #: limit (a node moving at the limit towards a finite target: progress of a
        #: known size, not a stall)
        self.crawling = False
        self._last_asked = None   # the corrections the last update asked for where it clipped (else 0)
        #: the largest f/peak among the nodes of the last :meth:`report_residual`
        self.reported_fraction = None
        #: the absolute values of the diagonal of the last Newton matrix (owned entries of w)
        self.diagonal = None
        self._node_coords = None

        self.anderson = AndersonMixing(self.comm, anderson_depth)
        #: ``(state, ratio)`` when the unknown is not ``w`` itself (the second-order
        #: schemes under a floor of ``α``): ``state(u)`` the owned nodal values of ``w``
        #: for those of the unknown, ``ratio()`` the node-wise ``∂w/∂u``; else ``None``
        self.state_map = None

    def _w(self, u):
        """The owned nodal values of ``w`` for those of the unknown."""
        return u if self.state_map is None else self.state_map[0](u)

    def per_component_relative(self, values):
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
        history.  Returns whether the limit clipped a node whose density is above 1e-6
        of its peak (the same on every rank)."""
        n = self.n
        xa = x.getArray(readonly=True)[:n]
        ya = y.getArray()
        delta = -ya[:n]
        s_max = self.max_update
        w_new = xa + delta
        clipped = False
        if first:
            self._last_asked = None
        self.crawling = False
        if s_max > 0 and self.state_map is not None:
            # the limit is on the change of w: u moves by 1/ratio times as much
            s_max = s_max / self.state_map[1]()
        if self.max_update > 0:
            w_new = np.clip(w_new, xa - s_max, xa + s_max)
            # clipped where the density matters (above 1e-6 of its peak)?  (collective)
            hit = np.abs(delta) > s_max
            asked = np.where(hit, delta, 0.0)
            prev, self._last_asked = self._last_asked, asked
            if self.comm.allreduce(bool(np.any(hit)), op=MPI.LOR):
                rel = self.per_component_relative(self.nodal.density(self._w(xa)))
                clipped = self.comm.allreduce(bool(np.any(hit & (rel > 1e-6))), op=MPI.LOR)
                # a node clipped twice in one direction whose asked correction shrank by
                # at least half the limit: it is approaching a finite target (one that
                # empties asks for ever more, and does not count)
                same = prev is not None and prev.shape == asked.shape and bool(np.any(
                    hit & (asked * prev > 0) & (np.abs(asked) <= np.abs(prev) - 0.5 * s_max)))
                self.crawling = self.comm.allreduce(same, op=MPI.LOR)
        step = w_new - xa
        weight = None
        if diagonal is not None:
            weight = self.per_component_relative(np.abs(diagonal))
            self.diagonal_weight = weight
            self.diagonal = np.abs(diagonal)
        if self.anderson.depth > 0:
            if first:
                self.anderson.reset()
            if weight is None:
                weight = self.per_component_relative(self.nodal.density(self._w(xa)))
            step = self.anderson.step(xa, step, weight)
            if self.max_update > 0:
                step = np.clip(step, -s_max, s_max)
        ya[:n] = -step
        y.setArray(ya)
        return clipped

    # ----------------------------------------------------------------- convergence
    def start(self, x):
        """Record the densities at the points of the initial iterate (and forget the
        last solve's Jacobian diagonal)."""
        self.diagonal = None
        self._fq_prev = self.points(self._w(x.getArray(readonly=True)[:self.n]))

    def set_prediction(self, w_values):
        """The step's predicted owned nodal values of ``w`` (``None``: no prediction), for
        :meth:`prediction_distance`."""
        self._fq_pred = None if w_values is None else self.points(w_values)

    def set_prediction_to_last(self):
        """Take the last iterate measured by :meth:`update_measure` as the reference of
        :meth:`prediction_distance`."""
        self._fq_pred = None if self._fq_prev is None else self._fq_prev.copy()

    def prediction_distance(self):
        """``max_q |f_q − f_q^pred| / max_q f_q`` for the last iterate measured by
        :meth:`update_measure` (per component, the largest; global): the step's
        local-error estimate.  0 without a prediction."""
        if self._fq_pred is None:
            return 0.0
        fq, k, peak = self._fq_prev, self.ncomp, self._peak_prev   # (its peak, from update_measure)
        with np.errstate(all="ignore"):
            rel = (np.abs(fq - self._fq_pred).reshape(-1, k) / np.where(peak > 0, peak, 1.0)).reshape(-1)
        rel[~np.isfinite(rel)] = np.inf
        return self.comm.allreduce(float(rel.max()) if rel.size else 0.0, op=MPI.MAX)

    def update_measure(self, x):
        """``max_q |f_q^{k+1} − f_q^k| / max_q f_q^{k+1}`` over the quadrature points
        (per component; global): the last change of the density relative to its peak."""
        fq = self.points(self._w(x.getArray(readonly=True)[:self.n]))
        prev = self._fq_prev if self._fq_prev is not None else fq
        k = self.ncomp
        peak = np.max(fq.reshape(-1, k), axis=0) if fq.size else np.full(k, -np.inf)
        peak = _global_max(self.comm, peak)
        with np.errstate(all="ignore"):
            rel = (np.abs(fq - prev).reshape(-1, k) / np.where(peak > 0, peak, 1.0)).reshape(-1)
        rel[~np.isfinite(rel)] = np.inf
        self._fq_prev, self._peak_prev = fq, peak
        local = float(rel.max()) if rel.size else 0.0
        return self.comm.allreduce(local, op=MPI.MAX)

    # ----------------------------------------------------------------- entropy defect
    def entropy_defect(self, residual, theta):
        """``⟨θ, R⟩`` over the entries of ``w`` (global): what a residual ``R`` adds to
        the entropy balance ``H^{n+1} − H^n ≤ −Δt ⟨θ, M θ⟩ + ⟨θ, R⟩``."""
        n = self.n
        return self.comm.allreduce(float(np.dot(theta[:n], residual[:n])), op=MPI.SUM)

    # ----------------------------------------------------------------- failure report
    def node_coordinates(self):
        """Coordinates of the owned nodes of ``V``, one row per entry of ``w``."""
        if self._node_coords is None:
            # (velocity coordinates: (v_⊥, v_∥) on an axisymmetric mesh, not (s, v_∥))
            X = self.model.velocity.point_values(self.model.node_coordinates())
            self._node_coords = np.repeat(X, self.ncomp, axis=0)
        return self._node_coords

    def report_residual(self, residual, w, count=3):
        """The nodes with the largest rows of the residual ``|r_i|`` (the increments of
        ``∫ φ_i f`` the solve had not settled): coordinates, ``f`` (and relative to its
        peak), ``w``, ``r_i`` and the Newton correction ``r_i / J_ii`` it asks for
        (collective).  :attr:`reported_fraction` is then the largest ``f``/peak among
        them."""
        self.reported_fraction = None
        n = self.n
        r = np.abs(np.asarray(residual)[:n])
        d = self.diagonal
        if d is None or d.shape != r.shape:
            return ""
        with np.errstate(all="ignore"):
            scaled = np.where(d > 0, r / d, np.inf)
        scaled[~np.isfinite(scaled)] = np.inf
        w = np.asarray(w).reshape(-1)[:n]
        fn = self.nodal.density(w)
        frac = self.per_component_relative(fn)
        X = self.node_coordinates()
        k = self.ncomp
        order = np.argsort(-r)[:count]
        rows = [(float(scaled[j]), X[j].tolist(), j % k, float(fn[j]), float(frac[j]), float(w[j]), float(r[j]))
                for j in order]
        rows = [x for part in self.comm.allgather(rows) for x in part]
        rows.sort(key=lambda x: -x[6])
        lines = []
        for corr, xy, comp, fv, fr, wv, rv in rows[:count]:
            where = "(" + ", ".join(f"{c:.3g}" for c in xy) + ")"
            comp_s = f", component {comp}" if k > 1 else ""
            lines.append(f"v = {where}{comp_s}: f = {fv:.2e} ({fr:.1e} of the peak), w = {wv:.4g}, "
                         f"residual {rv:.1e} (a correction of w of {corr:.1e})")
        fracs = [x[4] for x in rows[:count] if np.isfinite(x[4])]
        self.reported_fraction = max(fracs) if fracs else None
        return "; ".join(lines)
