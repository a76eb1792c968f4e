r"""Nonlocal multispecies Fokker–Planck–Landau system (docs/models.rst, Nonlocal multispecies Fokker–Planck–Landau; Hu–Jüngel–Zamponi).

Species ``i = 1..s`` with masses ``m_i``, charges ``q_i``, velocity dimension ``d = 2, 3``:

.. math::

   ∂_t f_i = Σ_j c_{ji} ∇·\big(∇f_i + m_i (v − u_{ji})/T_{ji}\, f_i\big)
           = Σ_j c_{ji} ∇·\big(f_i ∇ \log(f_i/M_{ij})\big),

``c_ji = K_ij n_j (T_j/m_j)^{γ/2}``, ``K_ij = |log Λ| q_i² q_j² / (8π ε_0² m_i²)``,
``T_i = (m_i/(d n_i)) ∫|v − u_i|² f_i`` (docs/models.rst, Nonlocal multispecies Fokker–Planck–Landau with 3 → d).

Gradient-flow form used here (``L = 0``, ``H = Σ_i ∫ f_i log f_i``, ``w_i = log f_i``):
for every unordered pair ``{i, j}`` (``i = j`` included) the mixture values are the
*weighted projection* of ``(∇w_i, ∇w_j)`` onto the gradients of the collision
invariants, ``{(m_i (b + c v), m_j (b + c v))}``,

.. math::

   (b_{ij}, c_{ij}) = \arg\min Σ_{k ∈ \{i,j\}} c_{lk} ∫ f_k |∇g_k − m_k (b + c v)|²

(``l`` the partner of ``k``), and ``⟨φ, M(f) g⟩ = Σ_k Σ_l c_{lk} ∫ f_k (∇g_k − m_k(b_{kl} + c_{kl} v))·∇φ_k``.
For ``g = log f`` in the continuum, ``c = −1/T_ij`` and ``b = u_ij/T_ij`` with exactly
the ``u_ji, T_ji`` of docs/models.rst, Nonlocal multispecies Fokker–Planck–Landau (``u_ij = u_ji``, ``T_ij = T_ji`` by construction).
Computed from the *discrete* integrals (an auxiliary field in the global ``R`` space,
solved together with the entropy variables), the projection residual is orthogonal
to ``m_k e_l`` and ``m_k v``, so per-species mass, total momentum ``Σ m_i ∫ v f_i`` and
the mass-weighted energy ``Σ m_i ∫ |v|² f_i`` are conserved to the solver tolerance,
also on a truncated box; ``M(f)`` is symmetric positive semidefinite, so the entropy
decays for every stepper of the core.

Species scaling (docs/two_point.rst): all species live on one reference mesh ``ξ`` with
``v = σ_i ξ`` (``σ_i`` ~ the thermal speed ``√(T_i/m_i)``), so a mass ratio 1:1836 is
resolved.  The unknown is the density per ``dξ``, ``f̂_i = σ_i^d f_i``, so that
``∫ f_i dv = ∫ f̂_i dξ`` and ``∇_v = ∇_ξ/σ_i``.

The coefficients ``c_ji`` depend on the moments of the mobility state; they are
refreshed before every residual evaluation (:class:`MomentProjectionFriction`; frozen in the
Jacobian).  Conservation and entropy decay do not depend on their values.
"""
import numpy as np
import ufl
import ufl.algorithms
import firedrake as fd

from mpi4py import MPI

from generic_fem.models.model import GenericModel
from generic_fem.friction.operators import FrictionOperator
from generic_fem.core.assembly import compiled_interpolation
from generic_fem.core.errors import InvalidParameterError, InvalidStateError

__all__ = ["MultispeciesFokkerPlanck", "MomentProjectionFriction", "moment_odes"]


