r"""Fast-multipole pair sums for the 3D Coulomb kernel (``γ = −3``).

For ``A(r) = r^{−1}`` the kernel of the two-point operator is

.. math::  a(z) = \frac{|z|² I − z ⊗ z}{|z|³} = ∇∇|z|, \qquad z = x − y,

and with ``z_i z_j/|z|³ = −(x_j − y_j) ∂_i |z|^{−1}`` every sum of
:class:`~generic_fem.kernels.pair_summation.PairSummation` is a combination of Laplace
potentials ``P[q] = Σ_p q_p/|x − y_p|`` and their gradients at the targets ``x``:

* ``Ĝ_{im} = Σ_p c_p a_{im} = δ_{im} P[c] + x_m ∂_i P[c] − ∂_i P[c y_m]``;
* ``(Σ_p a b_p)_i = P[b_i] + x_j ∂_i P[b_j] − ∂_i P[y·b]`` (then ``Ĵ = Ĝ t̄ − Σ_p a b_p``);
* ``K = Σ_p a : T_p = Σ_i P[T_{ii}] + x_j ∂_i P[T_{ij}] − ∂_i P[(T y)_i]`` (the adjoint).

That is eight charge densities (one call) for the sums and nine for the contractions.
(The Stokeslet form ``a = 2I/|z| − S(z)`` needs a Stokes FMM besides, which FMM3D
evaluates with four Laplace densities per force: measured 9 times slower.)
``fmm3dpy`` (the Flatiron FMM3D library) evaluates them in ``O(N)`` to a prescribed
relative precision (one thread: the environment sets ``OMP_NUM_THREADS=1``); its kernel
is ``1/(4π|z|)`` from version 2 on (``1/|z|`` before: the scale is measured once).  Pairs
of coincident points (``z = 0``, a
node shared by cells: one position after
:meth:`~generic_fem.friction.point_sets.PointSets.snap_coincident`) are left out, as the
direct sums leave them out: FMM3D skips sources within ``2^{−51}`` of the root box's side
of a target (distinct nodes closer than that, ``4·10⁻¹⁶`` of the mesh, would be skipped
too).  Unlike the
direct sums, which add ``a(z)(c_p t̄_q − b_p)`` pair by pair (each term vanishing at
equilibrium), these are differences of larger sums: the error is the tolerance relative
to ``|x| |∇P|``, not to the result.  So the sums of the source vectors ``b_p`` are taken
less their part along the collision invariants, ``b_p = c_p(β + γ y_p) + d_p``
(:func:`invariant_fit`): ``Σ_p a(x − y_p) c_p (β + γ y_p) = Ĝ(x)(β + γ x)`` exactly
(``a(z) z = 0``), so ``Ĵ = Ĝ(t̄ − β − γx) − Σ_p a d_p`` vanishes for an invariant whatever
the FMM's error (the approximate operator keeps ``M ψ = 0``), and near equilibrium its
error is the tolerance relative to the distance from one: without it, ``⟨ψ, M ψ⟩`` for
``ψ = |v|²/2`` was −1.7e-8 at tolerance 1e-6 (4913 points), where the dissipation of a
run near equilibrium is 2e-5 (``benchmarks/fmm_accuracy.py``).
"""
import numpy as np

from ..core.errors import InvalidParameterError
from .pair_summation import DistinctPositionSums

__all__ = ["FMMSums", "fmm_available"]


def invariant_fit(points, c, b):
    """``(β, γ)`` minimising ``Σ_p |b_p − c_p(β + γ y_p)|² / c_p`` (``c_p > 0``): the part of the
    source vectors ``b_p`` along the gradients ``β + γ v`` of the collision invariants
    (momentum, energy), in any dimension.  ``(0, 0)`` where the system is singular (no or
    degenerate sources)."""
    c = np.asarray(c, dtype=float)
    d = points.shape[1]
    if len(c) == 0 or not np.all(c > 0):
        return np.zeros(d), 0.0
    A = np.zeros((d + 1, d + 1))
    A[:d, :d] = np.eye(d) * c.sum()
    cy = c @ points
    A[:d, d] = A[d, :d] = cy
    A[d, d] = float(c @ np.einsum("pa,pa->p", points, points))
    rhs = np.concatenate([b.sum(axis=0), [float(np.einsum("pa,pa->", points, b))]])
    try:
        sol = np.linalg.solve(A, rhs)
    except np.linalg.LinAlgError:
        return np.zeros(d), 0.0
    if not np.all(np.isfinite(sol)):
        return np.zeros(d), 0.0
    return sol[:d], float(sol[d])


def fmm_available():
    """Whether ``fmm3dpy`` imports."""
    try:
        import fmm3dpy  # noqa: F401
    except ImportError:
        return False
    return True


def _fmm3d():
    try:
        import fmm3dpy
    except ImportError:
        raise InvalidParameterError(
            "summation='fmm' needs the fmm3dpy package (pip install fmm3dpy; the README's set-up "
            "installs it)") from None
    return fmm3dpy


