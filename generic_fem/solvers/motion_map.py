r"""The discrete gradient's node-wise chain rule: a node that moves far leans implicit.

The discrete-gradient scheme takes ``θ_i = w^n_i + α_i Δw_i`` with the discrete chain
rule ``H(f^{n+1}) − H(f^n) = ⟨θ, f^{n+1} − f^n⟩`` as an equality (Gonzalez's condition; the
schemes of Jüngel–Stefanelli–Trussardi, arXiv:1806.05563, in entropy variables).  With one
scalar ``α_i = α`` the equality fixes ``α = α*``, a weighted mean of the nodes' own
ratios, typically a little below ``½``; on a mode of rate ``λ`` the step then multiplies
the distance to equilibrium by ``(1 − (1 − α)λΔt)/(1 + αλΔt) → −(1 − α)/α``, beyond
``−1`` for ``α < ½``: the stiff modes of unresolved tails (a nearly empty node next to a
fuller one, ``λΔt`` in the thousands) are amplified, and on such data the scalar scheme
failed (``benchmarks/robustness.py --sweep discrete-gradient``).

With a scalar ``α``, ``w^{n+1} = θ + β(θ − w^n)``, ``β = (1 − α)/α``: the state is an
extrapolation from ``θ``.  :class:`MotionMap` caps that extrapolation node by node,

.. math::

   w^{n+1}_i = θ_i + β\,σ(θ_i − w^n_i), \qquad σ(d) = \frac{d}{\sqrt{1 + (d/c)^2}},

so ``|w^{n+1}_i − θ_i| < βc``.  A node that hardly moves keeps ``α_i = α`` (to
``O(d²)``: ``θ`` changes by ``O(Δw³)``, the scheme stays second order); a node that moves
by many ``c`` has ``α_i = d_i/Δw_i → 1`` (backward Euler on it: the stiff mode damped).
Every ``α_i`` lies in ``[α, 1]`` and rises from 0 to 1 with ``α`` at fixed ``Δw_i``
(``k(d) = d + βσ(d)`` is increasing, ``k' = 1 + βσ' ≥ 1``, and falls with ``α``), so
the chain rule ``Σ_i ω_i (θ_i − w^n_i) Δf_i = H^{n+1} − H^n − ⟨w^n, Δf⟩`` (between 0 and
``⟨Δw, Δf⟩`` by convexity) has exactly one root ``α`` for every pair of states: ``θ`` is
a function of the curve alone, and ``J_T^h`` measures with the same ``θ``
(:class:`~generic_fem.solvers.chain_rule.NodeWiseChainRule`).  (Every ``α_i ∈ [α, 1]``
needs ``Δw_iΔf_i ≥ 0`` node by node and component by component: an entropy that is a sum
over the species of convex functions of each density, as for every shipped model.)

In the step's equations (:class:`~generic_fem.solvers.step_problem.StepProblem`) the
unknown is ``u`` with ``θ = w^n + α(u − w^n) ∈ V_h``, so ``d = α(u − w^n)`` and
``w^{n+1} = w^n + k(d)`` node by node; ``w^{n+1}`` enters only ``F(w^{n+1})`` at the
nodes (nodal rule).
"""
import math

import numpy as np
import ufl

__all__ = ["MotionMap", "componentwise"]


def componentwise(fn, a, b):
    """``fn(a, b)`` component by component (UFL vectors; scalars as they are): the map
    acts on each species' entropy variable."""
    if a.ufl_shape == ():
        return fn(a, b)
    return ufl.as_vector([fn(a[i], b[i]) for i in range(a.ufl_shape[0])])


class MotionMap:
    """The map ``d ↦ Δw = k(d) = d + βσ(d)`` of the discrete gradient's node-wise chain
    rule (module docstring), in UFL and on nodal values (numpy).

    :arg scale: ``c`` (units of ``w``): the extrapolation from ``θ`` to ``w^{n+1}`` is
        at most ``c(1 − α)/α``.
    """

    #: ``c`` of the stepper option ``dg_motion_scale`` and of ``J_T^h``'s chain rule
    default_scale = 1.0

    def __init__(self, scale=default_scale):
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"the motion scale must be a positive number, got {scale!r}")
        self.scale = float(scale)

    # --- UFL (one scalar component: see componentwise)
    def sigma(self, d):
        """``σ(d) = d/√(1 + (d/c)²)`` (UFL or numpy)."""
        return d * (1.0 + (d / self.scale) ** 2) ** -0.5

    def step(self, d, alpha):
        """``Δw = k(d) = d + (1 − α)/α σ(d)`` (UFL)."""
        return d + (1.0 - alpha) / alpha * self.sigma(d)

    def theta_alpha(self, d, alpha):
        """``∂d/∂α`` at fixed ``Δw`` (UFL): ``σ(d)/(α² k'(d))``."""
        return self.sigma(d) / (alpha ** 2 * self._k_prime(d, alpha))

    def _k_prime(self, d, alpha):
        return 1.0 + (1.0 - alpha) / alpha * (1.0 + (d / self.scale) ** 2) ** -1.5

    # --- nodal values
    def step_values(self, d, alpha):
        """``Δw = k(d)`` on nodal values."""
        return d + (1.0 - alpha) / alpha * self.sigma(d)

    def derivatives(self, d, alpha):
        """``(k'(d), ∂k/∂α)`` on nodal values."""
        return self._k_prime(d, alpha), -self.sigma(d) / alpha ** 2

    def inverse_values(self, dw, alpha, iterations=64):
        """``d`` with ``k(d) = Δw`` on nodal values: ``d = tΔw`` with ``t ∈ [α, 1]`` (``α_i``),
        by bisection on ``k(tΔw)/Δw − 1``, which rises from ``≤ 0`` at ``t = α`` to ``≥ 0`` at
        ``t = 1``, then two Newton steps (``k' ≥ 1``)."""
        dw = np.asarray(dw, dtype=float)
        if alpha >= 1.0:
            return dw.copy()
        if not alpha > 0.0:            # the limit α → 0: θ = w^n
            return np.zeros(dw.shape)
        lo = np.full(dw.shape, float(alpha))
        hi = np.ones(dw.shape)
        moving = dw != 0.0
        x = np.where(moving, dw, 1.0)
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            above = self.step_values(mid * x, alpha) / x >= 1.0
            hi = np.where(above, mid, hi)
            lo = np.where(above, lo, mid)
        d = 0.5 * (lo + hi) * x
        for _ in range(2):
            d = d - (self.step_values(d, alpha) - x) / self._k_prime(d, alpha)
        return np.where(moving, d, 0.0)
