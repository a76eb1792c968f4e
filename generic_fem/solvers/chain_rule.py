r"""The discrete chain rule of an interval (docs "Checking J_T", identity 2).

With entropy variables ``w⁰, w¹`` and densities ``f⁰ = F(w⁰), f¹ = F(w¹)``, convexity of
``H`` gives ``⟨w⁰, Δf⟩ ≤ H(f¹) − H(f⁰) ≤ ⟨w¹, Δf⟩``, so

.. math::  α^* = \frac{H(f¹) − H(f⁰) − ⟨w⁰, Δf⟩}{⟨Δw, Δf⟩} ∈ [0, 1]

makes ``H(f¹) − H(f⁰) = ⟨w⁰ + α^*Δw, Δf⟩`` exact.  Used by the midpoint and
discrete-gradient steppers and by ``J_T^h``."""
import math

import numpy as np
import ufl

from ..core.assembly import CompiledForms

__all__ = ["chain_rule_terms", "ChainRuleTerms", "chain_rule_defect_form", "alpha_star"]


def alpha_star(num, den, noise):
    """``(α*, status)`` from the terms of :func:`chain_rule_terms`: ``α* = num/den``.
    ``status`` is ``"ok"``, ``"steady"`` (``|den|`` at the round-off level ``noise`` of the
    numerator: the interval hardly moves and any ``α`` satisfies the chain rule to
    round-off; ``α = ½``) or ``"clamped"`` (``α*`` outside ``[0, 1]``, which convexity
    excludes when ``f = F(w)`` at the points: possible for densities given as UFL whose
    interpolated entropy variables are not ``dH(f)`` there; ``α`` is clamped)."""
    if not abs(den) > noise:
        return 0.5, "steady"
    alpha = num / den
    if not 0.0 <= alpha <= 1.0:
        return min(1.0, max(0.0, alpha)) if math.isfinite(alpha) else 0.5, "clamped"
    return alpha, "ok"


class ChainRuleTerms:
    """:func:`chain_rule_terms` for fixed Functions ``w0, w1`` (and densities ``f0, f1``),
    its forms compiled once (:class:`~generic_fem.core.assembly.CompiledForms`): calling it
    returns ``(num, den, noise)`` for their current values."""

    def __init__(self, model, w0, w1, f0=None, f1=None):
        f0 = model.density(w0) if f0 is None else f0
        f1 = model.density(w1) if f1 is None else f1
        dx = model.dx
        df = f1 - f0
        self._forms = CompiledForms({
            "H0": -model.S(f0), "H1": -model.S(f1),
            "lin0": ufl.inner(w0, df) * dx, "den": ufl.inner(w1 - w0, df) * dx,
            "abs_lin0": abs(ufl.inner(w0, df)) * dx,
        })

    def __call__(self):
        v = self._forms()
        H0, H1, den = v["H0"], v["H1"], v["den"]
        noise = 64 * np.finfo(float).eps * (abs(H0) + abs(H1) + v["abs_lin0"] + abs(den))
        return H1 - H0 - v["lin0"], den, noise


def chain_rule_terms(model, w0, w1, f0=None, f1=None):
    """``(num, den, noise)``: ``num = H(f¹) − H(f⁰) − ⟨w⁰, Δf⟩``, ``den = ⟨Δw, Δf⟩``
    (``α* = num/den``) and the rounding level of ``num`` (``64 ε`` times the sizes of its
    terms), all with the model's quadrature rule.  ``f0, f1`` default to ``F(w0), F(w1)``."""
    return ChainRuleTerms(model, w0, w1, f0, f1)()


def chain_rule_defect_form(model, w0, theta, f0, f1):
    """The defect ``δ = H(f¹) − H(f⁰) − ⟨θ, f¹ − f⁰⟩`` as a UFL 0-form (``θ = w⁰ + αΔw``:
    ``δ = num − α den`` of :func:`chain_rule_terms`), for differentiating it (the adjoint of
    the discrete-gradient scheme)."""
    return -model.S(f1) + model.S(f0) - ufl.inner(theta, f1 - f0) * model.dx