class FMMSums(DistinctPositionSums):
    """The pair sums over distinct positions (:class:`~generic_fem.kernels.pair_summation.DistinctPositionSums`)
    by the fast multipole method, for the 3D Coulomb weight ``A = r^{−1}`` (module docstring).

    :arg tolerance: FMM3D's requested relative precision.
    :arg layout: a :class:`~generic_fem.kernels.pair_summation.DistinctPositionSums` of the
        same points whose distinct positions are taken.

    Every rank evaluates the potentials of all sources (gathered, as for the direct
    sums) at its own distinct targets: the tree of the sources is built on every rank."""

    def __init__(self, points, weight, gather, comm, stats, tolerance=1e-10, layout=None):
        if weight.exponent != -1.0 or points[0].shape[1] != 3:
            raise InvalidParameterError(
                f"summation='fmm': the fast multipole sums are for the 3D Coulomb kernel A(r) = 1/r "
                f"(gamma = -3, PairWeight.power(-3), in three velocity dimensions), got A(r) = {weight.name} "
                f"in {points[0].shape[1]}D")
        if not (np.isfinite(tolerance) and 0 < tolerance < 1):
            raise InvalidParameterError(f"summation='fmm': the tolerance must lie in (0, 1), got {tolerance}")
        self.fmm = _fmm3d()
        super().__init__(points, weight, gather, comm, stats, layout)
        self.tolerance = float(tolerance)
        # the library's kernel: 1/(4π r) (FMM3D ≥ 2) or 1/r (older): one unit charge at
        # distance 1 (summed directly: one source)
        probe = self.fmm.lfmm3d(eps=1e-6, sources=np.zeros((3, 1)), charges=np.ones(1),
                                targets=np.array([[1.0], [0.0], [0.0]]), pgt=1)
        self.scale = 1.0 / float(np.asarray(probe.pottarg).ravel()[0])

    def _potentials(self, sources, targets, charges):
        """``(P, ∇P)`` of the rows of ``charges`` (``(k, N)``) at ``targets`` (``(n, 3)``):
        ``(k, n)`` and ``(k, 3, n)``, ``P[q](x) = Σ_p q_p/|x − y_p|``."""
        k = len(charges)
        # (fmm3dpy takes one density without its leading axis)
        lap = self.fmm.lfmm3d(eps=self.tolerance, sources=np.ascontiguousarray(sources.T),
                              targets=np.ascontiguousarray(targets.T), pgt=2, nd=k,
                              charges=np.ascontiguousarray(charges[0] if k == 1 else charges))
        if getattr(lap, "ier", 0):
            raise RuntimeError(f"fmm3dpy.lfmm3d failed (ier = {lap.ier})")
        pot = self.scale * np.asarray(lap.pottarg).reshape(k, -1)
        grad = self.scale * np.asarray(lap.gradtarg).reshape(k, 3, -1)
        return pot, grad

    def _set_sums(self, i, js, merged, coupling, tbar):
        pts, c, b = self._coupled_sources(i, js, merged, coupling)
        first = self.target_first[i]
        x = self.points[i][first]
        self.stats["pairs"] += len(first) * len(c)
        if len(x) == 0 or len(c) == 0:
            return np.zeros((len(x), 3, 3)), np.zeros((len(x), 3))
        # the sources' vectors less their collision-invariant part c_p (β + γ y_p), fitted
        # (module docstring): Σ_p a c_p (β + γ y_p) = Ĝ (β + γ x) since a(z) z = 0
        beta, gamma = invariant_fit(pts, c, b)
        d = b - c[:, None] * (beta[None, :] + gamma * pts)
        charges = np.vstack([c, c * pts.T, d.T, np.einsum("pa,pa->p", pts, d)])
        P, dP = self._potentials(pts, x, charges)
        # Ĝ_{qim} = δ_im P[c] + x_m ∂_i P[c] − ∂_i P[c y_m]
        G = np.einsum("qm,iq->qim", x, dP[0]) - np.transpose(dP[1:4], (2, 1, 0))
        G[:, [0, 1, 2], [0, 1, 2]] += P[0][:, None]
        G = 0.5 * (G + np.swapaxes(G, 1, 2))                # (symmetric up to the tolerance)
        # (Σ_p a d_p)_i = P[d_i] + x_j ∂_i P[d_j] − ∂_i P[y·d]
        ad = P[4:7].T + np.einsum("qj,jiq->qi", x, dP[4:7]) - dP[7].T
        # Ĵ = Ĝ t̄ − Σ a b = Ĝ (t̄ − β − γ x) − Σ a d: zero for an invariant whatever the
        # FMM's error, and that error proportional to the distance from one
        return G, np.einsum("qab,qb->qa", G, tbar - beta[None, :] - gamma * x) - ad

    def _contract(self, targets, points, tensors):
        if len(targets) == 0 or len(points) == 0:
            return np.zeros(len(targets))
        tensors = 0.5 * (tensors + np.swapaxes(tensors, 1, 2))    # (the identity needs T symmetric)
        ij = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]
        Ty = np.einsum("pij,pj->ip", tensors, points)
        charges = np.vstack([np.stack([tensors[:, a, b] for a, b in ij]), Ty])
        P, dP = self._potentials(points, targets, charges)
        x = targets
        K = P[0] + P[1] + P[2] - (dP[6, 0] + dP[7, 1] + dP[8, 2])
        for k, (a, b) in enumerate(ij):          # x_j ∂_i P[T_ij], both (a, b) and (b, a)
            K += x[:, b] * dP[k, a] + (x[:, a] * dP[k, b] if a != b else 0.0)
        return K
