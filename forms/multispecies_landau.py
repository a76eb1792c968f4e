r"""Multispecies Landau system with finite masses (docs/models.rst, Multispecies Landau and Infinite-mass limit; Junné–Winter–Yoldaş, arXiv:2512.17082 (1.1)–(1.2)).

Species ``i = 1..N`` with masses ``m_i``, a symmetric coupling ``c_ij > 0`` and one ``γ``:

.. math::

   ∂_t f_i = Σ_j Q_ij(f_i, f_j), \qquad
   Q_ij = \frac{1}{m_i} ∇_{v}·∫ c_ij A(v − v_*)
          \Big(\frac{∇_v}{m_i} − \frac{∇_{v_*}}{m_j}\Big)(f_i(v) f_j(v_*))\,dv_*,

``A(z) = |z|^{2+γ} Π(z)`` (or any weight ``A(|z|)Π(z)`` of a
:class:`~generic_fem.kernels.pair_weights.PairWeight`).  GENERIC gradient flow (``L = 0``):
``H = −S = Σ_i ∫ f_i \log f_i``, ``E = Σ_i (m_i/2) ∫|v|² f_i``, entropy variables
``w_i = \log f_i + 1``, and the friction is the shared two-point operator
(:class:`~generic_fem.friction.two_point.TwoPointFriction`) over ``N`` point sets with gradient
weights ``1/m_i``, in the weak form

.. math::

   ⟨φ, M(f) g⟩ = ½ Σ_{i,j} c_ij ∫∫ f_i f_{j*}\, 𝕎φ · A(v − v_*) 𝕎g, \qquad
   𝕎g = ∇g_i(v)/m_i − ∇g_j(v_*)/m_j,

so ``M(f) w = (Σ_j Q_ij)_i``.  Conserved to the solver tolerance: each ``∫ f_i``, total
momentum ``Σ m_i ∫ v f_i`` and total energy ``Σ (m_i/2) ∫|v|² f_i`` (``c_ij = c_ji``).
Equilibria: ``f_i = n_i (m_i/(2πT))^{d/2} exp(−m_i|v − u|²/(2T))`` with one ``u, T``
(``∇w_i/m_i = −(v − u)/T`` for all ``i``, so ``𝕎w ∥ z``).

Species scaling (docs/two_point.rst): all species live on one reference mesh ``ξ`` with
``v = σ_i ξ`` (``σ_i`` ~ the thermal speed ``√(T/m_i)``), so mass ratios of 1:1836
are resolved; the unknowns are the densities per ``dξ``, ``f̂_i = σ_i^d f_i``
(``∫ f_i dv = ∫ f̂_i dξ``).  With ``N = 1``, ``m = σ = 1`` and ``c = C`` this is
:class:`forms.landau.Landau` to round-off.

Couplings from plasma parameters (seed (1.2), ``f_i`` probability densities):
:func:`plasma_coupling`.  ``γ = 0``: :func:`temperature_odes` (docs/models.rst, Multispecies Landau and Infinite-mass limit, re-derived
in ``docs/models.rst``).  Weighted Fisher information (seed (1.8)):
``𝓘 = Σ_i (1/m_i) ∫ |∇ \log f_i|² f_i`` (history column ``fisher``).
"""
import numpy as np
import ufl
import firedrake as fd
from generic_fem.core.parameters import value, parameter_matrix, is_parameter

from generic_fem.models.model import GenericModel
from generic_fem.core.errors import InvalidParameterError
from generic_fem.friction.two_point import TwoPointFriction
from generic_fem.core.meshes import is_periodic
from generic_fem.kernels.pair_weights import PairWeight

__all__ = ["MultispeciesLandau", "plasma_coupling", "temperature_odes", "common_equilibrium"]


