r"""Linear Fokker–Planck (Ornstein–Uhlenbeck) equation in velocity, ``d = 1, 2, 3``.

.. math::  ∂_t f = ∇·(T ∇f + (v − u) f)

as a gradient flow (``L = 0``) with the friction operator ``M(f) g = −∇·(f ∇g)``,
weak form ``⟨φ, M(f) g⟩ = ∫ f ∇g·∇φ``, and the entropy (negative free energy)

.. math::  S(f) = −∫ [ T (f \log f − f) + ½ |v − u|² f ],

so ``w = −dS = T log f + ½|v − u|²`` and ``f = exp((w − ½|v − u|²)/T)``; then
``M(f) dS = ∇·(f ∇(T log f + ½|v−u|²)) = ∇·(T∇f + (v−u) f)``.  Conserved: mass.
Equilibrium: the Maxwellian with mean ``u`` and temperature ``T``.

Exact solution (reference for tests): Gaussian data stay Gaussian with mean ``μ`` and
covariance ``Σ``, ``μ' = −(μ − u)``, ``Σ' = −2Σ + 2T I``, i.e.
``μ(t) = u + (μ₀ − u) e^{−t}``, ``Σ(t) = T I + (Σ₀ − T I) e^{−2t}``.
(Issue 3 §5; docs/checking_jt.rst with ``L = 0``.)
"""
import numpy as np
import ufl
import firedrake as fd
from generic_fem.core.parameters import is_parameter, value

from generic_fem.models.model import GenericModel
from generic_fem.core.errors import InvalidParameterError

__all__ = ["FokkerPlanck", "gaussian", "exact_moments"]


class FokkerPlanck(GenericModel):
    """Ornstein–Uhlenbeck relaxation to ``M_{u,T}``.

    :arg mesh: velocity mesh of dimension 1, 2 or 3.
    :arg temperature: ``T > 0`` (a number, or a Real-space Function to differentiate with respect to:
        :func:`~generic_fem.core.parameters.real_parameter`).
    :arg drift: ``u`` (sequence of length ``d``; default 0).
    """
    name = "fokker_planck"
    supported_dimensions = (1, 2, 3)
    min_degree = 1

    def __init__(self, mesh, temperature=1.0, drift=None, degree=2, quadrature_degree=None, rule=None):
        super().__init__(mesh, degree, quadrature_degree, rule)
        #: ``T`` in the forms: the Real-space Function given as ``temperature`` (a control
        #: for ``firedrake.adjoint``) or the number
        self.temperature = temperature if is_parameter(temperature) else float(temperature)
        temperature = value(temperature)
        if not (np.isfinite(temperature) and temperature > 0):
            raise InvalidParameterError(f"FokkerPlanck: temperature must be positive, got {temperature}")
        drift = np.zeros(self.dim) if drift is None else np.asarray(drift, dtype=float)
        if drift.shape != (self.dim,) or not np.all(np.isfinite(drift)):
            raise InvalidParameterError(
                f"FokkerPlanck: drift must be a finite vector of length {self.dim}, got {drift}")
        self.T = temperature
        self.u = drift
        v = self.coordinates
        self._u = ufl.as_vector([float(c) for c in drift])
        self.potential = 0.5 * ufl.dot(v - self._u, v - self._u)

    def check_parameters(self):
        T = value(self.temperature)
        if not (np.isfinite(T) and T > 0):
            raise InvalidParameterError(f"FokkerPlanck: the temperature has become {T} (it must stay positive; "
                                        "in a replay of a taped run, bound the control)")

    def entropy_density(self, f):
        return -(self.temperature * (f * ufl.ln(f) - f) + self.potential * f)

    def density(self, w):
        return ufl.exp((w - self.potential) / self.temperature)

    def friction(self, f, g, phi):
        return f * ufl.inner(ufl.grad(g), ufl.grad(phi)) * self.dx

    def invariant_densities(self):
        return {"mass": fd.Constant(1.0)}

    def maxwellian(self, density=1.0, mean=None, temperature=None):
        """``ρ (2πT)^{−d/2} exp(−|v−μ|²/(2T))`` (default: the equilibrium)."""
        T = self.T if temperature is None else temperature
        mean = self.u if mean is None else mean
        return gaussian(self.coordinates, density, mean, T * np.eye(self.dim))


def gaussian(v, density, mean, cov):
    """UFL Gaussian ``ρ N(mean, cov)`` in ``d = len(mean)`` dimensions."""
    mean = np.asarray(mean, dtype=float).reshape(-1)
    cov = np.asarray(cov, dtype=float).reshape(len(mean), len(mean))
    d = len(mean)
    P = np.linalg.inv(cov)
    norm = density / np.sqrt((2 * np.pi) ** d * np.linalg.det(cov))
    z = [v[i] - mean[i] for i in range(d)]
    q = sum(P[i, j] * z[i] * z[j] for i in range(d) for j in range(d))
    return norm * ufl.exp(-0.5 * q)


def exact_moments(t, mean0, cov0, drift, temperature):
    """Mean and covariance at time ``t`` of the OU flow (exact)."""
    mean0 = np.asarray(mean0, float)
    cov0 = np.asarray(cov0, float)
    d = len(mean0)
    mean = drift + (mean0 - drift) * np.exp(-t)
    cov = temperature * np.eye(d) + (cov0 - temperature * np.eye(d)) * np.exp(-2 * t)
    return mean, cov
