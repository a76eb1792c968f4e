r"""How the second-order schemes find ``α`` (``θ = w^n + α (w^{n+1} − w^n)``).

With ``Δw = w^{n+1} − w^n`` and ``Δf = F(w^{n+1}) − F(w^n)``, convexity of ``H`` puts

.. math::  α^* = \frac{H(f^{n+1}) − H(f^n) − ⟨w^n, Δf⟩}{⟨Δw, Δf⟩} ∈ [0, 1]

(:mod:`generic_fem.solvers.chain_rule`), and ``H(f^{n+1}) − H(f^n) = ⟨θ_{α*}, Δf⟩``:

* the midpoint scheme (``Scheme.alpha == "bound"``) starts at ``α = ½`` and raises ``α``
  above ``α*`` of its solution (re-solving) until ``α ≥ α*``: then
  ``H^{n+1} − H^n ≤ ⟨θ, Δf⟩ = −Δt ⟨θ, M θ⟩ + ⟨θ, R⟩``;
* the discrete gradient (``"solved"``) solves ``δ(α) = H^{n+1} − H^n − ⟨θ_α, Δf⟩ = 0``
  by a secant iteration, one warm-started solve per round, so the discrete chain rule
  holds with equality to what the solve determines (:meth:`AlphaRounds.solve_noise`); a
  loosely solved step whose defect that level leaves above ``κ Δt ⟨θ, M θ⟩`` is solved
  on to the tight tests, and a tightly solved one whose defect is settled only by that
  level, above the round-off of ``H``, once more with the floor test lower
  (:meth:`AlphaRounds._deeper`: a solve stopped early "at its floor" left ``α`` 4e-5
  from the root and a gradient 1.4e-5 off).

Under the discrete gradient's node-wise chain rule (:mod:`~generic_fem.solvers.motion_map`,
the default under the nodal rule) ``θ_i − w^n_i = d_i(α)`` and the secant runs on the
same ``δ`` with the slope ``⟨∂d/∂α, Δf⟩``; ``α ≥ 0.01`` (the map is singular at 0).
With the node-wise floor of :mod:`~generic_fem.solvers.stiff_damping` (nodal rule),
``θ_i = w^n_i + max(α, a_i)Δw_i`` and ``⟨θ − w^n, Δf⟩ = Σ_i ω_i max(α, a_i) Δw_i Δf_i``:
the midpoint's test ``α ≥ α*`` still gives the inequality (``α_i ≥ α`` and
``Δw_i Δf_i ≥ 0``); the discrete gradient's secant runs on ``δ`` with the slope
``Σ_{α > a_i} ω_i Δw_i Δf_i``.  Its ``α`` stays in ``[alpha_min, 1]``: where the damped
nodes take so much of the balance that ``δ < 0`` even at ``alpha_min`` (near-saturated
Fermi–Dirac data on a coarse box: ``α*`` would be about 0.17) or at an ``α`` below every
floor (where ``δ`` no longer depends on ``α``), the step is taken there
with ``H^{n+1} − H^n < ⟨θ, Δf⟩`` (its ``chain_rule_defect`` negative): the entropy
falls by more than the dissipation, never by less.  ``alpha_min = ¼``: ``α = 0`` makes
the map from the unknown to ``w^{n+1}`` singular at floored nodes (and solves nearly
explicit: in an earlier variant two 3D sweep cases failed at ``t = 0``); with ``¼`` the
sweep's 154 cases run (``benchmarks/robustness.py --sweep discrete-gradient --set
dg_damping_after=0``); ``½`` would take the typical step (``α*`` a little below ``½``)
with the inequality.
"""
import numpy as np
import ufl

from ..core.assembly import CompiledForms
from .chain_rule import ChainRuleTerms, alpha_star

__all__ = ["AlphaRounds"]


