r"""Homogeneous Landau equation, one species (docs/models.rst, Homogeneous Landau), ``d = 2, 3``.

.. math::

   ∂_t f = Q(f, f) = ∇·∫ a(v − v_*) (f_* ∇f − f ∇_* f_*)\,dv_*, \qquad
   a(z) = C_γ |z|^{γ+2} Π(z),\ γ ∈ [−3, 1],

as a GENERIC gradient flow (``L = 0``): ``S = −∫ f log f`` (so ``H = ∫ f log f``),
``E = ½∫|v|² f``, entropy variable ``w = −dS = log f + 1`` (``f = e^{w−1}``), and the
two-point friction operator (docs/models.rst, Homogeneous Landau, weak form)

.. math::

   ⟨φ, M(f) g⟩ = ½ ∫∫ f f_* (∇φ − ∇_*φ_*) · a(v − v_*) (∇g − ∇_*g_*)\,dv\,dv_*,

so that ``M(f) dS = Q(f, f)``.  Its kernel (``∇̃φ = 0``) holds the collision invariants
``1, v, |v|²``: with a degree-2 space and one quadrature rule, mass, momentum and
energy are conserved exactly (to the nonlinear residual), the entropy decays for
every stepper of the core, and Maxwellians are discrete steady states (``w`` is a
quadratic polynomial, so ``∇w_q − ∇w_p ∥ v_q − v_p``).

The double integral is :class:`generic_fem.friction.two_point.TwoPointFriction` with mobility
``m = f``: compiled ``O(N_q²)`` pair sums for ``γ ≠ 0``, the exact ``O(N_q)`` moment
reduction for Maxwell molecules ``γ = 0``.

Reference solution (``γ = 0``, ``C = 1``): the BKW solution :func:`bkw`; anisotropic
relaxation of the second moment :func:`anisotropic_second_moment`.
"""
import numpy as np
import ufl
import firedrake as fd
from generic_fem.core.parameters import value, is_parameter

from generic_fem.models.model import GenericModel
from generic_fem.core.errors import InvalidParameterError
from generic_fem.friction.two_point import TwoPointFriction
from generic_fem.core.meshes import is_periodic
from generic_fem.kernels.pair_weights import PairWeight

__all__ = ["Landau", "maxwellian", "bkw", "bkw_K", "anisotropic_second_moment"]


