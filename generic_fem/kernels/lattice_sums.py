r"""Pair sums on a uniform lattice by fast Fourier convolution (any weight, 2D and 3D).

When the distinct positions of the points lie on a uniform lattice,
``v = o + m ∘ s`` with integer ``m`` (the nodes of a ``Q_k`` mesh of a box with uniform
cells for ``k ≤ 2``, whose Gauss–Lobatto nodes are equispaced), every sum of
:class:`~generic_fem.kernels.pair_summation.PairSummation` is a discrete convolution:

.. math::  Ĝ(m) = \sum_{m'} a((m − m') ∘ s)\, c(m'), \qquad
           (\textstyle\sum_p a\, d_p)(m) = \sum_{m'} a((m − m') ∘ s)\, d(m'),

with ``c``, ``d`` the merged sources scattered on the lattice (zero where there is no
point) and ``a(0) = 0`` (coincident pairs left out, as the direct sums leave them out).
Zero-padded to at least ``2L − 1`` points per axis (``L`` the lattice's extent), the
convolutions are exact cyclic ones, done by real FFTs in ``O(N log N)``: ``d(d+1)/2``
transforms of the kernel per lattice (kept), one of ``c`` and ``d`` of the source
vectors, and ``d(d+1)/2 + d`` inverse transforms per evaluation (13 in 3D); the
contractions ``K = Σ_{ab} a_{ab} * T_{ab}`` take ``d(d+1)/2`` forward and one inverse.
Unlike the fast multipole method this is the direct sum itself, up to the FFT's
round-off, for every weight ``A(r)``: the kernel is only sampled at the lattice's
offsets.

The error of an FFT convolution is round-off relative to the largest terms, not to
the result; near equilibrium ``Ĵ`` is a small difference of large sums, so the source
vectors are taken less their collision-invariant part, as for the fast multipole sums
(:func:`~generic_fem.kernels.fmm_sums.invariant_fit`): ``Σ_p a(x − y_p) c_p(β + γ y_p)
= Ĝ(x)(β + γx)`` as ``a(z) z = 0``, so ``Ĵ = Ĝ(t̄ − β − γx) − Σ_p a d_p`` vanishes on an
invariant exactly and its round-off is relative to the distance from one.

Every rank gathers the sources (as for the direct sums) and does the transforms of the
whole lattice; the transforms use ``cores / ranks`` threads of ``scipy.fft`` on each
node.
"""
import os

import numpy as np
import scipy.fft
from mpi4py import MPI

from ..core.errors import InvalidParameterError
from .fmm_sums import invariant_fit
from .pair_summation import DistinctPositionSums

__all__ = ["LatticeSums", "uniform_lattice"]

#: the largest padded lattice (points) the sums take: 2^27 doubles are 1 GiB per array,
#: and the kernel's transforms and an evaluation's hold about 12 such arrays in 3D (per
#: rank); a box of ``N`` nodes pads to about ``2^d N`` points
MAX_LATTICE = 2 ** 27


def uniform_lattice(points, max_fill=16.0):
    """``(origin, spacing, index)`` with ``points ≈ origin + index ∘ spacing`` (``index``
    integer, ``≥ 0``) to within ``10⁻¹²`` of the points' size (mesh coordinates carry
    rounding of ``~10⁻¹⁶``; the sums then treat the points as on the lattice), or ``None`` when the
    points (rows) are not on a uniform lattice or fill less than ``1/max_fill`` of the
    lattice box ``index.max(0) + 1`` (a graded mesh would make a huge lattice).  An axis
    on which every point has the same coordinate has spacing 1."""
    points = np.asarray(points, dtype=float)
    n, d = points.shape
    if n == 0 or not np.all(np.isfinite(points)):
        return None
    lo, hi = points.min(axis=0), points.max(axis=0)
    tol = 1e-12 * max(float((hi - lo).max()), float(np.abs(points).max()), 1e-300)
    spacing = np.ones(d)
    for a in range(d):
        u = np.unique(points[:, a])
        gaps = np.diff(u)
        apart = gaps > tol
        if not apart.any():
            continue
        s0 = float(gaps[apart].min())
        m = np.rint((u - lo[a]) / s0)
        top = float(m.max())
        if top > 1e8:
            return None
        # the spacing through the extreme positions, then every position checked
        s = float((u[m == top].mean() - lo[a]) / top)
        if np.abs(u - lo[a] - m * s).max() > tol:
            return None
        spacing[a] = s
    index = np.rint((points - lo) / spacing).astype(np.int64)
    if np.abs(lo + index * spacing - points).max() > tol:
        return None
    shape = index.max(axis=0) + 1
    if float(np.prod(shape.astype(float))) > max_fill * n:
        return None
    return lo, spacing, index


