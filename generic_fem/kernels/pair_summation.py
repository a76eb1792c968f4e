r"""Summation backends of the two-point operators (:mod:`generic_fem.friction.two_point`).

Every evaluation of a two-point operator needs, per target set ``i`` and target point
``q`` of this rank, sums over all sets ``j`` and all points ``p`` (of every rank):

* ``sums``: ``Ĝ_iq = Σ_j c_ij Σ_p κ_qp k_jp a(v_iq − v_jp)`` and
  ``Ĵ_iq = Σ_j c_ij Σ_p κ_qp k_jp a(v_iq − v_jp)(t_iq − g_jp)`` (``k`` per-point
  coefficients, ``t``, ``g`` vectors);
* ``contractions``: ``K_iq = Σ_j c_ij Σ_p κ_qp a(v_iq − v_jp) : T_jp`` for symmetric
  tensors ``T`` (the adjoint).

``a(z) = A(|z|)/|z|² (|z|² I − z ⊗ z)`` (:mod:`generic_fem.kernels.pair_weights`), ``κ = 1``
without a spatial weight, and coincident pairs (``z = 0``) are left out.  A backend is
one algorithm for both; the operator chooses it:

:class:`MomentSums`
    a quadratic ``A`` (``γ = 0``): ``a`` is a polynomial in ``v`` and ``v_*``, and the
    sums are moments of the sources, ``O(N)`` (one ``Allreduce``).
:class:`DirectSums`
    every pair of points, the sources gathered from every rank, ``O(N²)``
    (:func:`~generic_fem.kernels.pair_kernels.pair_sums`).
:class:`DistinctPositionSums`
    the same pairs over distinct positions: the sources at one position are merged
    (``a`` is the same for all of them) and the targets at one position share ``Ĝ``
    (the nodal rule puts a node shared by ``2^d`` cells at one position).
:class:`PhaseSpaceSums`
    phase space ``(x, v)`` with a spatial weight ``κ(x − x_*)``: the sums over ``x_*``
    are a convolution of the sources on the ``(x, v)`` grid, ``O(N_x N_v² + N_x² N_v)``.


:class:`AxisymmetricSums`
    axisymmetric velocity space: the points are rings ``(v_⊥, v_∥)``, the kernel is
    averaged over the relative azimuth (:mod:`generic_fem.kernels.axisymmetric`), and
    ``Ĵ_iq = Σ_j c_ij Σ_p k_jp (S(v_iq, v_jp) t_iq − C(v_iq, v_jp) g_jp)``.

A fast-multipole summation is a further backend of this interface.
All methods are collective.
"""
import numpy as np
from mpi4py import MPI

from ..core.errors import InvalidParameterError
from .axisymmetric import compiled_pair_sums, compiled_pair_contractions, symmetric_pair_sums
from .pair_kernels import (pair_sums, pair_contractions, local_moments, moment_sums, tensor_moments,
                           tensor_moment_contractions)

__all__ = ["PairSummation", "MomentSums", "DirectSums", "DistinctPositionSums", "PhaseSpaceSums", "AxisymmetricSums"]


class PairSummation:
    """The interface (module docstring).

    :arg points: ``points[i]``: this rank's points of set ``i`` (``n_local × d``).
    :arg weight: the :class:`~generic_fem.kernels.pair_weights.PairWeight`.
    :arg gather: ``gather(local)``: all ranks' rows of ``local``, in rank order.
    :arg comm: the communicator.
    :arg stats: a dict whose ``"pairs"`` counts the pair interactions evaluated here.
    """

    def __init__(self, points, weight, gather, comm, stats):
        self.points = points
        self.n_sets = len(points)
        self.dim = points[0].shape[1]
        self.n_local = len(points[0])
        self.weight = weight
        self.gather = gather
        self.comm = comm
        self.stats = stats

    def sums(self, target_vectors, coeff, vectors, coupling, kappa=None):
        """Per target set ``i``: ``(Ĝ_i, Ĵ_i)`` at this rank's points (``n_local × d × d``,
        ``n_local × d``) for ``k = coeff`` (``N × n_local``), ``t = target_vectors`` and
        ``g = vectors`` (``N × n_local × d``); ``kappa``: the spatial weight matrix
        between the distinct ``x`` (phase space only)."""
        raise NotImplementedError

    def contractions(self, tensors, coupling, kappa=None):
        """Per target set ``i``: ``K_i`` at this rank's points for symmetric tensors ``T``
        (``N × n_local × d × d``, weights included)."""
        raise NotImplementedError

    def _zero(self):
        d = self.dim
        return np.zeros((self.n_local, d, d)), np.zeros((self.n_local, d))


