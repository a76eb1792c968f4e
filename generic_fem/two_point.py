r"""Two-point (nonlocal) friction operators with a projected power-law kernel.

The operator (ARCHITECTURE.md "Two-point operators"; MODELS.md §2 weak form)

.. math::

   ⟨φ, M(f) g⟩ = ½ ∑_q ∑_p ω_q ω_p\, m_q m_p\, (∇φ_q − ∇φ_p) · a(v_q − v_p)\, (∇g_q − ∇g_p),
   \qquad a(z) = C |z|^{γ+2} Π(z),

with ``m = m(f)`` a pointwise mobility (``f`` for Landau, ``f(1 − εf)`` for
Fermi–Dirac) and ``(v_q, ω_q)`` the points and weights of the model's one quadrature
rule, is evaluated as the *local* form (swap symmetry of the double sum)

.. math::

   ⟨φ, M(f) g⟩ = ∫ ∇φ · m\, (\hat G ∇g − \hat h)\,dx, \qquad
   \hat G_q = ∑_p ω_p m_p a(v_q − v_p), \quad \hat h_q = ∑_p ω_p m_p a(v_q − v_p) ∇g_p,

where ``Ĝ`` and ``Ĵ = Ĝ∇g − ĥ = Σ_p ω_p m_p a(v_q − v_p)(∇g_q − ∇g_p)`` (summed pair by
pair, see :meth:`TwoPointFriction.form`) are Quadrature-space Functions refreshed by
:meth:`TwoPointFriction.update`
(called by the steppers before each residual and Jacobian evaluation).  Because the
form is integrated with exactly the points of the sums, the discrete operator is
symmetric positive semidefinite and ``M(f)φ = 0`` for ``φ ∈ {1, v, |v|²}`` up to round-off
(``a(z) z = 0`` and ``∇|v|²_q − ∇|v|²_p = 2(v_q − v_p)``): mass, momentum and energy are
conserved as exactly as the nonlinear residual.  The self-pair ``p = q`` cancels in
``Ĝ_q∇g_q − ĥ_q`` and is skipped (no singularity for ``γ ≤ −2``).

Jacobians: the UFL derivative of the local form with ``Ĝ, ĝ, Ĵ`` frozen (Picard in the
nonlocal part, Newton in the local factor ``m(f)``).

Parallel: each rank gathers ``(v_p, C ω_p m_p, ∇g_p)`` of all owned points
(``MPI_Allgatherv``, ``O(N_q)`` memory) and computes ``Ĝ, Ĵ`` at its own points, so
the ``O(N_q²)`` work divides by the rank count.  For ``γ = 0`` the sums reduce exactly
to moments (:func:`~generic_fem.pair_kernels.moment_sums`, ``O(N_q)``, one
``MPI_Allreduce``).
"""
import numpy as np
import ufl
import ufl.algorithms
import firedrake as fd
from mpi4py import MPI

from .errors import InvalidParameterError
from .pair_kernels import pair_sums, moment_sums, local_moments
from .quadrature import quadrature_space

__all__ = ["TwoPointFriction"]


class _Entry:
    """Coefficients ``Ĝ, Ĵ`` of one ``(m, g)`` pair and the interpolations that feed them."""

    def __init__(self, owner, m, g):
        self.G = fd.Function(owner.Qt, name="G_hat")
        self.J = fd.Function(owner.Qv, name="J_hat")
        self.mq = fd.Function(owner.Q)
        self.gq = fd.Function(owner.Qv)
        self.interpolate_m = _interpolation(fd.interpolate(m, owner.Q), self.mq)
        self.interpolate_g = _interpolation(fd.interpolate(ufl.grad(g), owner.Qv), self.gq)
        self.last_input = None
        self.coeff = None   # C ω m of the last evaluation
        self.linearization = None


class _Linearization:
    """Directional derivatives ``δĜ, δĝ, δĴ`` of one entry's coefficients."""

    def __init__(self, owner, dm, dg):
        self.dG = fd.Function(owner.Qt, name="dG_hat")
        self.dgq = fd.Function(owner.Qv, name="dg_hat")
        self.dJ = fd.Function(owner.Qv, name="dJ_hat")
        self.dmq = fd.Function(owner.Q)
        self.interpolate_dm = _interpolation(fd.interpolate(dm, owner.Q), self.dmq)
        self.interpolate_dg = _interpolation(fd.interpolate(ufl.grad(dg), owner.Qv), self.dgq)


def _interpolation(expr, tensor):
    """A callable that re-evaluates the interpolation ``expr`` into ``tensor``.

    Firedrake's interpolator callable is built once and reused (``assemble`` would
    rebuild it on every call, several ms each); falls back to ``assemble``."""
    try:
        from firedrake.interpolation import get_interpolator
        return get_interpolator(expr)._get_callable(tensor=tensor)
    except Exception:  # another Firedrake version: the public (slower) path
        return lambda: fd.assemble(expr, tensor=tensor)


