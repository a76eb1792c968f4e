r"""Landau–Fermi–Dirac equation (docs/models.rst, Landau–Fermi–Dirac; Golding–Gualdani–Zamponi), ``d = 2, 3``.

.. math::

   ∂_t f = ∇·∫ a(v − v_*) [F_* ∇f − F ∇_* f_*]\,dv_*, \qquad F = f(1 − εf),\ 0 ≤ f ≤ 1/ε,

with ``a(z) = C|z|^{γ+2}Π(z)`` (default the paper's Coulomb case ``γ = −3``,
``C = 1/(8π)``).  GENERIC gradient flow with the Fermi–Dirac entropy

.. math::  H_ε(f) = (1/ε) ∫ [εf \log(εf) + (1 − εf)\log(1 − εf)],  \qquad S = −H_ε,

entropy variable ``w = ∂H_ε/∂f = log(εf/(1 − εf))``, hence
``f = e^w/(ε(1 + e^w)) ∈ (0, 1/ε)`` for every real ``w``: the bounds hold at every
quadrature point by construction.  The friction is the shared two-point operator
(:class:`generic_fem.friction.two_point.TwoPointFriction`) with mobility ``m = F = f(1 − εf)``:
``F ∇w = ∇f``, so ``M(f) w`` is the equation.  Mass, momentum and energy are conserved
to the solver tolerance; ``H_ε`` decreases for every stepper.

Equilibria (Golding–Gualdani–Zamponi (1.4)): ``M_ε = a e^{−b|v−u|²}/(1 + εa e^{−b|v−u|²})``, with
``ρ = −(π/b)^{d/2} Li_{d/2}(−εa)/ε`` and ``∫|v − u|² M_ε = −(d/(2b))(π/b)^{d/2}
Li_{d/2+1}(−εa)/ε`` (``d = 3``: docs/models.rst, Landau–Fermi–Dirac; ``d = 2``: the same with
``Li_1(−z) = −log(1 + z)``); :func:`fermi_dirac_equilibrium` inverts them.
Scaling (Golding–Gualdani–Zamponi Corollary 1.2): if ``F`` solves the ``ε = 1`` equation with
``F(0) = ε f_in`` then ``f(t) = F(t/ε)/ε`` solves the ``ε`` equation.
"""
import numpy as np
import ufl
import firedrake as fd
from generic_fem.core.parameters import value, is_parameter

from generic_fem.core.errors import InvalidParameterError, InvalidStateError
from forms.landau import Landau

__all__ = ["LandauFermiDirac", "fermi_dirac_equilibrium", "fermi_dirac_maxwellian", "relative_entropy"]


class LandauFermiDirac(Landau):
    """The Landau–Fermi–Dirac equation: :class:`forms.landau.Landau` with the
    Fermi–Dirac entropy and mobility (friction, invariants, energy, dense matrix and
    exact Jacobian are inherited).

    :arg mesh: velocity mesh, ``d = 2`` or ``3``.
    :arg eps: ``ε > 0`` (``f < 1/ε``); a Real-space Function to differentiate with respect to it.
    :arg gamma: ``γ ∈ [−3, 1]`` (default ``−3``).
    :arg C: kernel constant (default ``1/(8π)``).
    """
    name = "landau_fermi_dirac"

    def __init__(self, mesh, eps=1.0, gamma=-3.0, C=1.0 / (8 * np.pi), degree=2, quadrature_degree=None, rule=None):
        eps_param, eps = eps, value(eps)     # ε may be a Real-space Function (a control)
        if not (np.isfinite(eps) and eps > 0):
            raise InvalidParameterError(f"LandauFermiDirac: eps must be positive, got {eps}")
        #: ``ε`` (its current value); :attr:`eps_ufl` is what the forms use
        self.eps = eps
        self.eps_ufl = eps_param if is_parameter(eps_param) else eps
        super().__init__(mesh, gamma=gamma, C=C, degree=degree, quadrature_degree=quadrature_degree, rule=rule)

    def check_parameters(self):
        e = value(self.eps_ufl)
        if not (np.isfinite(e) and e > 0):
            raise InvalidParameterError(f"LandauFermiDirac: eps has become {e} (it must stay positive; in a "
                                        "replay of a taped run, bound the control)")
        super().check_parameters()

    def mobility(self, f):
        """``F = f(1 − εf)``."""
        return f * (1 - self.eps_ufl * f)

    def entropy_density(self, f):
        e = self.eps_ufl
        # x log x -> 0 as x -> 0: guard the values that underflow to 0 in the far tails
        # (f = e^w/(ε(1+e^w)) is exactly 0 for w < −745) or round to 1/ε in a saturated core
        x, y = e * f, 1 - e * f
        xlx = ufl.conditional(ufl.gt(x, 0), x * ufl.ln(x), 0)
        yly = ufl.conditional(ufl.gt(y, 0), y * ufl.ln(y), 0)
        return -(xlx + yly) / e

    def density(self, w):
        e = self.eps_ufl
        # both branches are the same function; each one is overflow-free on its side
        return ufl.conditional(ufl.gt(w, 0), 1 / (e * (1 + ufl.exp(-w))), ufl.exp(w) / (e * (1 + ufl.exp(w))))

    def validate_density_values(self, values):
        msg = super().validate_density_values(values)
        if msg is None and np.any(values * self.eps >= 1):
            msg = (f"density must stay below 1/eps = {1 / self.eps:g} "
                   f"(max eps*f = {values.max() * self.eps:.6g})")
        return msg

    def moments(self, f):
        """``(ρ, u, ∫|v − u|² f)`` with the model's quadrature (collective)."""
        v = self.coordinates
        rho = fd.assemble(f * self.dx)
        u = np.zeros(self.dim)      # (in axisymmetric velocity space the drift is along v_∥ only)
        for i in self.velocity.momentum.values():
            u[i] = fd.assemble(v[i] * f * self.dx) / rho
        e2 = fd.assemble(self.speed2 * f * self.dx)
        return rho, u, e2 - rho * (u @ u)

    def equilibrium(self, f):
        """``M_ε`` (UFL) with the mass, momentum and energy of ``f`` and its ``(a, b, u)``."""
        rho, u, kin = self.moments(f)
        a, b = fermi_dirac_equilibrium(rho, kin, self.eps, self.velocity_dim)
        return fermi_dirac_maxwellian(self.coordinates, a, b, u, self.eps), (a, b, u)

    def describe(self):
        return (f"LandauFermiDirac(dim={self.velocity.label}, eps={self.eps:g}, gamma={self.gamma:g}, C={self.C:g}, "
                f"degree={self.degree}, N_q={self.pairs.n_global})")