class MomentSums(PairSummation):
    """A quadratic weight: the sums as moments of the sources (``O(N)``)."""

    def sums(self, target_vectors, coeff, vectors, coupling, kappa=None):
        n = self.n_sets
        mom = np.array([local_moments(self.points[j], coeff[j], vectors[j]) for j in range(n)])
        glob = np.empty_like(mom)
        self.comm.Allreduce(mom, glob, op=MPI.SUM)
        return [moment_sums(self.points[i], target_vectors[i], coupling[i] @ glob) for i in range(n)]

    def contractions(self, tensors, coupling, kappa=None):
        n = self.n_sets
        mom = np.array([tensor_moments(self.points[j], tensors[j]) for j in range(n)])
        glob = np.empty_like(mom)
        self.comm.Allreduce(mom, glob, op=MPI.SUM)
        return [tensor_moment_contractions(self.points[i], coupling[i] @ glob) for i in range(n)]


class DirectSums(PairSummation):
    """Every pair of points (the sources gathered from every rank)."""

    def sums(self, target_vectors, coeff, vectors, coupling, kappa=None):
        n, d = self.n_sets, self.dim
        local = np.concatenate([np.column_stack([self.points[j], coeff[j], vectors[j]]) for j in range(n)], axis=1)
        src = self.gather(local)
        src = src.reshape(len(src), n, 2 * d + 1)
        out = []
        for i in range(n):
            js = [j for j in range(n) if coupling[i, j] != 0]
            if not js:       # set i couples to no set
                out.append(self._zero())
                continue
            s = src[:, js, :].transpose(1, 0, 2).reshape(-1, 2 * d + 1)   # set-major sources
            c = (coupling[i, js][:, None] * src[:, js, d].T).ravel()
            self.stats["pairs"] += self.n_local * s.shape[0]
            out.append(pair_sums(self.weight, self.points[i], target_vectors[i], s[:, :d], c, s[:, d + 1:]))
        return out

    def contractions(self, tensors, coupling, kappa=None):
        n, d = self.n_sets, self.dim
        local = np.concatenate([np.column_stack([self.points[j], tensors[j].reshape(-1, d * d)]) for j in range(n)],
                               axis=1)
        src = self.gather(local)
        src = src.reshape(len(src), n, d + d * d)
        out = []
        for i in range(n):
            acc = np.zeros(self.n_local)
            for j in (j for j in range(n) if coupling[i, j] != 0):
                acc += coupling[i, j] * pair_contractions(self.weight, self.points[i], src[:, j, :d],
                                                          src[:, j, d:].reshape(-1, d, d))
                self.stats["pairs"] += self.n_local * len(src)
            out.append(acc)
        return out


