r"""The nonlinear solve of one time step: PETSc SNES with the stepper's safeguards.

:class:`StepSolver` solves the residual of a
:class:`~generic_fem.solvers.step_problem.StepProblem` for its unknown, starting from the
unknown's current values (the stepper's initial guess).  It owns

* the :class:`~generic_fem.solvers.nonlinear_solver.NonlinearSolver` (the SNES, its PETSc
  options and prefix), rebuilt after a PETSc error that may leave it mid-solve;
* the refresh of the nonlocal coefficients before every residual and Jacobian (skipped
  when the Jacobian is taken at the state of the last residual) and the lagged mobility;
* the update map of every Newton iteration (the line-search pre-check): the step limit
  and Anderson mixing of :class:`~generic_fem.solvers.newton.EntropyNewtonControl`, then
  the safeguard (halve the update while the residual would grow tenfold);
* the convergence test (:class:`~generic_fem.solvers.convergence.StepConvergence`);
* with ``nonlocal_jacobian="exact"``, Newton's exact Jacobian applied matrix-free
  (the frozen-coefficient matrix plus the correction of
  :meth:`~generic_fem.solvers.step_problem.StepProblem.exact_jacobian_correction`);
* the invariant projection after a converged solve
  (:class:`~generic_fem.solvers.invariants.InvariantProjection`);
* the words of a failure (:mod:`~generic_fem.solvers.failures`).

It decides nothing about ``Δt``, ``α`` or retries: the
:class:`~generic_fem.solvers.steppers.Stepper` does.
"""
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from ..core.assembly import Assembler
from .convergence import StepConvergence
from .failures import failure_text, rejection_line
from .invariants import InvariantProjection
from .newton import EntropyNewtonControl
from .nonlinear_solver import NonlinearSolver

__all__ = ["StepSolver"]