class MomentProjectionFriction(FrictionOperator):
    """The friction of :class:`MultispeciesFokkerPlanck` as an operator object: a local
    form whose coefficients are global moments of ``(f, g)``, refreshed by
    :meth:`refresh` (collective).  It owns them: the ``c_lk`` (:attr:`c`, Real-space
    Functions, one set for the model) and, per coefficient set ``(f, g)``
    (:meth:`coefficient_set`), each pair's projection ``(b, c)``.

    :arg model: the :class:`MultispeciesFokkerPlanck` (its species data, rule and
        :meth:`~MultispeciesFokkerPlanck.coefficients`)."""

    is_nonlocal = True
    has_adjoint = True

    def __init__(self, model):
        self.model = model
        s, d = model.s, model.dim
        self.Qf, self.Qg = model.quadrature_space((s,)), model.quadrature_space((s, d))
        # points and weights of the model's rule: moments as sums (one Allreduce)
        self.points, self.weights = model.point_layout()
        self.R0 = fd.FunctionSpace(model.mesh, "R", 0)
        #: ``c[l][k] = c_lk``: the coefficient of partner ``l`` in the equation of species ``k``
        self.c = [[fd.Function(self.R0, name=f"c_{l}{k}") for k in range(s)] for l in range(s)]
        self._sets = {}

    # ------------------------------------------------------------------ coefficients
    def terms(self):
        """``(pair index, species k, partner l)`` for every flux term."""
        for p, (i, j) in enumerate(self.model.pairs):
            if i == j:
                yield p, i, i
            else:
                yield p, i, j
                yield p, j, i

    def gradient_tensor(self, g):
        """``[∇_v g_k]_k`` as an ``s × d`` UFL tensor."""
        m = self.model
        return ufl.as_tensor([[m.grad_v(g, k)[a] for a in range(m.dim)] for k in range(m.s)])

    def coefficient_set(self, f, g):
        """``(proj, fq, gq, interpolate_f, interpolate_g)`` for ``(f, g)`` (made once):
        each pair's projection ``([b_a], c)`` on Real spaces (not Constants: the adjoint
        differentiates them; one per component, Firedrake having no Arguments on
        vector-valued Real spaces), ``f`` and ``∇_v g`` at the points and their
        compiled interpolations."""
        key = (f, g)
        e = self._sets.get(key)
        if e is None:
            if ufl.algorithms.extract_arguments(g):
                raise InvalidParameterError(
                    "the multispecies friction depends on its argument through global moments: "
                    "use its action (apply_friction) or checks.friction_matrix_dense")
            d = self.model.dim
            proj = [([fd.Function(self.R0) for _ in range(d)], fd.Function(self.R0)) for _ in self.model.pairs]
            fq, gq = fd.Function(self.Qf), fd.Function(self.Qg)
            e = (proj, fq, gq, compiled_interpolation(f, fq), compiled_interpolation(self.gradient_tensor(g), gq))
            self._sets[key] = e
        return e

    def point_values(self, fq, gq):
        """``(ω f_k, ∇_v g_k)`` at this rank's points."""
        s, d = self.model.s, self.model.dim
        F = np.asarray(fq.dat.data_ro).reshape(-1, s) * self.weights[:, None]     # ω f_k
        Gr = np.asarray(gq.dat.data_ro).reshape(-1, s, d)                         # ∇_v g_k
        return F, Gr

    def global_moments(self, F, Gr):
        """Per species ``Σ ω f (1, v, |v|², ∇_v g, v·∇_v g)``, summed over ranks."""
        m = self.model
        local = []
        for k in range(m.s):
            v = float(m.sigma[k]) * self.points
            fk = F[:, k]
            local += [[fk.sum()], fk @ v, [fk @ np.einsum("qa,qa->q", v, v)], fk @ Gr[:, k, :],
                      [fk @ np.einsum("qa,qa->q", v, Gr[:, k, :])]]
        local = np.concatenate([np.atleast_1d(np.asarray(x, float)) for x in local])
        tot = np.empty_like(local)
        m.mesh.comm.Allreduce(local, tot, op=MPI.SUM)
        return tot

    def projection_coefficients(self, tot):
        """``Φ(μ)``: ``[c_lk (row-major), (b, c) of each pair]`` from the global moments,
        by the weighted normal equations (numpy; complex-safe, for complex-step
        derivatives)."""
        model = self.model
        d, s = model.dim, model.s
        size = 2 * d + 3
        mom, n, T = [], [], []
        for k in range(s):
            blk = tot[k * size:(k + 1) * size]
            n0, n1, n2, g1, g2 = blk[0], blk[1:1 + d], blk[1 + d], blk[2 + d:2 + 2 * d], blk[2 + 2 * d]
            mom.append((n0, n1, n2, g1, g2))
            n.append(n0)
            T.append(model.m[k] / d * (n2 / n0 - (n1 @ n1) / n0 ** 2))
        n, T = np.array(n), np.array(T)
        C = model.coefficients(n, T)
        out = [C.ravel()]
        for p, (i, j) in enumerate(model.pairs):
            A = np.zeros((d + 1, d + 1), dtype=tot.dtype)
            rhs = np.zeros(d + 1, dtype=tot.dtype)
            for k, l in ((i, j), (j, i)) if i != j else ((i, i),):
                w = C[l, k] * model.m[k]
                n0, n1, n2, g1, g2 = mom[k]
                mk = model.m[k]
                A[:d, :d] += w * mk * n0 * np.eye(d)
                A[:d, d] += w * mk * n1
                A[d, :d] += w * mk * n1
                A[d, d] += w * mk * n2
                rhs[:d] += w * g1
                rhs[d] += w * g2
            out.append(np.linalg.solve(A, rhs))
        return np.concatenate(out)

    # ------------------------------------------------------------------ FrictionOperator
    def form(self, f, g, phi):
        m = self.model
        proj = self.coefficient_set(f, g)[0]
        out = 0
        for p, k, l in self.terms():
            bs, c = proj[p]
            flux = m.grad_v(g, k) - float(m.m[k]) * (ufl.as_vector(bs) + c * m.v[k])
            out = out + self.c[l][k] * f[k] * ufl.inner(flux, m.grad_v(phi, k)) * m.dx
        return out

    def refresh(self, f, g):
        """Refresh ``c_lk`` from the moments of ``f`` and the projection ``(b, c)`` of each
        pair from the discrete weighted normal equations (collective)."""
        proj, fq, gq, interp_f, interp_g = self.coefficient_set(f, g)
        interp_f()
        interp_g()
        F, Gr = self.point_values(fq, gq)
        out = self.projection_coefficients(self.global_moments(F, Gr))
        s, d = self.model.s, self.model.dim
        for l in range(s):
            for k in range(s):
                self.c[l][k].assign(out[l * s + k])
        for p in range(len(self.model.pairs)):
            sol = out[s * s + p * (d + 1):s * s + (p + 1) * (d + 1)]
            for a in range(d):
                proj[p][0][a].assign(sol[a])
            proj[p][1].assign(sol[d])

    def share_coefficients(self, f_alias, f, g):
        """``form(f_alias, g, φ)`` uses the projections of ``(f, g)`` (the ``c_lk`` are
        global already)."""
        self._sets[(f_alias, g)] = self.coefficient_set(f, g)
        return True

    def adjoint_pullback(self, psi, f, g):
        """The pull-back of a 0-form's cotangents through the moment coefficients
        (:class:`MomentPullBack`): exact gradients of taped runs."""
        return MomentPullBack(self, psi, f, g)

    def internal_coefficients(self):
        out = [c for row in self.c for c in row]
        for e in self._sets.values():
            out += [x for bs, c in e[0] for x in list(bs) + [c]] + [e[1], e[2]]
        return out