class AlphaRounds:
    """The ``α`` of a step of the midpoint or discrete-gradient scheme (module docstring).

    :arg problem: the :class:`~generic_fem.solvers.step_problem.StepProblem` (its ``α``,
        ``Δt``, ``w^n`` and unknown).
    :arg w: the stepper's state ``w^{n+1}`` after a solve, and ``f_new = F(w)`` (UFL).
    :arg scalars: the compiled step scalars (``"dissipation"``).
    :arg convergence: the :class:`~generic_fem.solvers.convergence.StepConvergence` (whether
        this step is loosely solved; a round may switch it to the tight tests).
    :arg resolve: ``resolve() → (ok, reason, its, lin_its)``: solve the step again from
        the current state with the current ``α``.
    :arg residual: ``residual() →`` the last solve's residual at the owned nodes.
    :arg alpha_tol, alpha_rounds, local_error_fraction: the stepper's options.
    """

    #: discrete gradient: the smallest ``α`` the secant takes (a step whose defect is
    #: still negative there is taken with the inequality; :meth:`solve`)
    alpha_min = 0.25

    def __init__(self, problem, w, f_new, scalars, convergence, resolve, residual,
                 alpha_tol, alpha_rounds, local_error_fraction):
        self.problem, self.w, self.scalars, self.convergence = problem, w, scalars, convergence
        self.resolve, self.residual = resolve, residual
        self.alpha_tol, self.alpha_rounds, self.local_error_fraction = alpha_tol, alpha_rounds, local_error_fraction
        self.comm = problem.model.mesh.comm
        self._f_new = f_new
        self._terms = None     # compiled at the first use
        #: the chain-rule defect of the last step (discrete gradient)
        self.last_defect = None
        #: discrete gradient: whether the last step was taken with the inequality
        #: (``δ < 0`` at ``alpha_min``; :meth:`solve`)
        self.inequality = False
        #: discrete gradient: whether the last step's ``α`` was determined by its chain rule
        #: (strictly inside ``(lo, 1)``, ``lo`` = 0 or ``alpha_min`` under a floor, and
        #: ``δ`` depends on it: ``⟨∂θ/∂α, Δf⟩`` above its noise), so that the adjoint
        #: differentiates through it
        self.active = False

    @property
    def alpha(self):
        return self.problem.alpha

    def terms(self):
        """``(num, den, noise)`` of :func:`~generic_fem.solvers.chain_rule.chain_rule_terms`
        for ``(w^n, w)``."""
        if self._terms is None:
            p = self.problem
            self._terms = ChainRuleTerms(p.model, p.w_old, self.w, p.f_old, self._f_new)
            self._theta_terms = CompiledForms({
                "lin": ufl.inner(p.theta - p.w_old, self._f_new - p.f_old) * p.model.dx,
                "slope": ufl.inner(p.theta_alpha, self._f_new - p.f_old) * p.model.dx})
        return self._terms()

    def theta_terms(self, den=None):
        """``(⟨θ − w^n, Δf⟩, ⟨∂θ/∂α, Δf⟩)`` for the current ``α`` (and floor): with a
        scalar ``α`` these are ``α⟨Δw, Δf⟩`` and ``⟨Δw, Δf⟩`` (``den``, if given, is
        ``⟨Δw, Δf⟩`` already assembled); with the node-wise floor
        ``Σ_i ω_i max(α, a_i) Δw_i Δf_i`` and the same sum over the nodes with ``α ≥ a_i``;
        under the node-wise chain rule ``Σ_i ω_i d_i Δf_i`` and ``Σ_i ω_i ∂d_i/∂α Δf_i``."""
        if not self.floored():    # (the scalar formulas, as the exact discrete gradient's)
            if den is None:
                den = self.terms()[1]
            return float(self.alpha) * den, den
        if self._terms is None:
            self.terms()
        v = self._theta_terms()
        return v["lin"], v["slope"]

    def floored(self):
        """Whether ``θ_i − w^n_i`` is not ``αΔw_i`` at some node: a floor of ``α``, or the
        node-wise chain rule (collective)."""
        return self.problem.node_wise_alpha()

    def alpha_star(self):
        """The smallest ``α`` with ``H(f¹) − H(f⁰) ≤ ⟨θ_α, f¹ − f⁰⟩``; ``½`` for a step that
        hardly moves (``⟨Δw, Δf⟩`` at the rounding level of ``H``: any ``α`` will do)."""
        return alpha_star(*self.terms())[0]

    def defect(self):
        """``(δ, den, noise)``: ``δ = H(f¹) − H(f⁰) − ⟨θ_α, Δf⟩`` for the current ``α``,
        ``den = ⟨Δw, Δf⟩`` and the level below which ``δ`` is not determined: the
        round-off of ``H`` or what the accepted residual leaves in it
        (:meth:`solve_noise`), whichever is larger."""
        return self._defect_and_slope()[:3]

    def _defect_and_slope(self):
        """``(δ, den, noise, ⟨∂θ/∂α, Δf⟩)`` with one assembly of each form."""
        num, den, noise = self.terms()
        lin, slope = self.theta_terms(den)
        return num - lin, den, max(noise, self.solve_noise()), slope

    def solve_noise(self):
        """The part of the chain-rule defect that the last solve does not determine.

        A residual ``r_i`` leaves ``∫ φ_i f¹`` undetermined by ``r_i``, and ``δ`` changes
        with ``f¹_i`` at the rate ``w¹_i − θ_i = (1 − α)Δw_i``: so ``δ`` is known to about
        ``Σ_i |w¹_i − θ_i| |r_i|``.  Where the densities of the moderate tails are
        determined only to ``r_i/ω_i`` this is far above the round-off of ``H``: Landau
        ``γ = 0``, ``R = 6``, discrete gradient, re-solving one ``α`` from three starts
        (residuals 1e-14) gave ``δ`` from −4.8e-13 to −3.3e-12 against a round-off level
        of 7e-14 and ``Σ |w¹ − θ||r| = 5e-13``, so the secant on ``α`` wandered for 12
        rounds; the factor 10 covers that spread."""
        p = self.problem
        r = self.residual()
        n = len(r)
        u = np.asarray(p.z_w.dat.data_ro).reshape(-1)[:n]
        if r.shape != u.shape:
            return 0.0
        if self.floored():
            local = float(np.sum(np.abs(p.state_values(u) - p.theta_values(u)) * np.abs(r)))
        else:
            w0 = np.asarray(p.w_old.dat.data_ro).reshape(-1)[:n]
            local = float(np.sum(np.abs((1.0 - float(self.alpha)) * (u - w0)) * np.abs(r)))
        return 10.0 * self.comm.allreduce(local)

    def allowance(self, den):
        """The chain-rule defect a step stopped by the local-error test may keep:
        ``κ Δt ⟨θ, M θ⟩`` (with ``⟨θ, R⟩`` below the same, ``H^{n+1} − H^n ≤
        −(1 − 2κ) Δt ⟨θ, M θ⟩``), or the round-off of ``H`` or ``alpha_tol ⟨Δw, Δf⟩``
        where larger (a step at equilibrium dissipates nothing)."""
        diss = max(self.scalars.value("dissipation"), 0.0)
        return max(self.local_error_fraction * float(self.problem.dt) * diss, self.terms()[2],
                   self.alpha_tol * abs(den))

    def _again(self):
        """Solve again from the last ``w^{n+1}`` (with the current ``α``)."""
        self.problem.set_unknown(self.w)
        return self.resolve()

    def solve(self):
        """Discrete gradient: solve ``α = α*(w^{n+1}(α))`` (secant iteration on the defect
        ``δ(α) = H¹ − H⁰ − ⟨θ_α, Δf⟩``, each round a solve warm-started from the last
        ``w^{n+1}``; ``α`` in ``[alpha_min, 1]``).  With the node-wise floor of
        :class:`~generic_fem.solvers.stiff_damping.StiffModeDamping` the damped nodes hold
        ``α_i = a_i``: where their share of ``⟨Δw, Δf⟩`` leaves no root above
        :attr:`alpha_min` (``δ < 0`` there), the step is taken at ``alpha_min`` with the
        inequality ``H¹ − H⁰ < ⟨θ, Δf⟩`` (``δ``, negative, is the step's
        ``chain_rule_defect``).  Returns ``(ok, its, lits)``; not ok if a solve fails or
        the defect does not settle in ``alpha_rounds``."""
        its = lits = 0
        prev = None
        conv = self.convergence
        # the exact discrete gradient: α in [0, 1] and no inequality; with an active floor
        # (dg_damping_after) α in [alpha_min, 1]
        damped = self.problem.floor_top() > 0.0
        # (the node-wise chain rule's map from the unknown is singular at α = 0)
        lo = self.alpha_min if damped else 0.01 if self.problem.motion is not None else 0.0
        self.inequality = False
        deeper = False
        for _ in range(self.alpha_rounds):
            delta, den, noise, slope = self._defect_and_slope()
            self.last_defect = delta
            a = float(self.alpha)
            # α is a function of the states (the adjoint differentiates δ = 0) only where
            # the step moves and α is not clamped
            self.active = bool(slope > noise and lo < a < 1.0)
            tol = max(self.alpha_tol * abs(den), noise)
            settled = abs(delta) <= tol
            # the damped nodes alone take more than H¹ − H⁰ − ⟨w⁰, Δf⟩: the inequality
            below = damped and delta < -tol and (a <= lo or not slope > noise)
            if settled or below:
                if settled and conv.local_test and abs(delta) > self.allowance(den):
                    # a loosely solved step can leave δ undetermined far above
                    # κ Δt ⟨θ, M θ⟩, and H could then grow: solve it to the tight tests
                    conv.local_test = False
                    ok, _, n_its, n_lits = self._again()
                    its += n_its
                    lits += n_lits
                    if not ok:
                        return False, its, lits
                    continue
                if settled and not deeper and not conv.local_test and \
                        abs(delta) > max(self.alpha_tol * abs(den), 10.0 * self.terms()[2]):
                    # δ settled only to what the solve determines, above the round-off of
                    # H: a solve stopped as "at its floor" early leaves α that far from the
                    # chain rule's root (measured: Fermi–Dirac, Δt = 0.8, δ = −6e-10 of
                    # ⟨Δw, Δf⟩ = 1.5e-5, α off by 4e-5 and a gradient off by 1.4e-5).
                    # Solve on once, the floor test 1000 times lower, and go on
                    deeper = True
                    ok, n_its, n_lits = self._deeper()
                    its += n_its
                    lits += n_lits
                    if ok:
                        continue
                if below:
                    self.active = False
                    self.inequality = True
                return True, its, lits
            if not den > 0:
                return False, its, lits
            if slope > noise:
                # the secant on ρ(α) = δ/⟨Δw, Δf⟩ (= α* − α without a floor: nearly linear
                # in α, where δ itself is not: ⟨Δw, Δf⟩ moves with α); the first round takes
                # the change of α that δ asks for at fixed w^{n+1}
                r = delta / den
                if prev is not None and r != prev[1] and a != prev[0]:
                    a_new = a - r * (a - prev[0]) / (r - prev[1])
                else:
                    a_new = a + delta / slope
                prev = (a, r)
            else:                        # every node held by its floor: raise α past them
                a_new, prev = a + 0.25, None
            self.alpha.assign(min(1.0, max(lo, a_new)))
            ok, _, n_its, n_lits = self._again()
            its += n_its
            lits += n_lits
            if not ok:
                return False, its, lits
        self.last_defect, den, noise, slope = self._defect_and_slope()
        a = float(self.alpha)
        self.active = bool(slope > noise and lo < a < 1.0)
        tol = max(self.alpha_tol * abs(den), noise)
        if conv.local_test:
            tol = min(tol, self.allowance(den))
        self.inequality = bool(damped and self.last_defect < -tol and (a <= lo or not slope > noise))
        return abs(self.last_defect) <= tol or self.inequality, its, lits

    #: the factor on ``floor_rtol`` of :meth:`_deeper`'s solve
    deeper_floor = 1e-3

    def _deeper(self):
        """Solve again at the same ``α`` with the convergence test's floor lowered by
        :attr:`deeper_floor`; where that solve fails the last state is kept.  Returns
        ``(ok, its, lits)``."""
        conv = self.convergence
        saved_w, saved_floor = self.w.copy(deepcopy=True), conv.floor_rtol
        conv.floor_rtol = saved_floor * self.deeper_floor
        try:
            ok, _, its, lits = self._again()
        finally:
            conv.floor_rtol = saved_floor
        if not ok:
            self.w.assign(saved_w)
            self.problem.set_unknown(self.w)
        return ok, its, lits

    def raise_to_bound(self, rounds=8):
        """Midpoint: raise ``α`` to a little above ``α*`` of the solution and solve again,
        until ``α ≥ α*`` (at most ``rounds`` solves).  Returns ``(ok, its, lits, last)``
        with ``last = (reason, its)`` of the last solve (``None`` if none was needed)."""
        its = lits = 0
        last = None
        for _ in range(rounds):
            astar = self.alpha_star()
            if astar <= float(self.alpha) + 1e-14:
                return True, its, lits, last
            self.alpha.assign(min(1.0, astar + 0.25 * (astar - 0.5) + 1e-10))
            ok, reason, n_its, n_lits = self._again()
            its += n_its
            lits += n_lits
            last = (reason, n_its)
            if not ok:
                return False, its, lits, last
        return False, its, lits, last