class StepSolver:
    """The solve of one step (module docstring).

    :arg problem: the :class:`~generic_fem.solvers.step_problem.StepProblem`.
    :arg state: the Function that receives every solve's last iterate (the stepper's ``w``).
    :arg scalars: the step's compiled scalar forms (``H``, ``dissipation``, ``mass``,
        ``entropy``), which the convergence test reads.
    :arg knobs: the option values of :mod:`~generic_fem.solvers.stepper_options`
        (``anderson_depth`` resolved).
    :arg solver_parameters: the PETSc options (a dict, without the knobs).
    :arg options_prefix: their prefix.
    :arg exact: ``(form, direction)`` of
        :meth:`~generic_fem.solvers.step_problem.StepProblem.exact_jacobian_correction`
        (Newton's exact Jacobian, matrix-free), or ``None``/``(None, None)``.
    """

    #: the residual growth the safeguard tolerates before halving an update
    safeguard_growth = 10.0

    def __init__(self, problem, state, scalars, knobs, solver_parameters, options_prefix, exact=None):
        self.problem = problem
        self.model = model = problem.model
        self.state = state
        self.solver_parameters = solver_parameters
        self.options_prefix = options_prefix
        #: the update map and density tests of the iteration
        self.control = EntropyNewtonControl(model, model.V, knobs["max_update"], knobs["anderson_depth"])
        if problem.has_state_map:     # the unknown is not w^{n+1} itself
            self.control.state_map = (problem.state_values, problem.state_ratio)
        #: the convergence test (the SNES's)
        self.convergence = StepConvergence(
            problem, self.control, scalars, model.rule.kind == "nodal",
            update_tol=knobs["update_tol"], floor_rtol=knobs["floor_rtol"],
            structure_tol=knobs["structure_tol"], stall_window=knobs["stall_window"],
            local_error_fraction=knobs["local_error_fraction"])
        self.safeguard = knobs["safeguard"]
        self.project_invariants = knobs["project_invariants"]
        #: the invariant projection after every solve (``None`` when off)
        self.projection = (InvariantProjection(model, problem.w_new, problem.w_old)
                           if self.project_invariants else None)
        #: the exact Jacobian's nonlocal correction (a 1-form) and its direction Function
        self.exact_form, self.direction = exact if exact is not None else (None, None)
        #: the PETSc error of the last solve, if any
        self.last_error = None
        self._trial = None
        self._refreshed_at = None
        self._build()

    # ------------------------------------------------------------------ set-up
    def _build(self):
        p = self.problem
        self.solver = NonlinearSolver(
            p.residual, p.z, J=p.jacobian,
            solver_parameters=self.solver_parameters, options_prefix=self.options_prefix,
            pre_function=self.refresh, pre_jacobian=self._refresh_jacobian,
            convergence_test=self.convergence, precheck=self._precheck)
        if self.exact_form is not None:
            self._exact_assembler = Assembler(self.exact_form)
            self.solver.use_operator(self._exact_jacobian_action)

    def _exact_jacobian_action(self, x, y):
        """``y = A x`` for Newton's exact Jacobian ``A``: the assembled frozen-coefficient
        matrix (assembled at the current iterate) plus the nonlocal correction in the
        direction ``x``."""
        with self.direction.dat.vec_wo as dv:
            x.copy(dv)
        for f, g in self.problem.nonlocal_pairs:
            for op in self.model.friction_operators():
                op.refresh_linearization(f, g)
        self.solver.jacobian.petscmat.mult(x, y)
        with self._exact_assembler().dat.vec_ro as cv:
            y.axpy(1.0, cv)

    # ------------------------------------------------------------------ callbacks
    def refresh(self, X=None):
        """The nonlocal coefficients at the state ``X`` (the solver's vector; ``None``: at
        the problem's Functions, outside a residual evaluation)."""
        for f, g in self.problem.nonlocal_pairs:
            self.model.refresh_friction(f, g)
        self._refreshed_at = None if X is None else X.getArray(readonly=True).copy()

    def _refresh_jacobian(self, X=None):
        """Before a Jacobian: the nonlocal coefficients (unless the last refresh was at
        this very state, as after the residual Newton evaluates first) and, for the
        lagged-mobility Jacobian, ``θ`` at the current iterate."""
        last = self._refreshed_at
        same = X is not None and last is not None and np.array_equal(last, X.getArray(readonly=True))
        if not self.model.mesh.comm.allreduce(same, op=MPI.LAND):   # (refresh is collective)
            self.refresh(X)
        self.problem.lag_mobility()

    def _precheck(self, x, y):
        """Line-search pre-check: the density-space update
        (:meth:`~generic_fem.solvers.newton.EntropyNewtonControl.update`), then the safeguard."""
        snes = self.solver.snes
        P = snes.getJacobian()[1]
        diag = P.getDiagonal().getArray(readonly=True)[:self.control.n]
        first = snes.getIterationNumber() == 0
        clipped = self.control.update(x, y, diagonal=diag, first=first)
        halved = self._safeguard(snes, x, y) if self.safeguard > 0 else False
        self.convergence.note_update(first, clipped or halved, self.control.crawling)
        return True

    def _safeguard(self, snes, x, y):
        """Backtrack the step ``x − λy`` (``λ = 1, ½, ¼, …``, at most ``safeguard``
        halvings) while the residual norm would grow more than tenfold: a guard
        against the blow-up of a frozen-coefficient step, not a descent condition (the
        Picard direction need not be one for the residual norm).  The residual of the
        accepted trial is the one SNES evaluates next, so its pair sums are reused."""
        f0 = snes.getFunctionNorm()
        if not np.isfinite(f0) or f0 == 0:
            return False
        if self._trial is None:
            self._trial = (x.duplicate(), x.duplicate())
        W, F = self._trial
        halvings = 0
        for _ in range(self.safeguard):
            W.waxpy(-1.0, y, x)
            self.solver.compute_residual(W, F)
            fn = F.norm()
            if np.isfinite(fn) and fn <= self.safeguard_growth * f0:
                # SNES evaluates the residual at W next: the solver remembers it
                return halvings > 0
            y.scale(0.5)
            halvings += 1
        return True

    # ------------------------------------------------------------------ solve
    def solve(self):
        """One SNES solve from the unknown's values; the last iterate (projected onto the
        invariants when converged) is written to ``state``.  Returns ``(ok, reason, its,
        lin_its)``."""
        p = self.problem
        self.refresh()
        self.last_error = None
        self.convergence.new_solve()
        try:
            self.solver.solve()
        except PETSc.Error as exc:  # e.g. a failed factorization inside the PC
            self.last_error = exc
            p.z_w.assign(p.w_old)
            self.solver.destroy()
            self._build()  # PETSc objects may be left mid-solve: start afresh
        snes = self.solver.snes
        reason = snes.getConvergedReason()
        its, lits = snes.getIterationNumber(), snes.getLinearSolveIterations()
        finite = self.model.mesh.comm.allreduce(bool(np.all(np.isfinite(p.z_w.dat.data_ro))), op=MPI.LAND)
        ok = reason > 0 and finite and not isinstance(self.last_error, PETSc.Error)
        p.sync_state()
        if ok and self.project_invariants:
            if self.projection is None:   # (switched on after construction)
                self.projection = InvariantProjection(self.model, p.w_new, p.w_old)
            self.projection()
            if p.w_new is not p.z_w:
                p.set_unknown(p.w_new)
        self.state.assign(p.w_new)
        return ok, reason, its, lits

    def residual_values(self):
        """The owned entries of ``w`` of the last residual SNES evaluated."""
        return self.solver.snes.getFunction()[0].getArray(readonly=True)[:self.control.n]

    def jacobian_diagonal(self, out):
        """Write the diagonal of the step's Jacobian (the matrix the solver assembles) at
        the problem's current Functions, with the nonlocal coefficients refreshed there,
        into the Function ``out`` (on the unknown's space)."""
        P = self.solver.assemble_jacobian()
        with out.dat.vec_wo as d:
            P.getDiagonal(d)
        return out

    def new_step(self):
        """Forget the last step's tests and projection reference."""
        self.convergence.new_step()
        if self.projection is not None:
            self.projection.new_step()

    # ------------------------------------------------------------------ failures
    def rejection_reason(self, dt, reason, its):
        """One short line for the history (:func:`~generic_fem.solvers.failures.rejection_line`)."""
        return rejection_line(dt, reason, its, self.last_error, self.problem.method, self.convergence)

    def failure_summary(self, dt, reason, its):
        """``(dt, text)``: why the last solve failed and where (collective;
        :func:`~generic_fem.solvers.failures.failure_text`)."""
        residual = None
        # the rows of the failed solve's residual: not after a PETSc error (the solver
        # was rebuilt, its vectors are new) nor after a converged solve that the scheme
        # rejected (the midpoint α rounds)
        if not isinstance(self.last_error, PETSc.Error) and reason <= 0:
            residual = self.solver.snes.getFunction()[0].getArray(readonly=True)
        return dt, failure_text(dt, reason, its, self.last_error, self.convergence, self.control,
                                residual, self.problem.state_values(self.problem.z_w.dat.data_ro))