class TwoPointFriction:
    """The two-point operator above on one mesh and quadrature rule.

    :arg mesh: velocity mesh (``d = 2`` or ``3``).
    :arg quadrature_degree: the degree of the model's quadrature rule (``scheme="default"``).
    :arg gamma: kernel exponent ``γ`` (``a(z) = C|z|^{γ+2}Π(z)``).
    :arg C: kernel constant ``C_γ > 0``.
    :arg dx: the model's measure (must be the rule of ``quadrature_degree``).
    """

    def __init__(self, mesh, quadrature_degree, gamma, C, dx):
        dim = mesh.geometric_dimension() if callable(mesh.geometric_dimension) else mesh.geometric_dimension
        if dim not in (2, 3):
            raise InvalidParameterError(f"two-point operator: velocity dimension must be 2 or 3, got {dim}")
        self.mesh, self.dim = mesh, dim
        self.gamma, self.C = float(gamma), float(C)
        self.dx = dx
        self.Q = quadrature_space(mesh, quadrature_degree)
        self.Qv = quadrature_space(mesh, quadrature_degree, (dim,))
        self.Qt = quadrature_space(mesh, quadrature_degree, (dim, dim))
        X = fd.Function(self.Qv).interpolate(ufl.SpatialCoordinate(mesh))
        self.points = np.array(X.dat.data_ro)               # owned points of this rank
        w = fd.assemble(fd.TestFunction(self.Q) * dx)
        self.weights = np.array(w.dat.data_ro)
        comm = mesh.comm
        self.comm = comm
        self.counts = np.array(comm.allgather(len(self.weights)))
        self.n_global = int(self.counts.sum())
        self._entries = {}
        #: pair interactions evaluated by this rank; operator evaluations done / skipped;
        #: linearised evaluations (exact Jacobian actions, two pair-sum passes each)
        self.stats = {"pairs": 0, "evaluations": 0, "skipped": 0, "linearized": 0}

    # ---------------------------------------------------------------------------
    def _entry(self, m, g):
        key = (m, g)
        e = self._entries.get(key)
        if e is None:
            if isinstance(g, ufl.Argument) or ufl.algorithms.extract_arguments(g):
                raise InvalidParameterError(
                    "a two-point (nonlocal) friction operator can not be assembled as a sparse "
                    "matrix: use its action (apply_friction) or checks.friction_matrix_dense")
            e = _Entry(self, m, g)
            self._entries[key] = e
        return e

    def form(self, m, g, phi):
        """``⟨φ, M g⟩ = ∫ ∇φ · m (Ĝ (∇g − ĝ) + Ĵ)`` with the coefficients of ``(m, g)``:
        ``ĝ`` is ``∇g`` at the points at the last update, ``Ĵ = Ĝĝ − ĥ`` summed pairwise,
        so the value is ``∫ ∇φ · m (Ĝ∇g − ĥ)`` without cancellation error and the UFL
        derivative in ``g`` is the frozen-coefficient (Picard) Jacobian."""
        e = self._entry(m, g)
        return ufl.inner(ufl.grad(phi), m * (ufl.dot(e.G, ufl.grad(g) - e.gq) + e.J)) * self.dx

    def update(self, m, g):
        """Recompute ``Ĝ, Ĵ`` for the current values of ``m`` and ``g`` (collective).

        Skipped (no pair sums) when ``m`` and ``∇g`` at the points are unchanged since
        the last update of this pair, e.g. the Jacobian right after a residual."""
        e = self._entry(m, g)
        e.interpolate_m()
        e.interpolate_g()
        mloc = np.asarray(e.mq.dat.data_ro)
        gloc = np.asarray(e.gq.dat.data_ro).reshape(-1, self.dim)
        same = e.last_input is not None and np.array_equal(e.last_input[0], mloc) \
            and np.array_equal(e.last_input[1], gloc)
        if self.comm.allreduce(same, op=MPI.LAND):
            self.stats["skipped"] += 1
            return
        e.last_input = (mloc.copy(), gloc.copy())
        coeff = self.C * self.weights * mloc
        e.coeff = coeff
        G, H = self._sums(gloc, coeff, gloc)
        e.G.dat.data_wo[:] = G.reshape(e.G.dat.data_ro.shape)
        e.J.dat.data_wo[:] = H.reshape(e.J.dat.data_ro.shape)
        self.stats["evaluations"] += 1

    def _sums(self, target_vectors, coeff, vectors):
        """``(Σ_p c_p a_qp, Σ_p c_p a_qp (t_q − g_p))`` at this rank's points (collective)."""
        if self.gamma == 0.0:
            mom = local_moments(self.points, coeff, vectors)
            glob = np.empty_like(mom)
            self.comm.Allreduce(mom, glob, op=MPI.SUM)
            return moment_sums(self.points, target_vectors, glob)
        d = self.dim
        src = self.gather(np.column_stack([self.points, coeff, vectors]))
        self.stats["pairs"] += len(self.weights) * self.n_global
        return pair_sums(self.gamma, self.points, target_vectors, src[:, :d], src[:, d], src[:, d + 1:])

    def linearization(self, m, g, dm, dg):
        """Register the directional derivatives of the coefficients of ``(m, g)`` in the
        directions ``dm, dg`` (UFL expressions linear in one direction Function) and
        return the Functions ``(δĜ, δĝ, δĴ)`` that :meth:`update_linearization` fills:

        ``δĜ_q = Σ_p δc_p a_qp``, ``δĝ = ∇dg`` at the points,
        ``δĴ_q = Σ_p δc_p a_qp (ĝ_q − ĝ_p) + Σ_p c_p a_qp (δĝ_q − δĝ_p)``,
        ``c_p = C ω_p m_p``, ``δc_p = C ω_p dm_p``.  With these, the derivative of the
        form in the coefficients plus the frozen-coefficient Jacobian is the exact
        Jacobian action (Newton instead of Picard)."""
        e = self._entry(m, g)
        L = e.linearization = _Linearization(self, dm, dg)
        return [(e.G, L.dG), (e.gq, L.dgq), (e.J, L.dJ)]

    def update_linearization(self, m, g):
        """Fill ``δĜ, δĝ, δĴ`` for the current direction, at the state of the last
        :meth:`update` of ``(m, g)`` (two pair-sum passes; collective)."""
        e = self._entry(m, g)
        L = e.linearization
        L.interpolate_dm()
        L.interpolate_dg()
        ghat = e.last_input[1]
        dgloc = np.asarray(L.dgq.dat.data_ro).reshape(-1, self.dim)
        dcoeff = self.C * self.weights * np.asarray(L.dmq.dat.data_ro)
        dG, JA = self._sums(ghat, dcoeff, ghat)
        _, JB = self._sums(dgloc, e.coeff, dgloc)
        L.dG.dat.data_wo[:] = dG.reshape(L.dG.dat.data_ro.shape)
        L.dJ.dat.data_wo[:] = (JA + JB).reshape(L.dJ.dat.data_ro.shape)
        self.stats["linearized"] += 1

    def passes(self):
        """Pair-sum passes so far: one per operator evaluation, two per linearised one
        (``O(N_q²)`` work each; ``O(N_q)`` on the ``γ = 0`` moment path)."""
        return self.stats["evaluations"] + 2 * self.stats["linearized"]

    def dense_matrix(self, m, V, max_points=4000):
        """The matrix ``M_ij = ⟨φ_i, M φ_j⟩`` on ``V`` as a dense array on every rank.

        ``M = Bᵀ K B`` with ``B`` the (gathered) interpolation matrix ``V → ∇ at the
        points`` and ``K`` the two-point matrix with blocks
        ``δ_qp ω_q m_q Ĝ_q − ω_q m_q ω_p m_p a(v_q − v_p)`` (self-pair skipped).  For
        validation on small meshes (``N_q ≤ max_points``)."""
        from .checks import gather_matrix
        if self.n_global > max_points:
            raise ValueError(f"dense two-point matrix: N_q = {self.n_global} > max_points = {max_points}")
        mq = fd.Function(self.Q).interpolate(m)
        d = self.dim
        data = self.gather(np.column_stack([self.points, self.weights * np.asarray(mq.dat.data_ro)]))
        x, c = data[:, :d], data[:, d]
        z = x[:, None, :] - x[None, :, :]
        r2 = np.einsum("qpi,qpi->qp", z, z)
        self_pair = r2 == 0
        r2s = np.where(self_pair, 1.0, r2)
        s = self.C * r2s ** (0.5 * self.gamma) * c[:, None] * c[None, :]
        s[self_pair] = 0.0
        A = s[:, :, None, None] * (r2[:, :, None, None] * np.eye(d) - z[:, :, :, None] * z[:, :, None, :])
        K = -A
        diag = A.sum(axis=1)           # Σ_p c_q c_p a_qp = ω_q m_q Ĝ_q
        idx = np.arange(len(c))
        K[idx, idx] += diag
        K = K.transpose(0, 2, 1, 3).reshape(len(c) * d, len(c) * d)
        Bmat = fd.assemble(fd.interpolate(ufl.grad(fd.TrialFunction(V)), self.Qv)).petscmat
        B = gather_matrix(Bmat, self.comm).toarray()
        return B.T @ K @ B

    def gather(self, local):
        """All ranks' rows of ``local`` (``(n_local, k)``), concatenated in rank order."""
        local = np.ascontiguousarray(local, dtype=float)
        k = local.shape[1]
        out = np.empty((self.n_global, k))
        self.comm.Allgatherv(local, [out, self.counts * k])
        return out
