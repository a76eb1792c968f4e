r"""The discrete chain rule of an interval (docs "Checking J_T", identity 2).

With entropy variables ``w⁰, w¹`` and densities ``f⁰ = F(w⁰), f¹ = F(w¹)``, convexity of
``H`` gives ``⟨w⁰, Δf⟩ ≤ H(f¹) − H(f⁰) ≤ ⟨w¹, Δf⟩``, so

.. math::  α^* = \frac{H(f¹) − H(f⁰) − ⟨w⁰, Δf⟩}{⟨Δw, Δf⟩} ∈ [0, 1]

makes ``H(f¹) − H(f⁰) = ⟨w⁰ + α^*Δw, Δf⟩`` exact.  Used by the midpoint and
discrete-gradient steppers and by ``J_T^h``."""
import math

import numpy as np
import ufl
import firedrake as fd

from ..core.assembly import CompiledForms

__all__ = ["chain_rule_terms", "ChainRuleTerms", "chain_rule_defect_form", "alpha_star", "node_wise_rule",
           "NodeWiseChainRule"]


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


def node_wise_rule(model, scale=None):
    """The :class:`~generic_fem.solvers.motion_map.MotionMap` of the discrete gradient's
    chain rule on ``model`` (``scale``: its ``c``, default ``MotionMap.default_scale``, the
    default of the stepper option ``dg_motion_scale``), or ``None`` where the chain rule is the scalar one: under a
    Gauss rule (a node is not a point of the rule), with an auxiliary friction field, or
    for ``scale = 0``."""
    from .motion_map import MotionMap
    scale = MotionMap.default_scale if scale is None else scale
    if not scale or model.rule.kind != "nodal" or model.friction_auxiliary_space() is not None:
        return None
    return MotionMap(scale)


class NodeWiseChainRule:
    r"""The discrete chain rule of an interval with the node-wise ``θ`` of
    :class:`~generic_fem.solvers.motion_map.MotionMap`: ``θ_i = w⁰_i + d_i(α)``, ``d_i`` the
    root of ``d + (1 − α)/α σ(d) = Δw_i``, and ``α`` the root of
    ``Σ_i ω_i d_i(α) Δf_i = H(f¹) − H(f⁰) − ⟨w⁰, Δf⟩`` (unique: the left side rises from 0
    to ``⟨Δw, Δf⟩`` with ``α``).  For fixed Functions ``w0, w1`` (and densities)."""

    def __init__(self, model, w0, w1, motion, f0=None, f1=None):
        self.model, self.w0, self.w1, self.motion = model, w0, w1, motion
        self._f0, self._f1 = f0, f1
        self._terms = None    # compiled by alpha() (θ at a given α needs no form)

    def _owned(self, func):
        with func.dat.vec_ro as v:
            return v.getArray(readonly=True).copy()

    def d_values(self, alpha):
        """``d_i = θ_i − w⁰_i`` at the owned nodes for this ``α``."""
        return self.motion.inverse_values(self._owned(self.w1) - self._owned(self.w0), alpha)

    def alpha(self, tol=1e-15):
        """``(α*, status)``, ``status`` as :func:`alpha_star`'s (``"steady"``: ``α = ½``;
        ``"clamped"``: the terms leave no root in ``(0, 1)``)."""
        model = self.model
        if self._terms is None:
            f0 = model.density(self.w0) if self._f0 is None else self._f0
            f1 = model.density(self.w1) if self._f1 is None else self._f1
            self._terms = ChainRuleTerms(model, self.w0, self.w1, f0, f1)
            self._weights = ufl.inner(fd.TestFunction(model.V), f1 - f0) * model.dx
        num, den, noise = self._terms()
        if not abs(den) > noise:
            return 0.5, "steady"
        if not 0.0 < num < den:
            return (1.0 if num >= den else 0.0) if math.isfinite(num) else 0.5, "clamped"
        comm = self.model.mesh.comm
        b = self._owned(fd.assemble(self._weights))
        dw = self._owned(self.w1) - self._owned(self.w0)

        def rho(a):
            return comm.allreduce(float(np.dot(b, self.motion.inverse_values(dw, a)))) - num

        # regula falsi (Illinois) on [0, 1]: ρ(0) = −num < 0 < ρ(1) = den − num
        lo, hi, r_lo, r_hi, side = 0.0, 1.0, -num, den - num, 0
        a = num / den
        for _ in range(200):
            r = rho(a)
            if abs(r) <= tol * den or hi - lo <= tol:
                break
            if r < 0:
                lo, r_lo = a, r
                if side == -1:
                    r_hi *= 0.5
                side = -1
            else:
                hi, r_hi = a, r
                if side == 1:
                    r_lo *= 0.5
                side = 1
            a_new = (lo * r_hi - hi * r_lo) / (r_hi - r_lo)
            a = a_new if lo < a_new < hi else 0.5 * (lo + hi)
        return a, "ok"

    def theta(self, alpha, out):
        """Set ``out`` to ``θ = w⁰ + d(α)`` (a Function on ``V``) and return it."""
        with out.dat.vec_wo as v:
            v.setArray(self._owned(self.w0) + self.d_values(alpha))
        return out
