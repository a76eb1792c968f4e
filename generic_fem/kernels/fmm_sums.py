r"""Fast-multipole pair sums for the 3D Coulomb kernel (``γ = −3``).

For ``A(r) = r^{−1}`` the kernel of the two-point operator is

.. math::

   a(z) = \frac{|z|² I − z ⊗ z}{|z|³} = ∇∇|z| = \frac{2I}{|z|} − S(z), \qquad
   S(z) = \frac{I}{|z|} + \frac{z ⊗ z}{|z|³}

(``S`` the Stokeslet), so every sum of :class:`~generic_fem.kernels.pair_summation.PairSummation`
is a few Laplace and Stokes potentials of the sources:

* ``Ĝ_q = Σ_p c_p a(z_qp) = 2 I φ_q − [u^{(1)} u^{(2)} u^{(3)}]_q``, ``φ`` the Laplace potential
  of the charges ``c`` and ``u^{(m)}`` the Stokes velocity of the forces ``c e_m``;
* ``Σ_p a(z_qp) b_p = 2 Φ_q − U_q``: the Laplace potentials of the three components of
  ``b`` and the Stokes velocity of the forces ``b`` (then ``Ĵ_q = Ĝ_q t̄_q − Σ_p a b_p``);
* ``K_q = Σ_p a(z_qp) : T_p = 2 Σ_p \operatorname{tr} T_p/|z_qp| − \operatorname{tr} Σ_p S(z_qp) T_p``:
  one Laplace density and three Stokes forces (the columns of ``T``).

``fmm3dpy`` (Greengard et al., the Flatiron FMM3D library) evaluates them in ``O(N)`` to a
prescribed relative precision; its kernels are ``1/(4π|z|)`` and ``S/(8π)``.  Pairs of
coincident points (``z = 0``, a node shared by cells: one position after
:meth:`~generic_fem.friction.point_sets.PointSets.snap_coincident`) are left out, as the
direct sums leave them out: FMM3D skips every source closer to a target than ``2^{−51}``
of its box.  Unlike the direct sums (which sum ``a(z)(c_p t̄_q − b_p)`` pair by pair, each
term vanishing at equilibrium), ``Ĵ`` is a difference of two sums: its error is the
tolerance relative to ``|Ĝ t̄|``, not to ``|Ĵ|``.
"""
import numpy as np

from ..core.errors import InvalidParameterError
from .pair_summation import DistinctPositionSums

__all__ = ["FMMSums", "fmm_available"]


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

    Every rank evaluates the potentials of all sources (gathered, as for the direct
    sums) at its own distinct targets: the tree of the sources is built on every rank."""

    def __init__(self, points, weight, gather, comm, stats, tolerance=1e-10):
        if weight.exponent != -1.0 or points[0].shape[1] != 3:
            raise InvalidParameterError(
                f"summation='fmm': the fast multipole sums are for the 3D Coulomb kernel A(r) = 1/r "
                f"(gamma = -3 in three velocity dimensions), got A(r) = {weight.name} in "
                f"{points[0].shape[1]}D")
        if not (np.isfinite(tolerance) and 0 < tolerance < 1):
            raise InvalidParameterError(f"summation='fmm': the tolerance must lie in (0, 1), got {tolerance}")
        self.fmm = _fmm3d()
        super().__init__(points, weight, gather, comm, stats)
        self.tolerance = float(tolerance)

    def _potentials(self, sources, targets, charges, forces):
        """Laplace potentials ``Σ_p q_p/|z|`` of the rows of ``charges`` (``(k, N)``) and
        Stokes velocities ``Σ_p S(z) F_p`` of the force fields ``forces`` (``(l, 3, N)``)
        at ``targets`` (``(n, 3)``): ``(k, n)`` and ``(l, 3, n)``."""
        src = np.ascontiguousarray(sources.T)
        trg = np.ascontiguousarray(targets.T)
        k, l = len(charges), len(forces)
        # (fmm3dpy takes one density without its leading axis)
        lap = self.fmm.lfmm3d(eps=self.tolerance, sources=src, targets=trg, pgt=1, nd=k,
                              charges=np.ascontiguousarray(charges[0] if k == 1 else charges))
        sto = self.fmm.stfmm3d(eps=self.tolerance, sources=src, targets=trg, ifppregtarg=1, nd=l,
                               stoklet=np.ascontiguousarray(forces[0] if l == 1 else forces))
        phi = 4 * np.pi * np.asarray(lap.pottarg).reshape(k, -1)
        u = 8 * np.pi * np.asarray(sto.pottarg).reshape(l, 3, -1)
        return phi, u

    def _set_sums(self, i, js, merged, coupling, tbar):
        pts = np.concatenate([self.source_points[j] for j in js])
        c = np.concatenate([coupling[i, j] * merged[j][0] for j in js])
        b = np.concatenate([coupling[i, j] * merged[j][1] for j in js])
        first = self.target_first[i]
        targets = self.points[i][first]
        self.stats["pairs"] += len(first) * len(c)
        if len(targets) == 0 or len(c) == 0:
            return np.zeros((len(targets), 3, 3)), np.zeros((len(targets), 3))
        charges = np.vstack([c, b.T])                       # φ, Φ_x, Φ_y, Φ_z
        forces = np.zeros((4, 3, len(c)))
        for m in range(3):
            forces[m, m] = c                                # c e_m
        forces[3] = b.T                                     # b
        phi, u = self._potentials(pts, targets, charges, forces)
        G = -np.transpose(u[:3], (2, 1, 0))                 # G[q, a, m] = −u^{(m)}_a(q)
        G[:, [0, 1, 2], [0, 1, 2]] += 2 * phi[0][:, None]
        G = 0.5 * (G + np.swapaxes(G, 1, 2))                # (symmetric up to the tolerance)
        ab = 2 * phi[1:].T - u[3].T                         # Σ_p a(z) b_p
        return G, np.einsum("qab,qb->qa", G, tbar) - ab

    def _contract(self, targets, points, tensors):
        if len(targets) == 0 or len(points) == 0:
            return np.zeros(len(targets))
        tr = np.trace(tensors, axis1=1, axis2=2)
        forces = np.ascontiguousarray(np.transpose(tensors, (2, 1, 0)))     # force m: column m of T
        phi, u = self._potentials(points, targets, tr[None, :], forces)
        return 2 * phi[0] - (u[0, 0] + u[1, 1] + u[2, 2])