class DistinctPositionSums(PairSummation):
    r"""The pairs over distinct positions.  The sources at one position are merged
    (``C = Σ k_p``, ``B = Σ k_p g_p`` over the cells that share it: ``a(y − x_p)`` is the
    same for all of them), and the targets at one position share ``Ĝ``; with ``t̄`` the
    vector of one of them, ``Ĵ_q = Σ_p a(y − x_p)(C_p t̄ − B_p) + Ĝ (t_q − t̄)``: the
    first sum still cancels pair by pair near equilibrium, the correction is the jump of
    ``t`` between the cells at the node.  Coincident pairs are left out as before (every
    point at a position skips every source there).  The points must be snapped
    (coincident up to rounding means equal).

    :arg layout: another :class:`DistinctPositionSums` of the same points, whose distinct
        positions are taken instead of found again (a second summation of one operator)."""

    def __init__(self, points, weight, gather, comm, stats, layout=None):
        super().__init__(points, weight, gather, comm, stats)
        if layout is not None:
            self.source_points, self.source_index = layout.source_points, layout.source_index
            self.target_first, self.target_index = layout.target_first, layout.target_index
            return
        # per set: the distinct positions among all ranks' points (sources; every global
        # point's position) and among this rank's (targets: one point per position, every
        # local point's position)
        self.source_points, self.source_index, self.target_first, self.target_index = [], [], [], []
        for i in range(self.n_sets):
            allp = self.gather(self.points[i])
            if len(allp):
                pts, inv = np.unique(allp, axis=0, return_inverse=True)
            else:
                pts, inv = allp, np.zeros(0, dtype=np.int64)
            self.source_points.append(np.ascontiguousarray(pts))
            self.source_index.append(inv.ravel())
            if len(self.points[i]):
                _, first, tinv = np.unique(self.points[i], axis=0, return_index=True, return_inverse=True)
            else:
                first, tinv = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
            self.target_first.append(first)
            self.target_index.append(tinv.ravel())

    def _split_sums(self, targets, tbar, points, c, b):
        """The pair sums over distinct positions, split form
        (:func:`~generic_fem.kernels.pair_kernels.pair_sums` with ``split=True``)."""
        return pair_sums(self.weight, targets, tbar, points, c, b, split=True)

    def counts(self):
        """``(targets, sources)``: this rank's distinct positions and all ranks' (summed
        over the sets)."""
        return sum(len(f) for f in self.target_first), sum(len(p) for p in self.source_points)

    def _merged(self, j, c, b):
        """Set ``j``'s global per-point coefficients ``c`` (``(N,)``) and vectors ``b``
        (``(N, k)``) summed over coincident points."""
        inv, U = self.source_index[j], len(self.source_points[j])
        cm = np.bincount(inv, weights=c, minlength=U)
        bm = np.stack([np.bincount(inv, weights=b[:, k], minlength=U) for k in range(b.shape[1])], axis=1)
        return cm, bm

    def sums(self, target_vectors, coeff, vectors, coupling, kappa=None):
        n, d = self.n_sets, self.dim
        local = np.concatenate([np.column_stack([coeff[j], coeff[j][:, None] * vectors[j]]) for j in range(n)],
                               axis=1)
        src = self.gather(local)
        src = src.reshape(len(src), n, d + 1)
        merged = {}
        out = []
        for i in range(n):
            js = [j for j in range(n) if coupling[i, j] != 0]
            if not js:
                out.append(self._zero())
                continue
            for j in js:
                if j not in merged:
                    merged[j] = self._merged(j, src[:, j, 0], src[:, j, 1:])
            first, inv = self.target_first[i], self.target_index[i]
            t = np.asarray(target_vectors[i], dtype=float).reshape(-1, d)
            tbar = t[first]
            Gu, Hu = self._set_sums(i, js, merged, coupling, tbar)
            G = Gu[inv]
            H = Hu[inv] + np.einsum("qab,qb->qa", G, t - tbar[inv])
            out.append((G, H))
        return out

    def _set_sums(self, i, js, merged, coupling, tbar):
        """``(Ĝ, Ĵ)`` at set ``i``'s distinct targets (vectors ``tbar``) from the merged
        sources of the sets ``js``, scaled by ``coupling[i, j]``."""
        return self._ordered_sums(i, js, merged, coupling, tbar)

    def _coupled_sources(self, i, js, merged, coupling):
        """``(points, c, b)``: the merged sources of the sets ``js`` seen by set ``i``,
        their coefficients and vectors scaled by ``coupling[i, j]``."""
        pts = np.concatenate([self.source_points[j] for j in js])
        c = np.concatenate([coupling[i, j] * merged[j][0] for j in js])
        b = np.concatenate([coupling[i, j] * merged[j][1] for j in js])
        return pts, c, b

    def _ordered_sums(self, i, js, merged, coupling, tbar):
        """:meth:`_set_sums` by the ordered pairs (every target against every source)."""
        pts, c, b = self._coupled_sources(i, js, merged, coupling)
        first = self.target_first[i]
        self.stats["pairs"] += len(first) * len(c)
        return self._split_sums(self.points[i][first], tbar, pts, c, b)

    def _contract(self, targets, points, tensors):
        """``K_t = Σ_s a(t − s) : T_s`` (:func:`~generic_fem.kernels.pair_kernels.pair_contractions`)."""
        return pair_contractions(self.weight, targets, points, tensors)

    def _set_contractions(self, i, js, targets, points, tensors):
        """``K`` at set ``i``'s distinct ``targets`` from the merged sources of the sets
        ``js`` (``points``, ``tensors`` scaled by ``coupling[i, j]``, concatenated)."""
        return self._contract(targets, points, tensors)

    def contractions(self, tensors, coupling, kappa=None):
        n, d = self.n_sets, self.dim
        src = self.gather(np.concatenate([tensors[j].reshape(-1, d * d) for j in range(n)], axis=1))
        src = src.reshape(len(src), n, d * d)
        merged = {}
        out = []
        for i in range(n):
            first, inv = self.target_first[i], self.target_index[i]
            js = [j for j in range(n) if coupling[i, j] != 0]
            if not js:
                out.append(np.zeros(len(inv)))
                continue
            for j in js:
                if j not in merged:
                    inv_j, U = self.source_index[j], len(self.source_points[j])
                    merged[j] = np.stack([np.bincount(inv_j, weights=src[:, j, k], minlength=U)
                                          for k in range(d * d)], axis=1).reshape(-1, d, d)
            # every coupled set's sources at once (one pass, one tree for the FMM)
            pts = np.concatenate([self.source_points[j] for j in js])
            Tm = np.concatenate([coupling[i, j] * merged[j] for j in js])
            self.stats["pairs"] += len(first) * len(pts)
            out.append(self._set_contractions(i, js, self.points[i][first], pts, Tm)[inv])
        return out