def fermi_dirac_maxwellian(v, a, b, u, eps):
    """``M_ε = a e^{−b|v−u|²}/(1 + εa e^{−b|v−u|²})`` (UFL)."""
    z = v - ufl.as_vector([float(c) for c in u])
    g = float(a) * ufl.exp(-float(b) * ufl.dot(z, z))
    return g / (1 + float(eps) * g)


def _polylog(s, x):
    """``Li_s(x)`` for real ``x < 0`` (``Li_1(x) = −log(1 − x)``)."""
    if s == 1:
        return -float(np.log1p(-x))
    import mpmath
    return float(mpmath.re(mpmath.polylog(s, x)))


def fermi_dirac_equilibrium(rho, kinetic, eps, d):
    """``(a, b)`` of ``M_ε`` with mass ``ρ`` and ``∫|v − u|² M_ε = kinetic`` in ``R^d``.

    With ``z = εa``: ``ρ = −(π/b)^{d/2} Li_{d/2}(−z)/ε`` fixes ``b(z)``, and
    ``kinetic/ρ = (d/(2b)) Li_{d/2+1}(−z)/Li_{d/2}(−z)`` is solved for ``z`` (the ratio is
    monotone in ``z``).  As ``z → ∞`` ``M_ε`` tends to the saturated state ``(1/ε) 1_{|v−u|<R}``,
    the state of least energy for the given mass: data with less kinetic energy
    have no smooth equilibrium, and a :class:`~generic_fem.core.errors.InvalidStateError`
    says so."""
    from scipy.optimize import brentq
    if not (rho > 0 and kinetic > 0 and eps > 0):
        raise InvalidStateError(f"fermi_dirac_equilibrium: need rho, kinetic energy, eps > 0 "
                                f"(got {rho}, {kinetic}, {eps})")
    s = d / 2

    def b_of(lz):
        z = np.exp(lz)
        return np.pi * (-_polylog(s, -z) / (eps * rho)) ** (1 / s)

    def ratio(lz):
        z = np.exp(lz)
        return d / (2 * b_of(lz)) * _polylog(s + 1, -z) / _polylog(s, -z)

    # saturated (step) state: ρ = |B_R|/ε, kinetic = d/(d+2) R² ρ
    vol = np.pi ** s / _gamma_fn(s + 1)
    R = (eps * rho / vol) ** (1 / d)
    kin_min = d / (d + 2) * R ** 2 * rho
    if kinetic <= kin_min * (1 + 1e-9):
        raise InvalidStateError(
            f"no smooth Fermi-Dirac equilibrium: kinetic energy {kinetic:.6g} <= {kin_min:.6g}, that of the "
            f"saturated state (1/eps on a ball) with the same mass (the data are saturated)")
    target = kinetic / rho
    lo, hi = -40.0, 60.0
    if (ratio(hi) - target) > 0:
        raise InvalidStateError(f"no smooth Fermi-Dirac equilibrium: data too close to saturation "
                                f"(kinetic energy {kinetic:.6g}, saturated {kin_min:.6g})")
    lz = brentq(lambda x: ratio(x) - target, lo, hi, xtol=1e-14, rtol=1e-14)
    return np.exp(lz) / eps, b_of(lz)


def _gamma_fn(x):
    from math import gamma
    return gamma(x)


def relative_entropy(model, f, M):
    """``H_ε[f | M] = H_ε(f) − H_ε(M) − ⟨dH_ε(M), f − M⟩ ≥ 0`` (UFL 0-form value)."""
    e = model.eps
    wM = ufl.ln(e * M / (1 - e * M))
    H = lambda g: -model.entropy_density(g)  # noqa: E731
    return float(fd.assemble((H(f) - H(M) - wM * (f - M)) * model.dx))