class Landau(GenericModel):
    """``∂_t f = Q(f, f)`` with kernel ``a(z) = C|z|^{γ+2}Π(z)``.

    :arg mesh: velocity mesh, ``d = 2`` or ``3`` (box or ball; natural boundaries).
    :arg gamma: ``γ ∈ [−3, 1]`` (``0`` Maxwell molecules, ``−3`` Coulomb).
    :arg C: ``C_γ > 0`` (Golding–Gualdani–Zamponi uses ``1/(8π)`` with ``γ = −3``; the fuzzy-Landau and multispecies papers use 1).
    :arg degree: Lagrange degree of the entropy variable, ``≥ 2`` (the space must
        contain ``|v|²``).
    :arg rule: the one quadrature rule, ``"nodal"`` (the nodes of ``V_h``) or ``"gauss"``
        (:class:`~generic_fem.core.quadrature.QuadratureRule`; default ``None``:
        :data:`~generic_fem.core.quadrature.DEFAULT_RULE`); the pair sums run over its ``N_q``
        points.
    :arg quadrature_degree: ``rule="gauss"`` only: its degree (default ``2·degree + 2``).
    :arg weight: another kernel ``a(z) = C A(|z|)Π(z)``: a
        :class:`~generic_fem.kernels.pair_weights.PairWeight` with ``A`` in UFL (then ``gamma``
        is ignored), e.g. the exponentially cut-off Coulomb ``PairWeight(lambda r: exp(-r/λ)/r)``.
    :arg summation: the pair sums' summation: ``"auto"`` (default), ``"direct"``, ``"lattice"``
        (FFT convolution on the nodes of a box of uniform cells) or ``"fmm"`` (the fast multipole
        method, 3D Coulomb only; :class:`~generic_fem.friction.two_point.TwoPointFriction`,
        ``model.pairs.set_summation`` changes it and its tolerance).
    """
    name = "landau"
    supported_dimensions = (2, 3)
    min_degree = 2
    supports_axisymmetric = True

    def __init__(self, mesh, gamma=0.0, C=1.0, degree=2, quadrature_degree=None, weight=None, rule=None,
                 summation="auto"):
        name = type(self).__name__
        if is_parameter(gamma):
            raise InvalidParameterError(f"{name}: gamma must be a number (the kernel A = r^(gamma+2) is compiled "
                                        "for it): it can not be a control; C can")
        if weight is not None:
            if not isinstance(weight, PairWeight):
                raise InvalidParameterError(f"{name}: weight must be a PairWeight, got {weight!r}")
            gamma = weight.gamma if weight.gamma is not None else np.nan
            if weight.gamma is not None and not -3.0 <= gamma <= 1.0:
                raise InvalidParameterError(f"{name}: the power weight has gamma = {gamma:g}, outside [-3, 1]")
        elif not (np.isfinite(gamma) and -3.0 <= gamma <= 1.0):
            raise InvalidParameterError(f"{name}: gamma must lie in [-3, 1], got {gamma}")
        C_param, C = C, value(C)     # C may be a Real-space Function (a control)
        if not (np.isfinite(C) and C > 0):
            raise InvalidParameterError(f"{name}: the kernel constant C must be positive, got {C}")
        if int(degree) == degree and degree < self.min_degree:
            raise InvalidParameterError(
                f"{name}: degree {degree} does not contain |v|^2 (energy would not be conserved); "
                f"use degree >= {self.min_degree}")
        if is_periodic(mesh):
            raise InvalidParameterError(f"{name}: a velocity mesh must not be periodic (got a periodic mesh; "
                                        "phase-space models take those)")
        super().__init__(mesh, degree, quadrature_degree, rule)
        # γ of a power-law kernel (nan for another weight)
        self.gamma, self.C = float(gamma), float(C)
        self.weight = weight if weight is not None else PairWeight.power(self.gamma)
        #: the two-point friction operator: weight ``A``, coupling ``C``, mobility ``m(f)``
        self.pairs = TwoPointFriction(mesh, self.rule, self.dx, self.weight,
                                      mobility=lambda f: self.mobility(f), coupling=C_param, summation=summation)

    def entropy_density(self, f):
        return -f * ufl.ln(f)

    def energy_density(self, f):
        return 0.5 * self.speed2 * f

    def density(self, w):
        return ufl.exp(w - 1.0)

    def mobility(self, f):
        """The pointwise mobility ``m(f)`` of the two-point operator (``f`` here;
        subclasses such as Fermi–Dirac change it)."""
        return f

    def friction_operators(self):
        return (self.pairs,)

    def invariant_densities(self):
        v = self.coordinates
        out = {"mass": fd.Constant(1.0)}
        for name, i in self.velocity.momentum.items():   # (only v_∥ in axisymmetric velocity space)
            out[name] = v[i]
        out["energy"] = 0.5 * self.speed2
        return out

    def maxwellian(self, density=1.0, velocity=None, temperature=1.0):
        """``ρ (2πT)^{−d/2} exp(−|v−u|²/(2T))`` as UFL (in axisymmetric velocity space
        ``d = 3`` and ``u = (0, u_∥)``: give ``velocity`` as ``(0, u_∥)``)."""
        if velocity is not None and np.shape(velocity) != (self.dim,):
            raise InvalidParameterError(f"maxwellian: the drift must have {self.dim} components, got {velocity!r}")
        if self.velocity.kind == "axisymmetric" and velocity is not None and np.asarray(velocity, float)[0] != 0:
            raise InvalidParameterError("maxwellian: in axisymmetric velocity space the drift is (0, u_par)")
        return maxwellian(self.coordinates, density, velocity, temperature, dim=self.velocity_dim,
                          speed2=None if self.velocity.kind == "cartesian" else self.speed2)

    def describe(self):
        return (f"Landau(dim={self.velocity.label}, weight={self.weight.name}, C={self.C:g}, degree={self.degree}, "
                f"rule={self.rule.describe()}, N_q={self.pairs.n_global})")