class AxisymmetricSums(DistinctPositionSums):
    """Axisymmetric velocity space: pairs of rings over distinct positions (as
    :class:`DistinctPositionSums`: the nodes shared by neighbouring cells are one ring),
    with the azimuthally averaged tensors ``S, C`` in compiled code
    (:func:`~generic_fem.kernels.axisymmetric.compiled_pair_sums`):
    ``Ĵ_q = Σ_P (C_P S(q, P) t̄ − C(q, P) B_P) + Ĝ_q (t_q − t̄)``.  The weight must be a
    power law ``A = r^{γ+2}``, ``γ ∈ [−3, 1]``."""

    def __init__(self, points, weight, gather, comm, stats):
        gamma = weight.gamma
        if gamma is None or not -3.0 <= float(gamma) <= 1.0:
            raise InvalidParameterError(
                f"axisymmetric two-point operator: the weight {weight.name} has no azimuthal form here "
                "(power laws A = r^(gamma+2) with gamma in [-3, 1])")
        super().__init__(points, weight, gather, comm, stats)
        self.gamma = float(gamma)
        #: per set: the global distinct position of each of this rank's distinct targets
        self.target_global = []
        for i in range(self.n_sets):
            offset = comm.exscan(len(self.points[i])) if comm.size > 1 else 0
            offset = offset or 0
            self.target_global.append(self.source_index[i][offset + self.target_first[i]])

    def _split_sums(self, targets, tbar, points, c, b):
        return compiled_pair_sums(self.gamma, targets, tbar, points, c, b)

    def _self_sums(self, i, c, b):
        """``(Ĝ, E)`` of set ``i`` on itself at every distinct position (global), from the
        unordered pairs (:func:`~generic_fem.kernels.axisymmetric.symmetric_pair_sums`):
        each rank takes every ``size``-th row, and the shares are summed over ranks."""
        U = len(self.source_points[i])
        rows = np.arange(self.comm.rank, U, self.comm.size)
        G, E = symmetric_pair_sums(self.gamma, self.source_points[i], c, b, rows)
        flat = np.column_stack([G[:, 0, 0], G[:, 0, 1], G[:, 1, 1], E])
        if self.comm.size > 1:
            total = np.empty_like(flat)
            self.comm.Allreduce(flat, total)
            flat = total
        G = np.empty((U, 2, 2))
        G[:, 0, 0], G[:, 0, 1], G[:, 1, 0], G[:, 1, 1] = flat[:, 0], flat[:, 1], flat[:, 1], flat[:, 2]
        return G, flat[:, 3:]

    def _set_sums(self, i, js, merged, coupling, tbar):
        """As :meth:`DistinctPositionSums._set_sums`; the set's sums over itself run over
        the unordered pairs of its distinct positions (one evaluation of the azimuthal
        moments serves both orientations: half the work), split among the ranks by
        rows and summed (an ``MPI_Allreduce`` of five numbers per position).
        ``stats["pairs"]`` counts the ordered interactions covered (targets × sources, as
        for the other backends), twice the kernel evaluations of the unordered sums."""
        d = self.dim
        first = self.target_first[i]
        Gu, Hu = np.zeros((len(first), d, d)), np.zeros((len(first), d))
        others = [j for j in js if j != i]
        if others:
            Gu, Hu = self._ordered_sums(i, others, merged, coupling, tbar)
        if i in js:
            Gs, Es = self._self_sums(i, coupling[i, i] * merged[i][0], coupling[i, i] * merged[i][1])
            self.stats["pairs"] += len(first) * len(Gs)
            Gl, El = Gs[self.target_global[i]], Es[self.target_global[i]]
            Gu = Gu + Gl
            Hu = Hu + np.einsum("qab,qb->qa", Gl, tbar) - El
        return Gu, Hu

    def _contract(self, targets, points, tensors):
        """``K_t = Σ_s S(s, t) : T_s`` (:func:`~generic_fem.kernels.axisymmetric.compiled_pair_contractions`)."""
        return compiled_pair_contractions(self.gamma, targets, points, tensors)