class MomentPullBack:
    r"""The transposed linearisation of :meth:`MomentProjectionFriction.refresh`.

    The coefficients (``c_lk`` and each pair's projection ``(b, c)``) are a function
    ``Φ(μ)`` of the global moments ``μ_k = Σ_q ω_q f_{kq} (1, v, |v|², ∇_v g_k, v·∇_v g_k)``.
    Given the cotangents ``Φ̄`` (UFL derivatives of ``Ψ`` with respect to these Real-space
    Functions), ``μ̄ = (∂Φ/∂μ)ᵀ Φ̄`` with ``∂Φ/∂μ`` by complex-step differentiation (exact to
    round-off; ``Φ`` is a few small dense solves), and at the points
    ``b_{f,kq} = μ̄_{n0} + μ̄_{n1}·v + μ̄_{n2}|v|² + μ̄_{g1}·∇_v g_k + μ̄_{g2} v·∇_v g_k``,
    ``b_{G,kq} = f_{kq} (μ̄_{g1} + μ̄_{g2} v)``, so that
    ``extra = ∫ b_f · f + b_G : ∇_v g``."""

    def __init__(self, op, psi, f, g):
        from generic_fem.friction.pullbacks import seed_assembler
        self.op, self.f, self.g = op, f, g
        proj, fq, gq, _, _ = op.coefficient_set(f, g)
        self.proj, self.fq, self.gq = proj, fq, gq
        self.c_seeds = [[seed_assembler(psi, c) for c in row] for row in op.c]
        self.p_seeds = [([seed_assembler(psi, b) for b in bs], seed_assembler(psi, c)) for bs, c in proj]
        self.bf, self.bG = fd.Function(op.Qf), fd.Function(op.Qg)
        self.extra = (ufl.inner(self.bf, f) + ufl.inner(self.bG, op.gradient_tensor(g))) * op.model.dx

    def update(self, parameters=True):
        op = self.op
        m = op.model
        d, s = m.dim, m.s

        def val(a, n):
            return np.zeros(n) if a is None else np.asarray(a().dat.data_ro, dtype=float).ravel()[:n]
        cbar = np.array([[val(a, 1)[0] for a in row] for row in self.c_seeds])
        pbar = [np.concatenate([val(b, 1) for b in bs] + [val(c, 1)]) for bs, c in self.p_seeds]
        coef_bar = np.concatenate([cbar.ravel()] + pbar)
        F, Gr = op.point_values(self.fq, self.gq)
        tot = op.global_moments(F, Gr)
        h = 1e-200 * max(1.0, np.abs(tot).max())
        J = np.empty((len(coef_bar), len(tot)))
        for a in range(len(tot)):
            t = tot.astype(complex)
            t[a] += 1j * h
            J[:, a] = op.projection_coefficients(t).imag / h
        mom_bar = J.T @ coef_bar
        size = 2 * d + 3
        bf = np.empty((len(op.weights), s))
        bG = np.empty((len(op.weights), s, d))
        for k in range(s):
            blk = mom_bar[k * size:(k + 1) * size]
            n0, n1, n2, g1, g2 = blk[0], blk[1:1 + d], blk[1 + d], blk[2 + d:2 + 2 * d], blk[2 + 2 * d]
            v = float(m.sigma[k]) * op.points
            G = Gr[:, k, :]
            bf[:, k] = n0 + v @ n1 + n2 * np.einsum("qa,qa->q", v, v) + G @ g1 + g2 * np.einsum("qa,qa->q", v, G)
            fk = np.asarray(self.fq.dat.data_ro).reshape(-1, s)[:, k]
            bG[:, k, :] = fk[:, None] * (g1[None, :] + g2 * v)
        self.bf.dat.data_wo[:] = bf.reshape(self.bf.dat.data_ro.shape)
        self.bG.dat.data_wo[:] = bG.reshape(self.bG.dat.data_ro.shape)
        return {}


