r"""When the nonlinear solve of a step has converged (docs/theory.rst, "Convergence criterion").

The test is on what the discrete equations determine: the density at the points of the
model's rule and the residual, whose entries are increments of ``∫ φ_i f``.  After at
least one iteration the last change of the density at the points must be below
``update_tol`` times its peak (per component), and either

* the residual passes ``snes_atol`` / ``snes_rtol``, or
* it has reached its round-off floor (below ``floor_rtol`` times the mass, not halving
  over three iterations) while the entropy balance
  ``⟨θ, R⟩ ≤ ½ Δt ⟨θ, M θ⟩ + structure_tol ∫ |w^n| f^n`` holds, so that the scheme's
  entropy inequality survives the residual ``R``, or
* (the local-error test, where the scheme allows it) the density has settled to ``κ``
  times the step's local-error estimate (its distance from a prediction of the step's
  order), the residual has fallen by ``κ`` from that reference and the balance holds
  with ``κ`` for ``½``.

A solve whose residual, above its floor, has not halved over ``stall_window``
iterations is stopped (as ``DIVERGED_MAX_IT``, with :attr:`StepConvergence.stalled`
set).  There is no test on the nodal change of ``w`` under the nodal rule: where ``f``
is far below the round-off of the coupled system that change is noise and never
settles.
"""
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

__all__ = ["StepConvergence"]