class PhaseSpaceSums(PairSummation):
    """Phase-space points ``(x, v)`` (one set) with a spatial weight: the sums over
    ``x_*`` are a convolution with ``κ`` of the sources on the ``(x, v)`` grid.

    :arg positions: this rank's space coordinates of the points.
    :arg reference_points: this rank's reference velocities (``ξ``).
    :arg scale: the set's velocity scale ``σ``.
    :arg spatial: the :class:`~generic_fem.kernels.spatial_weights.PeriodicSpatialWeight`.

    The points must be a tensor product of ``x``-values and ``v``-points (a box mesh);
    the same ``v`` in two ``x``-columns is snapped to one value
    (:attr:`reference_points` afterwards)."""

    def __init__(self, positions, reference_points, scale, weight, spatial, gather, comm, stats):
        self.spatial = spatial
        self.scale = float(scale)
        d = reference_points.shape[1]
        counts = np.array(comm.allgather(len(reference_points)))
        allp = gather(np.column_stack([positions, reference_points]))
        ell = spatial.length
        xkey = np.round(spatial.wrap(allp[:, 0]) / (1e-9 * ell)).astype(np.int64)
        vscale = max(np.abs(allp[:, 1:]).max(), 1e-300)
        vkey = np.round(allp[:, 1:] / (1e-9 * vscale)).astype(np.int64)
        xs_key, ix = np.unique(xkey, return_inverse=True)
        vs_key, iv = np.unique(vkey, axis=0, return_inverse=True)
        ix, iv = ix.ravel(), iv.ravel()
        nx, nv = len(xs_key), len(vs_key)
        pairs = np.unique(ix * nv + iv)
        if len(pairs) != nx * nv:
            raise InvalidParameterError(
                "two-point operator with a spatial weight: the quadrature points must be a tensor product "
                f"of x and v points (a box mesh, e.g. generic_fem.phase_space_box); found {nx} x-values and "
                f"{nv} v-points for {len(allp)} points")
        xs = np.zeros(nx)
        xs[ix] = spatial.wrap(allp[:, 0])
        vs = np.zeros((nv, d))
        vs[iv] = allp[:, 1:]
        start = int(counts[:comm.rank].sum())
        n_local = len(reference_points)
        #: for every (global) point, its index in :attr:`x_values` and in :attr:`v_points`
        self.x_index, self.v_index = ix, iv
        self.ixv = ix * nv + iv        # flat (x, v) index of every point (coincident points share it)
        self.ix_local = ix[start:start + n_local]
        #: the distinct x-values and reference velocities of the points (global)
        self.x_values, self.v_points = xs, vs
        # one velocity per v-point: the same v in two x-columns must be *equal* (their
        # rounding differs by ~1e-16, and a pair at distance 1e-16 is not skipped as
        # coincident but weighted by A(r)/r² ~ 1e32), so the points are snapped to vs
        self.reference_points = np.ascontiguousarray(vs[iv[start:start + n_local]])
        super().__init__([self.scale * self.reference_points], weight, gather, comm, stats)

    def kappa(self):
        """``κ(x_a − x_b)`` between the distinct x-values (its parameters' current values)."""
        return self.spatial.matrix(self.x_values, self.x_values)

    def _on_grid(self, rows):
        """Point rows (``N_global × k``) summed onto the ``(x, v)`` grid (``n_x × n_v × k``):
        a node shared by neighbouring cells is one grid point."""
        nx, nv = len(self.x_values), len(self.v_points)
        return np.stack([np.bincount(self.ixv, weights=rows[:, j], minlength=nx * nv)
                         for j in range(rows.shape[1])], axis=-1).reshape(nx, nv, rows.shape[1])

    def sums(self, target_vectors, coeff, vectors, coupling, kappa=None):
        """``Ĝ(x_a, v_q) = c Σ_p a(v_q − v_p) C̃_ap`` and
        ``Ĵ(x_a, v_q) = c Σ_p a(v_q − v_p)(C̃_ap t_aq − B̃_ap)`` with the convolutions
        ``C̃ = κ * (k)``, ``B̃ = κ * (k g)`` along ``x`` (``k = coeff``)."""
        d = self.dim
        t, k, g, c = target_vectors[0], coeff[0], vectors[0], coupling[0, 0]
        nv = len(self.v_points)
        src = self.gather(np.column_stack([k, k[:, None] * g]))
        Cm = self._on_grid(src[:, :1])[..., 0]      # (coincident points add up)
        Bm = self._on_grid(src[:, 1:])
        K = self.kappa() if kappa is None else kappa
        Ct = c * (K @ Cm)
        Bt = c * np.einsum("ab,bpk->apk", K, Bm)
        vs = self.scale * self.v_points
        G = np.empty((self.n_local, d, d))
        H = np.empty((self.n_local, d))
        for a in np.unique(self.ix_local):
            sel = np.nonzero(self.ix_local == a)[0]
            if self.weight.quadratic:
                Ga, Ha = moment_sums(self.points[0][sel], t[sel], local_moments(vs, Ct[a], Bt[a], split=True))
            else:
                Ga, Ha = pair_sums(self.weight, self.points[0][sel], t[sel], vs, Ct[a], Bt[a], split=True)
                self.stats["pairs"] += len(sel) * nv
            G[sel], H[sel] = Ga, Ha
        return [(G, H)]

    def contractions(self, tensors, coupling, kappa=None):
        d = self.dim
        nv = len(self.v_points)
        src = self.gather(tensors[0].reshape(self.n_local, d * d))
        Tt = coupling[0, 0] * np.einsum("ab,bpk->apk", self.kappa() if kappa is None else kappa, self._on_grid(src))
        vs = self.scale * self.v_points
        out = np.empty(self.n_local)
        for a in np.unique(self.ix_local):
            sel = np.nonzero(self.ix_local == a)[0]
            Ta = Tt[a].reshape(nv, d, d)
            if self.weight.quadratic:
                out[sel] = tensor_moment_contractions(self.points[0][sel], tensor_moments(vs, Ta))
            else:
                out[sel] = pair_contractions(self.weight, self.points[0][sel], vs, Ta)
                self.stats["pairs"] += len(sel) * nv
        return [out]