class MultispeciesFokkerPlanck(GenericModel):
    """``s`` species coupled through moments.

    :arg mesh: the reference velocity mesh (``d = 2, 3``), e.g. ``velocity_box(d, R, n)``.
    :arg masses, charges: sequences of length ``s`` (masses > 0, charges ≠ 0).
    :arg scales: ``σ_i > 0``, the velocity scale of each species (``v = σ_i ξ``;
        default 1); choose ``σ_i ≈ √(T_i/m_i)``.
    :arg gamma: exponent ``γ`` (any real).
    :arg log_lambda: ``|log Λ|``;  :arg eps0: ``ε_0``.
    """
    name = "multispecies_fp"
    supported_dimensions = (2, 3)
    min_degree = 2

    def __init__(self, mesh, masses, charges, scales=None, gamma=0.0, log_lambda=1.0, eps0=1.0,
                 degree=2, quadrature_degree=None, rule=None):
        masses = np.atleast_1d(np.asarray(masses, float))
        charges = np.atleast_1d(np.asarray(charges, float))
        s = len(masses)
        scales = np.ones(s) if scales is None else np.atleast_1d(np.asarray(scales, float))
        if s < 1 or charges.shape != (s,) or scales.shape != (s,):
            raise InvalidParameterError(
                f"MultispeciesFokkerPlanck: masses, charges and scales must have one entry per species "
                f"(got {len(masses)}, {len(charges)}, {len(scales)})")
        if not (np.all(np.isfinite(masses)) and np.all(masses > 0)):
            raise InvalidParameterError(f"MultispeciesFokkerPlanck: masses must be positive, got {masses}")
        if not (np.all(np.isfinite(charges)) and np.all(charges != 0)):
            raise InvalidParameterError(f"MultispeciesFokkerPlanck: charges must be non-zero, got {charges}")
        if not (np.all(np.isfinite(scales)) and np.all(scales > 0)):
            raise InvalidParameterError(f"MultispeciesFokkerPlanck: scales must be positive, got {scales}")
        if not (np.isfinite(gamma) and log_lambda > 0 and eps0 > 0):
            raise InvalidParameterError("MultispeciesFokkerPlanck: gamma must be finite, log_lambda and "
                                        f"eps0 positive (got {gamma}, {log_lambda}, {eps0})")
        if int(degree) == degree and degree < self.min_degree:
            raise InvalidParameterError(
                f"MultispeciesFokkerPlanck: degree {degree} does not contain |v|^2; use degree >= 2")
        super().__init__(mesh, degree, quadrature_degree, rule)
        self.s, self.m, self.q, self.sigma = s, masses, charges, scales
        self.gamma = float(gamma)
        self.V = self.rule.unknown_space(dim=s)
        self.K = np.array([[log_lambda * charges[i] ** 2 * charges[j] ** 2 / (8 * np.pi * eps0 ** 2 * masses[i] ** 2)
                            for j in range(s)] for i in range(s)])
        self.pairs = [(i, j) for i in range(s) for j in range(i, s)]
        xi = self.coordinates
        self.v = [float(scales[k]) * xi for k in range(s)]   # physical velocity of species k
        self._operator = MomentProjectionFriction(self)

    # ------------------------------------------------------------------ GENERIC data
    def entropy_density(self, f):
        return -sum(f[k] * ufl.ln(f[k]) - f[k] for k in range(self.s))

    def output_fields(self, f):
        """Species ``k`` as ``f_k`` per ``dv`` (``f_k(ξ)/σ_k^d``) on the mesh scaled to its
        physical velocity ``v = σ_k ξ`` (:mod:`generic_fem.core.output`)."""
        d = self.dim
        return [(f"f_{k}", f[k] / float(self.sigma[k]) ** d, float(self.sigma[k])) for k in range(self.s)]

    def density(self, w):
        return ufl.as_vector([ufl.exp(w[k]) for k in range(self.s)])

    def grad_v(self, g, k):
        """``∇_v g_k = ∇_ξ g_k / σ_k``."""
        return ufl.grad(g[k]) / float(self.sigma[k])

    def friction_operators(self):
        return (self._operator,)

    @property
    def c(self):
        """``c[l][k] = c_lk`` as last refreshed (Real-space Functions of the friction
        operator, :attr:`MomentProjectionFriction.c`)."""
        return self._operator.c

    def invariant_densities(self):
        s, d = self.s, self.dim
        out = {}
        for k in range(s):
            out[f"mass_{k}"] = ufl.as_vector([1.0 if i == k else 0.0 for i in range(s)])
        for a in range(d):
            out[f"momentum_{a}"] = ufl.as_vector([float(self.m[k]) * self.v[k][a] for k in range(s)])
        out["energy"] = ufl.as_vector([float(self.m[k]) * ufl.dot(self.v[k], self.v[k]) for k in range(s)])
        return out

    # ------------------------------------------------------------------ moments and coefficients
    def moments(self, f):
        """``(n_i, u_i, T_i)`` of the density (UFL vector expression) ``f`` (collective)."""
        d = self.dim
        n, u, T = np.zeros(self.s), np.zeros((self.s, d)), np.zeros(self.s)
        for k in range(self.s):
            vk = self.v[k]
            n[k] = fd.assemble(f[k] * self.dx)
            u[k] = [fd.assemble(vk[a] * f[k] * self.dx) / n[k] for a in range(d)]
            e = fd.assemble(ufl.dot(vk, vk) * f[k] * self.dx)
            T[k] = self.m[k] / d * (e / n[k] - u[k] @ u[k])
        return n, u, T

    def coefficients(self, n, T):
        """``c[l, k] = c_lk = K_kl n_l (T_l/m_l)^{γ/2}``."""
        if np.any(~(np.real(T) > 0)):
            raise InvalidStateError(f"MultispeciesFokkerPlanck: non-positive temperature {np.real(T)}")
        s = self.s
        return np.array([[self.K[k, l] * n[l] * (T[l] / self.m[l]) ** (0.5 * self.gamma) for k in range(s)]
                         for l in range(s)])

    def mixture(self, f):
        """``{(i, j): (u_ij, T_ij)}`` from the discrete projection of ``∇ log f``:
        ``T_ij = −1/c_ij``, ``u_ij = b_ij T_ij`` (collective)."""
        w = fd.Function(self.V).interpolate(ufl.as_vector([ufl.ln(f[k]) for k in range(self.s)]))
        self._operator.refresh(f, w)
        out = {}
        for p, (i, j) in enumerate(self.pairs):
            bs, c = self._operator.coefficient_set(f, w)[0][p]
            T = -1.0 / float(c)
            out[(i, j)] = (np.array([float(b) for b in bs]) * T, T)
        return out

    def maxwellian(self, k, density=1.0, velocity=None, temperature=1.0):
        """Species ``k``'s Maxwellian as a density per ``dξ`` (UFL scalar):
        ``n σ_k^d (m_k/(2πT))^{d/2} exp(−m_k|v − u|²/(2T))``, ``v = σ_k ξ``."""
        d = self.dim
        u = np.zeros(d) if velocity is None else np.asarray(velocity, float)
        if not (density > 0 and temperature > 0):
            raise InvalidParameterError("maxwellian: density and temperature must be positive")
        z = self.v[k] - ufl.as_vector([float(a) for a in u])
        mk = float(self.m[k])
        return density * float(self.sigma[k]) ** d * (mk / (2 * np.pi * temperature)) ** (d / 2) * \
            ufl.exp(-mk * ufl.dot(z, z) / (2 * temperature))

    def describe(self):
        fmt = lambda a: "[" + ", ".join(f"{x:g}" for x in a) + "]"  # noqa: E731
        return (f"MultispeciesFokkerPlanck(s={self.s}, dim={self.dim}, masses={fmt(self.m)}, "
                f"charges={fmt(self.q)}, scales={fmt(self.sigma)}, gamma={self.gamma:g}, degree={self.degree})")


