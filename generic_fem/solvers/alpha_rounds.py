r"""How the second-order schemes find ``α`` (``θ = w^n + α (w^{n+1} − w^n)``).

With ``Δw = w^{n+1} − w^n`` and ``Δf = F(w^{n+1}) − F(w^n)``, convexity of ``H`` puts

.. math::  α^* = \frac{H(f^{n+1}) − H(f^n) − ⟨w^n, Δf⟩}{⟨Δw, Δf⟩} ∈ [0, 1]

(:mod:`generic_fem.solvers.chain_rule`), and ``H(f^{n+1}) − H(f^n) = ⟨θ_{α*}, Δf⟩``:

* the midpoint scheme (``Scheme.alpha == "bound"``) starts at ``α = ½`` and raises ``α``
  above ``α*`` of its solution (re-solving) until ``α ≥ α*``: then
  ``H^{n+1} − H^n ≤ ⟨θ, Δf⟩ = −Δt ⟨θ, M θ⟩ + ⟨θ, R⟩``;
* the discrete gradient (``"solved"``) solves ``α = α*(w^{n+1}(α))`` by a secant
  iteration, one warm-started solve per round, so the discrete chain rule holds with
  equality to what the solve determines (:meth:`AlphaRounds.solve_noise`); a loosely
  solved step whose defect that level leaves above ``κ Δt ⟨θ, M θ⟩`` is solved on to
  the tight tests.
"""
import numpy as np

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
        #: discrete gradient: whether the last step's ``α`` was determined by its chain rule
        #: (strictly inside ``(0, 1)``, ``⟨Δw, Δf⟩`` above its noise), so that the adjoint
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
        return self._terms()

    def alpha_star(self):
        """The smallest ``α`` with ``H(f¹) − H(f⁰) ≤ ⟨θ_α, f¹ − f⁰⟩``; ``½`` for a step that
        hardly moves (``⟨Δw, Δf⟩`` at the rounding level of ``H``: any ``α`` will do)."""
        return alpha_star(*self.terms())[0]

    def defect(self):
        """``(δ, den, noise)``: ``δ = H(f¹) − H(f⁰) − ⟨θ_α, Δf⟩`` for the current ``α``,
        ``den = ⟨Δw, Δf⟩`` and the level below which ``δ`` is not determined: the
        round-off of ``H`` or what the accepted residual leaves in it
        (:meth:`solve_noise`), whichever is larger."""
        num, den, noise = self.terms()
        return num - float(self.alpha) * den, den, max(noise, self.solve_noise())

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
        w1 = np.asarray(p.z_w.dat.data_ro).reshape(-1)[:n]
        w0 = np.asarray(p.w_old.dat.data_ro).reshape(-1)[:n]
        if r.shape != w1.shape:
            return 0.0
        local = float(np.sum(np.abs((1.0 - float(self.alpha)) * (w1 - w0)) * np.abs(r)))
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
        self.problem.z_w.assign(self.w)
        return self.resolve()

    def solve(self):
        """Discrete gradient: solve ``α = α*(w^{n+1}(α))`` (secant iteration on
        ``r(α) = α* − α``, each round a solve warm-started from the last ``w^{n+1}``).
        Returns ``(ok, its, lits)``; not ok if a solve fails or the defect does not drop
        below ``alpha_tol ⟨Δw, Δf⟩`` (or its round-off level) in ``alpha_rounds``."""
        its = lits = 0
        prev = None
        conv = self.convergence
        for _ in range(self.alpha_rounds):
            delta, den, noise = self.defect()
            self.last_defect = delta
            # α is a function of the states (the adjoint differentiates δ = 0) only where
            # the step moves and α is not clamped
            self.active = bool(den > noise and 0.0 < float(self.alpha) < 1.0)
            if abs(delta) <= max(self.alpha_tol * abs(den), noise):
                if not conv.local_test or abs(delta) <= self.allowance(den):
                    return True, its, lits
                # a loosely solved step can leave δ undetermined far above κ Δt ⟨θ, M θ⟩,
                # and H could then grow: solve this step to the tight tests
                conv.local_test = False
                ok, _, n_its, n_lits = self._again()
                its += n_its
                lits += n_lits
                if not ok:
                    return False, its, lits
                continue
            if not den > 0:
                return False, its, lits
            a = float(self.alpha)
            r = delta / den          # α* − α
            if prev is not None and r != prev[1]:
                a_new = a - r * (a - prev[0]) / (r - prev[1])
            else:
                a_new = a + r
            prev = (a, r)
            self.alpha.assign(min(1.0, max(0.0, a_new)))
            ok, _, n_its, n_lits = self._again()
            its += n_its
            lits += n_lits
            if not ok:
                return False, its, lits
        self.last_defect, den, noise = self.defect()
        self.active = bool(den > noise and 0.0 < float(self.alpha) < 1.0)
        tol = max(self.alpha_tol * abs(den), noise)
        if conv.local_test:
            tol = min(tol, self.allowance(den))
        return abs(self.last_defect) <= tol, its, lits

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
            ok, reason, n_its, n_lits = self.resolve()
            its += n_its
            lits += n_lits
            last = (reason, n_its)
            if not ok:
                return False, its, lits, last
        return False, its, lits, last