def _fft_workers(comm):
    """Threads for ``scipy.fft`` on this rank: the cores this process may use shared by
    the ranks of this node (at least 1).  Collective."""
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    ranks = local.size
    local.Free()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:       # (not Linux)
        cores = os.cpu_count() or 1
    return max(1, cores // ranks)


class _Lattice:
    """One lattice: the grid that the sources of the sets ``js`` and the targets of one
    set lie on, its padded FFT shape, and the transforms of the kernel's components."""

    def __init__(self, weight, origin, spacing, extent, workers):
        self.origin, self.spacing = origin, spacing
        self.extent = extent
        d = len(extent)
        self.dim = d
        self.workers = workers
        # zero padding to 2L − 1 per axis: the cyclic convolution is the linear one
        self.shape = tuple(int(scipy.fft.next_fast_len(int(2 * L - 1), real=True)) for L in extent)
        self.pairs = [(a, b) for a in range(d) for b in range(a, d)]
        self._weight = weight
        self._kernel = None

    @property
    def kernel(self):
        """The transforms of ``a_ab = (A/r²)(r² δ_ab − z_a z_b)`` at the offsets ``m ∘ s``,
        ordered as ``pairs`` (made on first use)."""
        if self._kernel is None:
            axes = []
            for n, L, s in zip(self.shape, self.extent, self.spacing):
                k = np.arange(n)
                off = np.where(k < L, k, k - n).astype(float)     # index k stands for k or k − n
                off[(k >= L) & (k <= n - L)] = np.nan             # offsets no pair has
                axes.append(off * s)
            z = np.meshgrid(*axes, indexing="ij")
            r2 = sum(c * c for c in z)
            keep = np.isfinite(r2) & (r2 > 0)                     # a(0) = 0: coincident pairs left out
            scale = np.zeros(self.shape)
            scale[keep] = self._weight.values(np.sqrt(r2[keep])) / r2[keep]      # A(r)/r²
            r2[~keep] = 0.0
            for c in z:
                c[~keep] = 0.0
            self._kernel = []
            for a, b in self.pairs:
                comp = -scale * z[a] * z[b]
                if a == b:
                    comp += scale * r2
                self._kernel.append(scipy.fft.rfftn(comp, s=self.shape, workers=self.workers))
        return self._kernel

    def index(self, points):
        """The flat index in the padded grid of positions on the lattice."""
        m = np.rint((points - self.origin) / self.spacing).astype(np.int64)
        return np.ravel_multi_index(tuple(m.T), self.shape)

    def forward(self, flat_index, values):
        """The transform of ``values`` (``(N,)``) placed at ``flat_index`` (summed where
        several fall on one point)."""
        grid = np.bincount(flat_index, weights=values, minlength=int(np.prod(self.shape)))
        return scipy.fft.rfftn(grid.reshape(self.shape), s=self.shape, workers=self.workers)

    def inverse(self, spectrum, flat_index):
        """The convolution whose transform is ``spectrum``, at ``flat_index``."""
        return scipy.fft.irfftn(spectrum, s=self.shape, workers=self.workers).ravel()[flat_index]

    def component(self, a, b):
        """The transform of ``a_ab``."""
        return self.kernel[self.pairs.index((min(a, b), max(a, b)))]


class LatticeSums(DistinctPositionSums):
    """The pair sums over distinct positions (:class:`~generic_fem.kernels.pair_summation.DistinctPositionSums`)
    by FFT convolution on a uniform lattice (module docstring), for any weight ``A(r)``
    in 2D and 3D.  A target set and the source sets it couples to lie on one lattice
    (:meth:`applies`), or their sums are taken over the pairs of distinct positions (a
    coupling pattern of a derivative whose sets do not); the lattices and kernel
    transforms are made on first use, one per set of point sets."""

    def __init__(self, points, weight, gather, comm, stats, layout=None):
        super().__init__(points, weight, gather, comm, stats, layout)
        self.workers = _fft_workers(comm)
        self._lattices, self._why = {}, {}

    #: a lattice is taken when the points fill at least ``1/max_fill`` of its box
    max_fill = 16.0

    def _lattice(self, i, js):
        """The lattice of set ``i``'s targets and the sources of the sets ``js`` (``None``
        when there is none; :meth:`why_not` says why)."""
        key = tuple(sorted(set(js) | {i}))       # (the lattice of these sets' points)
        if key not in self._lattices:
            pts = np.concatenate([self.source_points[j] for j in key])
            found = uniform_lattice(pts, max_fill=np.inf)
            lat, why = None, None
            if found is None:
                why = f"the points of the sets {list(key)} do not lie on one uniform lattice"
            else:
                origin, spacing, index = found
                extent = index.max(axis=0) + 1
                fill = len(pts) / float(np.prod(extent.astype(float)))
                lat = _Lattice(self.weight, origin, spacing, extent, self.workers)
                if fill < 1.0 / self.max_fill:
                    why = (f"the points of the sets {list(key)} fill {fill:.2g} of their common lattice "
                           f"{tuple(int(e) for e in extent)} (spacing {np.array2string(spacing, precision=3)}), "
                           f"below 1/{self.max_fill:g}")
                elif float(np.prod([float(n) for n in lat.shape])) > MAX_LATTICE:
                    why = f"the padded lattice {lat.shape} has more than {MAX_LATTICE} points (memory)"
                if why is not None:
                    lat = None
            self._lattices[key] = lat
            self._why[key] = why
        return self._lattices[key]

    def why_not(self, coupling):
        """Why the lattice sums do not apply to ``coupling``'s pattern (``None`` when they do)."""
        for i in range(self.n_sets):
            js = [j for j in range(self.n_sets) if coupling[i, j] != 0]
            if js and self._lattice(i, js) is None:
                return self._why[tuple(sorted(set(js) | {i}))]
        return None

    def lattice_shape(self, coupling):
        """The padded lattices' shapes of the target sets (``None`` for a set whose points
        and coupled sources are on no common uniform lattice, or on one too sparse or too
        large, :func:`uniform_lattice`, :data:`MAX_LATTICE`).  The lattices are found from the
        gathered positions: alike on every rank."""
        out = []
        for i in range(self.n_sets):
            js = [j for j in range(self.n_sets) if coupling[i, j] != 0]
            lat = self._lattice(i, js) if js else None
            out.append(None if lat is None else lat.shape)
        return out

    def applies(self, coupling):
        """Whether every target set and its coupled sources lie on one uniform lattice."""
        return all(s is not None for i, s in enumerate(self.lattice_shape(coupling))
                   if any(coupling[i, j] != 0 for j in range(self.n_sets)))

    def _set_sums(self, i, js, merged, coupling, tbar):
        lat = self._lattice(i, js)
        if lat is None:      # (a coupling pattern without a common lattice: a derivative's)
            return self._ordered_sums(i, js, merged, coupling, tbar)
        pts, c, b = self._coupled_sources(i, js, merged, coupling)
        first = self.target_first[i]
        x = self.points[i][first]
        self.stats["pairs"] += len(first) * len(c)
        d = self.dim
        if len(x) == 0 or len(c) == 0:
            return np.zeros((len(x), d, d)), np.zeros((len(x), d))
        beta, gamma = invariant_fit(pts, c, b)
        dv = b - c[:, None] * (beta[None, :] + gamma * pts)
        src, tgt = lat.index(pts), lat.index(x)
        C = lat.forward(src, c)
        D = [lat.forward(src, dv[:, k]) for k in range(d)]
        G = np.empty((len(x), d, d))
        for k, (a, bb) in enumerate(lat.pairs):
            G[:, a, bb] = G[:, bb, a] = lat.inverse(lat.kernel[k] * C, tgt)
        ad = np.stack([lat.inverse(sum(lat.component(a, bb) * D[bb] for bb in range(d)), tgt)
                       for a in range(d)], axis=1)
        return G, np.einsum("qab,qb->qa", G, tbar - beta[None, :] - gamma * x) - ad

    def _set_contractions(self, i, js, targets, points, tensors):
        lat = self._lattice(i, js)
        if lat is None or len(targets) == 0 or len(points) == 0:
            return self._contract(targets, points, tensors)       # (the pairs)
        flat = lat.index(points)       # (positions shared by two sets add up in the transform)
        spectrum = 0.0
        for k, (a, b) in enumerate(lat.pairs):
            comp = tensors[:, a, b] * (1.0 if a == b else 2.0)     # (T symmetric: a_ab T_ab + a_ba T_ba)
            spectrum = spectrum + lat.kernel[k] * lat.forward(flat, comp)
        return lat.inverse(spectrum, lat.index(targets))