def moment_odes(model, n, u0, T0, t_eval):
    """The closed moment ODEs of docs/models.rst, Nonlocal multispecies Fokker–Planck–Landau solved with scipy (``rtol = atol = 1e-12``):
    ``du_i/dt = −m_i Σ_j (c_ji/T_ji)(u_i − u_ji)``, ``dT_i/dt = −2 m_i Σ_j (c_ji/T_ji)(T_i − T_ji)``,
    with ``c_ji, u_ji, T_ji`` the closed formulas of the moments.  Returns ``(u(t), T(t))``."""
    from scipy.integrate import solve_ivp
    s, d = model.s, model.dim
    m = model.m

    def mix(u, T):
        C = model.coefficients(n, T)
        rho = m * n
        U = np.zeros((s, s, d))
        TT = np.zeros((s, s))
        for i in range(s):
            for j in range(s):
                a, b = C[j, i] * m[i] * rho[i], C[i, j] * m[j] * rho[j]   # c_ji m_i ρ_i, c_ij m_j ρ_j
                U[j, i] = (a * u[i] + b * u[j]) / (a + b)
                A, B = C[j, i] * rho[i], C[i, j] * rho[j]
                TT[j, i] = (A * T[i] + B * T[j]) / (A + B) + a * b * np.sum((u[i] - u[j]) ** 2) / (d * (A + B) * (a + b))
        return C, U, TT

    def rhs(t, y):
        u, T = y[:s * d].reshape(s, d), y[s * d:]
        C, U, TT = mix(u, T)
        du = np.array([-m[i] * sum(C[j, i] / TT[j, i] * (u[i] - U[j, i]) for j in range(s)) for i in range(s)])
        dT = np.array([-2 * m[i] * sum(C[j, i] / TT[j, i] * (T[i] - TT[j, i]) for j in range(s)) for i in range(s)])
        return np.concatenate([du.ravel(), dT])

    y0 = np.concatenate([np.asarray(u0, float).ravel(), np.asarray(T0, float)])
    sol = solve_ivp(rhs, (t_eval[0], t_eval[-1]), y0, t_eval=t_eval, rtol=1e-12, atol=1e-12, method="DOP853")
    return sol.y[:s * d].T.reshape(-1, s, d), sol.y[s * d:].T