def plasma_coupling(charges, densities, log_lambda, eps0=1.0):
    """Junné–Winter–Yoldaş, arXiv:2512.17082 (1.2): ``c_ij = |log Λ| q_i² q_j² n_i n_j / (8π ε_0²)`` (for ``f_i``
    probability densities)."""
    q = np.atleast_1d(np.asarray(charges, float))
    n = np.atleast_1d(np.asarray(densities, float))
    if q.shape != n.shape or not (np.all(q != 0) and np.all(n > 0) and log_lambda > 0 and eps0 > 0):
        raise InvalidParameterError("plasma_coupling: one non-zero charge and one positive density per "
                                    "species, log_lambda > 0 and eps0 > 0 are needed "
                                    f"(got {q}, {n}, {log_lambda}, {eps0})")
    qn = q ** 2 * n
    return abs(log_lambda) * np.outer(qn, qn) / (8 * np.pi * eps0 ** 2)


class MultispeciesLandau(GenericModel):
    """``N`` species coupled by Landau collisions (module docstring).

    :arg mesh: the reference velocity mesh, ``d = 2, 3`` (e.g. ``velocity_box(d, R, n)``).
    :arg masses: ``m_i > 0``, one per species.
    :arg coupling: the symmetric matrix ``c_ij`` (entries ``≥ 0``, diagonal ``> 0``), or a
        number for all pairs; see :func:`plasma_coupling`.
    :arg gamma: ``γ ∈ [−3, 1]`` (``A = r^{γ+2}``); ignored when ``weight`` is given.
    :arg scales: ``σ_i > 0`` (``v = σ_i ξ``), default 1; choose ``σ_i ≈ √(T/m_i)``.
    :arg weight: a :class:`~generic_fem.kernels.pair_weights.PairWeight` (another kernel).
    :arg degree: Lagrange degree (``≥ 2``: the space must contain ``|v|²``).
    :arg summation: the pair sums' summation, ``"auto"``, ``"direct"``, ``"lattice"`` (species
        on one uniform lattice) or ``"fmm"`` (3D Coulomb:
        :class:`~generic_fem.friction.two_point.TwoPointFriction`).
    """
    supports_axisymmetric = True
    name = "multispecies_landau"
    supported_dimensions = (2, 3)
    min_degree = 2

    def __init__(self, mesh, masses, coupling=1.0, gamma=-3.0, scales=None, weight=None,
                 degree=2, quadrature_degree=None, rule=None, summation="auto"):
        cls = type(self).__name__
        m = np.atleast_1d(np.asarray(masses, float))
        n = len(m)
        if n < 1 or not (np.all(np.isfinite(m)) and np.all(m > 0)):
            raise InvalidParameterError(f"{cls}: masses must be positive numbers, got {masses}")
        try:      # numbers or Real-space Functions (controls)
            spec = parameter_matrix(coupling, n if is_parameter(coupling) or np.ndim(coupling) == 0 else None)
        except ValueError as exc:
            raise InvalidParameterError(f"{cls}: coupling: {exc}") from None
        c = np.vectorize(value, otypes=[float])(spec) if spec.size else np.zeros(spec.shape)
        if c.shape != (n, n):
            raise InvalidParameterError(f"{cls}: coupling must be {n}x{n} (one row per species), got shape {c.shape}")
        if not (np.all(np.isfinite(c)) and np.all(c >= 0) and np.all(np.diag(c) > 0)):
            raise InvalidParameterError(f"{cls}: coupling must be finite, >= 0, with a positive diagonal, got {c}")
        sig = np.ones(n) if scales is None else np.atleast_1d(np.asarray(scales, float))
        if sig.shape != (n,) or not (np.all(np.isfinite(sig)) and np.all(sig > 0)):
            raise InvalidParameterError(f"{cls}: scales must be {n} positive numbers, got {scales}")
        if weight is None:
            if not (np.isfinite(gamma) and -3.0 <= gamma <= 1.0):
                raise InvalidParameterError(f"{cls}: gamma must lie in [-3, 1], got {gamma}")
            weight = PairWeight.power(gamma)
        elif not isinstance(weight, PairWeight):
            raise InvalidParameterError(f"{cls}: weight must be a PairWeight, got {weight!r}")
        if int(degree) == degree and degree < self.min_degree:
            raise InvalidParameterError(f"{cls}: degree {degree} does not contain |v|^2; use degree >= 2")
        if is_periodic(mesh):
            raise InvalidParameterError(f"{cls}: a velocity mesh must not be periodic (got a periodic mesh; "
                                        "phase-space models take those)")
        super().__init__(mesh, degree, quadrature_degree, rule)
        self.n_species, self.masses, self.scales = n, m, sig
        self.gamma = weight.gamma
        self.V = self.rule.unknown_space(dim=n)
        xi = self.coordinates
        #: physical velocity of each species, ``v = σ_i ξ`` (UFL)
        self.v = [float(s) * xi for s in sig]
        #: the two-point operator over the ``N`` species' point sets
        self.pairs = TwoPointFriction(mesh, self.rule, self.dx, weight, mobility=lambda f: f,
                                      coupling=spec, scales=sig, masses=m, summation=summation)

    @property
    def coupling(self):
        """``c_ij`` with the current values of any Real-space entries."""
        return self.pairs.coupling

    # ------------------------------------------------------------------ GENERIC data
    def entropy_density(self, f):
        d = self.velocity_dim
        return -sum(f[i] * ufl.ln(f[i] / float(self.scales[i]) ** d) for i in range(self.n_species))

    def energy_density(self, f):
        return sum(0.5 * float(self.masses[i]) * self._speed2(i) * f[i] for i in range(self.n_species))

    def output_fields(self, f):
        """Species ``k`` as ``f_k`` per ``dv`` (``f_k(ξ)/σ_k^d``) on the mesh scaled to its
        physical velocity ``v = σ_k ξ`` (:mod:`generic_fem.core.output`)."""
        d = self.velocity_dim
        return [(f"f_{k}", f[k] / float(self.scales[k]) ** d, float(self.scales[k])) for k in range(self.n_species)]

    def density(self, w):
        d = self.velocity_dim
        return ufl.as_vector([float(self.scales[i]) ** d * ufl.exp(w[i] - 1.0) for i in range(self.n_species)])

    def friction_operators(self):
        return (self.pairs,)

    def invariant_densities(self):
        n = self.n_species
        out = {}
        for i in range(n):
            out[f"mass_{i}"] = ufl.as_vector([1.0 if k == i else 0.0 for k in range(n)])
        for name, a in self.velocity.momentum.items():    # (v_∥ only in axisymmetric velocity space)
            out[name] = ufl.as_vector([float(self.masses[k]) * self.v[k][a] for k in range(n)])
        out["energy"] = ufl.as_vector([0.5 * float(self.masses[k]) * self._speed2(k) for k in range(n)])
        return out

    def diagnostics(self, w, t=None):
        """``fisher``: ``𝓘 = Σ_i (1/m_i) ∫ |∇_v w_i|² f_i`` (seed (1.8); ``∇ log f = ∇w``)."""
        f = self.density(w)
        grad = self.velocity.gradient
        form = sum(ufl.dot(grad(w[i]), grad(w[i])) * f[i] / float(self.masses[i] * self.scales[i] ** 2)
                   for i in range(self.n_species)) * self.dx
        return {"fisher": float(fd.assemble(form))}

    def _speed2(self, i):
        """``|v|²`` of species ``i`` (UFL): ``v·v``, or ``σ_i² (s + v_∥²)`` in axisymmetric
        velocity space (no ``(\\sqrt{s})²`` whose gradient meets ``1/\\sqrt{s}`` on the axis)."""
        if self.velocity.kind == "cartesian":
            return ufl.dot(self.v[i], self.v[i])
        return float(self.scales[i]) ** 2 * self.speed2

    # ------------------------------------------------------------------ data and moments
    def maxwellian(self, i, density=1.0, velocity=None, temperature=1.0):
        """Species ``i``'s Maxwellian as a density per ``dξ`` (UFL):
        ``n σ_i^d (m_i/(2πT))^{d/2} exp(−m_i|v − u|²/(2T))``, ``v = σ_i ξ`` (in axisymmetric
        velocity space ``d = 3`` and ``u = (0, u_∥)``)."""
        d = self.velocity_dim
        u = np.zeros(self.dim) if velocity is None else np.asarray(velocity, float)
        if self.velocity.kind == "axisymmetric" and u[0] != 0:
            raise InvalidParameterError("maxwellian: in axisymmetric velocity space the drift is (0, u_par)")
        if not (density > 0 and temperature > 0):
            raise InvalidParameterError("maxwellian: density and temperature must be positive")
        if self.velocity.kind == "cartesian":
            z = self.v[i] - ufl.as_vector([float(a) for a in u])
            q = ufl.dot(z, z)
        else:     # |v − u|² without (√s)²
            q = self._speed2(i) - 2 * float(u[1]) * self.v[i][1] + float(u @ u)
        mi = float(self.masses[i])
        return density * float(self.scales[i]) ** d * (mi / (2 * np.pi * temperature)) ** (d / 2) * \
            ufl.exp(-mi * q / (2 * temperature))

    def moments(self, f):
        """``(n_i, u_i, T_i)`` with ``T_i = m_i ∫|v − u_i|² f_i/(d n_i)`` (collective; in
        axisymmetric velocity space ``u_i = (0, u_∥)`` and ``d = 3``)."""
        N, d = self.n_species, self.velocity_dim
        n, u, T = np.zeros(N), np.zeros((N, self.dim)), np.zeros(N)
        for i in range(N):
            v = self.v[i]
            n[i] = fd.assemble(f[i] * self.dx)
            for a in self.velocity.momentum.values():
                u[i, a] = fd.assemble(v[a] * f[i] * self.dx) / n[i]
            e2 = fd.assemble(self._speed2(i) * f[i] * self.dx)
            T[i] = self.masses[i] / d * (e2 / n[i] - u[i] @ u[i])
        return n, u, T

    def describe(self):
        fmt = lambda a: "[" + ", ".join(f"{x:g}" for x in np.ravel(a)) + "]"  # noqa: E731
        coupling = "[" + ", ".join(fmt(row) for row in self.coupling) + "]"
        return (f"MultispeciesLandau(N={self.n_species}, dim={self.velocity.label}, masses={fmt(self.masses)}, "
                f"coupling={coupling}, scales={fmt(self.scales)}, weight={self.pairs.weight.name}, "
                f"degree={self.degree}, N_q={self.pairs.n_global})")