class StepConvergence:
    """The SNES convergence test of a step's solve (module docstring); an instance is
    the ``convergence_test`` of the :class:`~generic_fem.solvers.nonlinear_solver.NonlinearSolver`.

    :arg problem: the :class:`~generic_fem.solvers.step_problem.StepProblem`.
    :arg control: the :class:`~generic_fem.solvers.newton.EntropyNewtonControl` of the
        iteration (the density measure, the prediction, the entropy defect).
    :arg scalars: the compiled step scalars (``"dissipation"``, ``"mass"``,
        ``"entropy"``: :class:`~generic_fem.core.assembly.CompiledForms`).
    :arg nodal: the model's rule is the nodal one (else the nodal ``Δw`` must settle too).
    :arg update_tol, floor_rtol, structure_tol, stall_window, local_error_fraction: the
        stepper's options of those names.

    State read by the stepper: :attr:`local_test` (this solve may stop on the local-error
    test; the stepper's predictor sets it), :attr:`first_iterate_reference` (the local
    error is measured from the first iterate), :attr:`stalled`, :attr:`last_fnorm`,
    :attr:`last_change`.
    """

    def __init__(self, problem, control, scalars, nodal, update_tol, floor_rtol, structure_tol,
                 stall_window, local_error_fraction):
        self.problem, self.control, self.scalars, self.nodal = problem, control, scalars, nodal
        self.update_tol, self.floor_rtol, self.structure_tol = update_tol, floor_rtol, structure_tol
        self.stall_window, self.local_error_fraction = stall_window, local_error_fraction
        self.comm = problem.model.mesh.comm
        self.fnorms = []
        self._scales = None
        self.reset_local_test()
        self.new_solve()

    # ------------------------------------------------------------------ state
    def new_step(self):
        """A new sub-step (a new ``w^n``): ``∫|f^n|`` and ``∫|w^n| f^n`` are taken again."""
        self._scales = None

    def new_solve(self):
        self.stalled = False
        self.last_fnorm = float("nan")
        self.last_change = None
        self.last_crawl = 0

    def reset_local_test(self):
        """The tight tests only, until the predictor says otherwise."""
        self.local_test = False
        self.first_iterate_reference = False
        self.reference_damped = False

    def note_update(self, first, damped, crawling):
        """From the line-search pre-check: the update of this iteration was ``damped``
        (clipped or halved) and whether a node still ``crawl`` s at the update limit.
        A damped first step is not a linearly implicit Euler step: its distance from the
        solution may be of the order of the whole step, so the local-error test measured
        from it asks for ``κ²`` instead of ``κ``."""
        if first:
            self.last_crawl = 0
        if crawling:   # (the residual list holds iterations 0..it)
            self.last_crawl = len(self.fnorms)
        if first and damped and self.first_iterate_reference:
            self.reference_damped = True

    # ------------------------------------------------------------------ the test
    def __call__(self, snes, it, norms):
        R = PETSc.SNES.ConvergedReason
        _, _, fnorm = norms
        rtol, atol, _, max_it = snes.getTolerances()[:4]   # petsc4py order: rtol, atol, stol, max_it
        self.last_fnorm = fnorm
        if not np.isfinite(fnorm):
            return R.DIVERGED_FNORM_NAN
        if it == 0:
            self._fnorm0 = self._fnorm_reference = fnorm
            self.fnorms = [fnorm]
            self.control.start(snes.getSolution())
            return R.ITERATING
        self.fnorms.append(fnorm)
        change = self.control.update_measure(snes.getSolution())
        self.last_change = change
        if it == 1 and self.first_iterate_reference:
            self.control.set_prediction_to_last()
            self._fnorm_reference = fnorm
            self.local_test = True
            self.first_iterate_reference = False
        reason = None
        if change <= self.update_tol:
            if fnorm <= atol:
                reason = R.CONVERGED_FNORM_ABS
            elif fnorm <= rtol * self._fnorm0:
                reason = R.CONVERGED_FNORM_RELATIVE
            elif self.at_floor(fnorm) and self.entropy_balance_holds(snes):
                reason = R.CONVERGED_FNORM_ABS
        if reason is None and self.local_test:
            kappa = self.local_error_fraction ** (2 if self.reference_damped else 1)
            if (change <= kappa * self.control.prediction_distance()
                    and fnorm <= kappa * self._fnorm_reference
                    and self.entropy_balance_holds(snes, fraction=kappa)):
                reason = R.CONVERGED_FNORM_RELATIVE
        if reason is not None and (self.nodal or self.nodes_settled(snes)):
            return reason
        if it >= max_it:
            return R.DIVERGED_MAX_IT
        if self.stalls(fnorm):
            self.stalled = True
            return R.DIVERGED_MAX_IT
        if fnorm > 1e30 * max(self._fnorm0, atol):
            return R.DIVERGED_DTOL
        return R.ITERATING

    def nodes_settled(self, snes):
        """Gauss rule only: the last update of ``w`` is below ``update_tol`` at every node
        whose Jacobian diagonal is at least 1e-20 of the largest.  Under the Gauss rule
        the tails carry nodal modes of ``w`` that the density at the points hardly sees;
        accepting a step while they move let them grow over a run (docs/theory.rst,
        "Convergence criterion").  The nodal rule has no such modes and no such test."""
        y = np.abs(snes.getSolutionUpdate().getArray(readonly=True)[:self.control.n])
        w_rel = self.control.diagonal_weight
        if w_rel is not None:   # nodes whose rows are below round-off do not count
            y = np.where(w_rel >= 1e-20, y, 0.0)
        dw = self.comm.allreduce(float(np.max(y)) if y.size else 0.0, op=MPI.MAX)
        return dw <= self.update_tol

    def at_floor(self, fnorm):
        """The residual is below ``floor_rtol`` times the mass and has stopped
        decreasing (no halving over the last three iterations): its round-off floor."""
        if fnorm > self.floor_rtol * self.mass_scale():
            return False
        h = self.fnorms
        return len(h) >= 4 and fnorm > 0.5 * min(h[-4:-1])

    def stalls(self, fnorm):
        """No halving of the residual over the last ``stall_window`` iterations while it
        is above ``floor_rtol`` times the mass.  At a step size too large for it the
        Picard iteration cycles (near-saturated Fermi–Dirac data, Gauss rule, ``Δt = 2``:
        the residual wandered between 2.7 and 4.2 with clipped updates for 50 iterations);
        a crawl slower than a halving per ``stall_window`` iterations would not reach
        the tolerance within ``snes_max_it`` either.

        Iterations in which a node is still moving at the update limit, as in the
        iteration before and towards a target that came closer by at least half the
        limit (:attr:`~generic_fem.solvers.newton.EntropyNewtonControl.crawling`), do not
        count: a tail node that must rise by tens of units (its row asks for the inflow
        from its neighbours) climbs ``max_update`` per iteration while the residual
        stays flat until it arrives; the window counts from the last such iteration
        (``snes_max_it`` still bounds the solve).  A node that empties asks for ever
        larger falls and does not count."""
        k = self.stall_window
        h = self.fnorms
        if k <= 0 or len(h) - self.last_crawl <= k or fnorm <= self.floor_rtol * self.mass_scale():
            return False
        return min(h[-k:]) > 0.5 * h[-k - 1]

    def mass_scale(self):
        """``∫ |f^n|`` (once per step)."""
        if self._scales is None:
            self._scales = {k: self.scalars.value(k) for k in ("mass", "entropy")}
        return self._scales["mass"]

    def entropy_balance_holds(self, snes, fraction=0.5):
        """``⟨θ, R⟩ ≤ fraction · Δt ⟨θ, M θ⟩ + structure_tol ∫|w^n| f^n``, so that the
        entropy statement of the scheme survives the residual ``R``: for backward Euler
        and the minimizing movement (``θ = w^{n+1}``) convexity gives
        ``H^{n+1} − H^n ≤ ⟨θ, f^{n+1} − f^n⟩ = −Δt ⟨θ, M θ⟩ + ⟨θ, R⟩``; for the midpoint
        scheme ``α ≥ α*`` gives the same inequality and for the discrete gradient
        ``α = α*`` the equality.  Asked by the local-error test and by the round-off-floor
        test: a residual accepted at its floor (up to ``floor_rtol`` times the mass)
        leaves ``⟨θ, R⟩`` far above round-off where ``|θ|`` is large (the tails), for the
        second-order schemes as for the first-order ones."""
        p = self.problem
        Rvec = snes.getFunction()[0].getArray(readonly=True)
        theta = p.theta_values(snes.getSolution().getArray(readonly=True)[:self.control.n])
        val = self.control.entropy_defect(Rvec, theta)
        self.mass_scale()
        # the residual's own (f*, θ) coefficients are current; with forcing the
        # dissipation pair differs: no credit for it
        diss = self.scalars.value("dissipation") if p.dissipation_pair == p.nonlocal_pairs[0] else 0.0
        return val <= fraction * float(p.dt) * max(diss, 0.0) + self.structure_tol * self._scales["entropy"]