def maxwellian(v, density=1.0, velocity=None, temperature=1.0, dim=None, speed2=None):
    """UFL Maxwellian ``ρ (2πT)^{−d/2} exp(−|v−u|²/(2T))`` (``d``: ``dim``, default the
    length of ``v``; ``speed2``: ``|v|²`` as UFL when ``v·v`` is not its best form, then
    ``|v−u|² = |v|² − 2u·v + |u|²``)."""
    n = v.ufl_shape[0]
    d = n if dim is None else int(dim)
    u = np.zeros(n) if velocity is None else np.asarray(velocity, float)
    if not (temperature > 0 and density > 0):
        raise InvalidParameterError(f"maxwellian: density and temperature must be positive, "
                                    f"got {density}, {temperature}")
    if speed2 is None:
        z = v - ufl.as_vector([float(c) for c in u])
        q = ufl.dot(z, z)
    else:
        q = speed2 - 2 * sum(float(c) * v[i] for i, c in enumerate(u) if c != 0) + float(u @ u)
    return density * (2 * np.pi * temperature) ** (-d / 2) * ufl.exp(-q / (2 * temperature))


def bkw_K(t, d, C=1.0):
    """``K(t) = 1 − (2/(d+2)) exp(−2(d−1) C t)`` of the BKW solution."""
    return 1.0 - 2.0 / (d + 2) * np.exp(-2.0 * (d - 1) * C * t)


def bkw(v, t, C=1.0, dim=None):
    """The BKW solution (docs/models.rst, Homogeneous Landau; ``γ = 0``, mass 1, momentum 0, ``∫|v|²f = d``):

    ``f = (2πK)^{−d/2} exp(−|v|²/(2K)) [((d+2)K − d)/(2K) + (1−K)/(2K²) |v|²]``.

    ``v`` is a UFL vector (or a numpy array of shape ``(n, d)``); positive for ``t > 0``.
    ``dim``: the velocity dimension ``d`` when it is not the length of ``v`` (3 for the
    meridian components ``(v_⊥, v_∥)`` of axisymmetric velocity space: the solution is
    radial)."""
    if isinstance(v, np.ndarray):
        d = v.shape[1] if dim is None else int(dim)
        K = bkw_K(t, d, C)
        r2 = (v ** 2).sum(axis=1)
        return (2 * np.pi * K) ** (-d / 2) * np.exp(-r2 / (2 * K)) * (
            ((d + 2) * K - d) / (2 * K) + (1 - K) / (2 * K ** 2) * r2)
    d = v.ufl_shape[0] if dim is None else int(dim)
    K = float(bkw_K(t, d, C))
    r2 = ufl.dot(v, v)
    return (2 * np.pi * K) ** (-d / 2) * ufl.exp(-r2 / (2 * K)) * (
        ((d + 2) * K - d) / (2 * K) + (1 - K) / (2 * K ** 2) * r2)


def anisotropic_second_moment(theta0, mass, t, C=1.0):
    """``Θ(t)`` solving ``dΘ/dt = C(4m (tr Θ) I − 4dm Θ)`` (``γ = 0``, momentum 0):
    the trace is conserved and the traceless part decays like ``exp(−4dmCt)``."""
    theta0 = np.asarray(theta0, float)
    d = theta0.shape[0]
    iso = np.trace(theta0) / d * np.eye(d)
    return iso + (theta0 - iso) * np.exp(-4 * d * mass * C * t)
