r"""The spatial weight ``κ(x − x_*)`` of a two-point operator in phase space.

The fuzzy Landau operator (docs/models.rst, Fuzzy Landau) couples the points ``(x, v)`` and
``(x_*, v_*)`` of phase space with the weight ``κ(x − x_*) a(v − v_*)``.  On a periodic
interval ``T = ℝ/ℓℤ`` the model states ``κ`` as a UFL expression of one variable ``s``
(the separation), e.g. Duong–He, arXiv:2504.07666 (2.2) ``κ(s) = k₁ exp(−k₂⟨s⟩)``, ``⟨s⟩ = √(1 + s²)``, or
``κ ≡ 1``; the toolkit periodises it by the minimum image

.. math::  κ_ℓ(x − x_*) = κ(\operatorname{wrap}(x − x_*)), \qquad
           \operatorname{wrap}(s) ∈ [−ℓ/2, ℓ/2),\ s − \operatorname{wrap}(s) ∈ ℓℤ,

(for a decaying ``κ`` and ``ℓ`` several decay lengths long this is the sum over images
to within its tail; for ``κ ≡ 1`` it is exact).  ``κ`` must be even and positive on
``[−ℓ/2, ℓ/2]`` (then the operator is symmetric positive semidefinite): checked when the
weight is made.
"""
import numpy as np

from ..core.errors import InvalidParameterError
from .pair_weights import scalar_function, evaluate

__all__ = ["PeriodicSpatialWeight"]


class PeriodicSpatialWeight:
    """``κ(x − x_*)`` on the periodic interval of length ``ℓ`` (module docstring).

    :arg kappa: a callable ``s ↦ κ(s)`` returning a UFL expression (or a number).
    :arg length: the period ``ℓ > 0``.
    :arg name: a label for logs.
    """

    def __init__(self, kappa, length, name=None):
        if not (np.isfinite(length) and length > 0):
            raise InvalidParameterError(f"spatial weight: the period must be positive, got {length}")
        self.length = float(length)
        self.expression, self._s = scalar_function(kappa, "spatial weight kappa(s)", real_functions=True)
        self.name = name or str(self.expression).replace(str(self._s), "s")
        s = np.linspace(-0.5 * self.length, 0.5 * self.length, 2001)
        k, km = self(s, wrap=False), self(-s, wrap=False)
        if not np.all(np.isfinite(k)) or np.any(k <= 0):
            bad = ~np.isfinite(k)
            j = int(np.argmax(bad)) if bad.any() else int(np.argmin(k))     # the worst sample
            raise InvalidParameterError(
                f"spatial weight kappa(s) = {self.name} must be finite and positive on "
                f"[-l/2, l/2] = [{-0.5 * self.length:g}, {0.5 * self.length:g}]: kappa({s[j]:.4g}) = {k[j]:.4g}")
        if np.max(np.abs(k - km)) > 1e-12 * np.max(np.abs(k)):
            j = int(np.argmax(np.abs(k - km)))
            raise InvalidParameterError(
                f"spatial weight kappa(s) = {self.name} must be even (else momentum and energy are not "
                f"conserved and M is not symmetric): kappa({s[j]:.4g}) = {k[j]:.6g}, kappa({-s[j]:.4g}) = {km[j]:.6g}")

    def wrap(self, s):
        """The minimum image of ``s`` in ``[−ℓ/2, ℓ/2)``."""
        ell = self.length
        return np.asarray(s, float) - ell * np.floor(np.asarray(s, float) / ell + 0.5)

    def __call__(self, s, wrap=True):
        """``κ_ℓ(s)`` for an array of separations."""
        return evaluate(self.expression, self._s, self.wrap(s) if wrap else s)

    def matrix(self, x, y):
        """``K_ab = κ_ℓ(x_a − y_b)``."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        return self(x[:, None] - y[None, :])

    def derivative_matrix(self, x, y, constant):
        """``∂κ_ℓ(x_a − y_b)/∂c`` for a ``Constant`` ``c`` in ``κ`` (UFL differentiation;
        the gradients of ``firedrake.adjoint`` with respect to, e.g., the width of ``κ``)."""
        import ufl
        import ufl.algorithms
        from .pair_weights import scalar_variable
        u = scalar_variable()
        e = ufl.replace(self.expression, {constant: u})
        de = ufl.algorithms.expand_derivatives(ufl.diff(e, u))
        de = ufl.replace(de, {u: constant})
        x, y = np.asarray(x, float), np.asarray(y, float)
        return evaluate(de, self._s, self.wrap(x[:, None] - y[None, :]))

    def integral(self, n=4001):
        """``∫_{−ℓ/2}^{ℓ/2} κ`` (Simpson's rule; the time scale of ``x``-independent data)."""
        from scipy.integrate import simpson
        s = np.linspace(-0.5 * self.length, 0.5 * self.length, n)
        return float(simpson(self(s, wrap=False), x=s))

    def __repr__(self):
        return f"PeriodicSpatialWeight({self.name}, length={self.length:g})"