def common_equilibrium(masses, n, u, T, dim=None):
    """The common ``(u, T)`` that conservation fixes: ``u = Σ m_i n_i u_i / Σ m_i n_i``,
    ``T = (Σ_i (m_i n_i |u_i|² + d n_i T_i) − (Σ m_i n_i)|u|²)/(d Σ n_i)`` (``d``: ``dim``,
    default the length of the ``u_i``; 3 in axisymmetric velocity space)."""
    m, n, u, T = (np.asarray(a, float) for a in (masses, n, u, T))
    d = u.shape[1] if dim is None else int(dim)
    rho = m * n
    U = rho @ u / rho.sum()
    E2 = np.sum(rho * np.einsum("ia,ia->i", u, u)) + d * np.sum(n * T)
    return U, (E2 - rho.sum() * U @ U) / (d * n.sum())


def temperature_odes(masses, coupling, n, T0, t, d):
    """``γ = 0``, all momenta zero (docs/models.rst, Multispecies Landau and Infinite-mass limit):
    ``dT_i/dt = 2(d−1) Σ_j c_ij n_j (T_j − T_i)/(m_i m_j)``, a linear system solved
    exactly (matrix exponential).  Returns ``T(t)`` of shape ``(len(t), N)``."""
    from scipy.linalg import expm
    m, c, n = (np.asarray(a, float) for a in (masses, coupling, n))
    K = 2 * (d - 1) * c * n[None, :] / np.outer(m, m)
    A = K - np.diag(K.sum(axis=1))
    return np.array([expm(A * s) @ np.asarray(T0, float) for s in np.atleast_1d(t)])
