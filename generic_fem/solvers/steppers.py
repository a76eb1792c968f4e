r"""Structure-preserving time steppers in entropy variables.

All schemes solve for the entropy variable ``w^{n+1} ∈ V_h`` with PETSc SNES
(``solver_parameters`` and an options prefix are passed through, so ``-snes_monitor``
etc. work) and share one residual, docs/checking_jt.rst (G) tested with ``φ ∈ V_h``:

.. math::

   ⟨φ, F(w^{n+1}) − F(w^n)⟩/Δt − ⟨φ, L(f_*) dE(f_*)⟩ + ⟨φ, M(f_*) θ⟩ = 0

(``dS = −w``), where the schemes differ in the mobility state ``f_*`` and in the
argument ``θ`` of ``M``:

``"backward-euler"``
    ``θ = w^{n+1}``, ``f_* = F(w^{n+1})``.  First order.  Convexity of ``H = −S``
    gives ``H^{n+1} − H^n ≤ ⟨w^{n+1}, f^{n+1} − f^n⟩ = −Δt ‖w^{n+1}‖²_{M} ≤ 0``
    (for ``L = 0``, or when ``⟨w, L dE⟩`` vanishes).
``"minimizing-movement"``
    frozen mobility ``f_* = f^n`` in ``M``, ``θ = w^{n+1}``: the Euler–Lagrange equation of
    ``min_f H(f) + ‖f − f^n‖²_{M(f^n)^{-1}}/(2Δt)``; a Poisson part is taken implicitly,
    ``L(f^{n+1}) dE(f^{n+1})`` (with ``L(f^n)`` transport would be explicit and the
    entropy could grow).  Each step reports both sides
    of the discrete energy-dissipation inequality
    ``H^{n+1} + (Δt/2) ⟨w^{n+1}, M(f^n) w^{n+1}⟩ ≤ H^n``.  First order.
``"midpoint"``
    ``θ = w^n + α (w^{n+1} − w^n)``, ``f_* = F(θ)``, with ``α = ½`` corrected upwards
    just enough that ``H(f^{n+1}) − H(f^n) ≤ ⟨θ, f^{n+1} − f^n⟩``, i.e.
    ``α ≥ α* = (H^{n+1} − H^n − ⟨w^n, Δf⟩)/⟨Δw, Δf⟩ ∈ [0, 1]`` (a weighted mean of the
    pointwise discrete-gradient ratios); ``α* − ½ = O(Δt)``, so the step is second
    order and ``H^{n+1} − H^n ≤ −Δt ‖θ‖²_M`` holds exactly.  Node by node ``α`` has a
    floor that damps stiff, fast-moving modes (the tails of a coarse mesh), which the
    midpoint rule would flip in sign (:mod:`~generic_fem.solvers.stiff_damping`); it is
    ``½`` wherever ``Δt`` resolves the node's motion.
``"discrete-gradient"``
    as ``"midpoint"``, but ``α`` is solved for: ``α = α*(w^{n+1})`` (secant iteration on
    ``α*(α) − α``, one warm-started solve per round), so the discrete chain rule
    ``H(f^{n+1}) − H(f^n) = ⟨θ*, f^{n+1} − f^n⟩`` holds with equality (to what the solve
    determines: :meth:`~generic_fem.solvers.alpha_rounds.AlphaRounds.solve_noise`) and
    ``H^{n+1} − H^n = −Δt ‖θ*‖²_M + Δt ⟨θ*, L dE⟩``.  Its solutions are the curves whose
    discrete ``J_T^h`` (:func:`~generic_fem.drivers.grazing.pair_energy_dissipation`) vanishes.
    Under the nodal rule ``θ*`` is node-wise (:mod:`~generic_fem.solvers.motion_map`:
    a node that moves by many ``dg_motion_scale`` in a step leans to backward Euler, so
    its stiff modes are not amplified; the chain rule stays an equality).  On request
    (the option ``dg_damping_after``; nodal rule) it takes instead a scalar ``α`` and a
    node-wise floor of it after failed attempts: a damped step is no longer exact (where
    the floored nodes leave no root of the chain rule above ``alpha_min = ¼`` it is taken
    there with ``H^{n+1} − H^n < ⟨θ, Δf⟩``, its ``chain_rule_defect`` negative;
    :mod:`~generic_fem.solvers.alpha_rounds`).  Second order.

Every scheme conserves ``∫ φ f`` for the test functions ``φ`` in the kernel of ``M``
and of ``L``'s action (mass, momentum, energy) up to the SNES residual, since
``F(w)`` and the invariants use one quadrature rule.

A failed solve (PETSc's converged reason < 0, a non-finite state) rejects the
sub-step; it is retried with half its size up to ``max_rejections`` times and then
:class:`~generic_fem.core.errors.StepFailedError` is raised.  :meth:`Stepper.advance`
always covers its ``Δt``: the sub-steps after a rejection double again until the
step is covered.
"""
import math
import ufl
import firedrake as fd

from ..core.errors import InvalidParameterError, StepFailedError
from ..core.petsc_options import discard_foreign_options
from ..core.taping import annotating
from ..core.assembly import CompiledForms, no_annotation
from .adjoint import step_block
from .alpha_rounds import AlphaRounds
from .initial_guess import InitialGuess
from .schemes import SCHEMES, scheme_named
from .step_problem import StepProblem
from .step_solver import StepSolver
from .stiff_damping import StiffModeDamping
from .stepper_options import KNOBS, read_knobs
from .substeps import StepController

__all__ = ["Stepper", "SCHEMES", "DEFAULT_SOLVER_PARAMETERS"]


#: Newton with a direct solve of the Jacobi-scaled Jacobian
#: (:class:`~generic_fem.solvers.linear_solvers.DiagonalScaledLU`); converge on the residual
#: (conservation is only as exact as the nonlinear residual), step-length test off.
DEFAULT_SOLVER_PARAMETERS = {
    "snes_type": "newtonls",
    "snes_linesearch_type": "basic",
    "snes_rtol": 1e-11,
    "snes_atol": 1e-13,
    "snes_stol": 0.0,
    "snes_max_it": 50,
    "ksp_type": "preonly",
    "pc_type": "python",
    "pc_python_type": "generic_fem.solvers.linear_solvers.DiagonalScaledLU",
}

#: Krylov settings of the exact (matrix-free) Jacobian of two-point operators
EXACT_JACOBIAN_PARAMETERS = {
    "ksp_type": "gmres",
    "ksp_rtol": 1e-8,
    "ksp_atol": 1e-20,
    "ksp_max_it": 40,
    "ksp_gmres_restart": 40,
}


def _knob(owner, name, attribute=None):
    """A Stepper property reading and setting (checked) the knob ``name``, held as
    ``attribute`` (default ``name``) by the part ``owner`` (a dotted path from the stepper)."""
    attribute = attribute or name

    def part(self):
        obj = self
        for a in owner.split("."):
            obj = getattr(obj, a)
        return obj
    return property(lambda self: getattr(part(self), attribute),
                    lambda self, value: setattr(part(self), attribute, KNOBS[name].check(value)),
                    doc=f"The option ``{name}`` (settable; held by ``Stepper.{owner}``).")


def _controller_attribute(name, kind):
    """A Stepper property that reads and sets ``name`` of its step controller."""
    return property(lambda self: getattr(self.controller, name),
                    lambda self, value: setattr(self.controller, name, kind(value)))


class Stepper:
    """Advance a :class:`~generic_fem.models.model.GenericModel` in time.

    :arg model: the model.
    :arg f0: initial density (UFL expression or Function); checked for positivity and
        finiteness at the quadrature points.  Alternatively pass ``w0=`` (a Function
        in ``model.V``) to start from an entropy variable (restart).
    :arg dt: time step.
    :arg t0: initial time.
    :arg scheme: one of :data:`SCHEMES`.
    :arg solver_parameters: PETSc options (dict) merged over
        :data:`DEFAULT_SOLVER_PARAMETERS`.
    :arg options_prefix: PETSc options prefix (command-line options such as
        ``-gfem_snes_monitor`` apply).
    :arg max_rejections: retries of a sub-step with halved size before giving up
        (:meth:`advance` always covers its ``Δt``; failed solves become sub-steps).
    :arg forcing: optional UFL expression ``ψ``: solve ``∂_t f = L dE + M(dS + ψ)``
        instead (the perturbed curves of docs/checking_jt.rst).
    :arg predictor: initial guess of each step: ``"extrapolate"``
        (:class:`~generic_fem.solvers.predictor.Extrapolation` through the last states, of the
        scheme's order, in the bulk), ``"previous"`` (``w^n``; the local-error test is
        then off), or ``"auto"`` (the default): ``"extrapolate"`` where the local-error
        test applies (the Picard iteration, the nodal rule, ``local_error_fraction > 0``),
        else ``"previous"``.
    :arg previous: ``[(t, w)]``, past states for the predictor (oldest first), as
        :meth:`predictor_states` returns them (a restart from a checkpoint passes them:
        the resumed run is then bit-for-bit the uninterrupted one).
    :arg min_dt: a failed sub-step is halved and retried, at most ``max_rejections``
        times and never below ``min_dt`` (default ``1e-6 dt``); then
        :class:`~generic_fem.core.errors.StepFailedError` names the nodes that had not
        settled.
    :arg nonlocal_jacobian: ``"picard"`` (default) uses the Jacobian with the nonlocal
        coefficients of two-point operators frozen (linear convergence, one operator
        evaluation per iteration) and, under the nodal rule, the friction's mobility
        lagged too, for local friction operators as well (docs/theory.rst,
        "Globalisation"); ``"exact"`` is Newton with the exact Jacobian, applied
        matrix-free for two-point operators (the frozen-coefficient matrix preconditions
        GMRES; each Krylov iteration costs two pair-sum passes) and assembled for local
        ones.
    :arg adjoint_solver_parameters: PETSc options of the adjoint solves when the run is
        taped by ``firedrake.adjoint`` (merged over
        :data:`~generic_fem.solvers.adjoint.DEFAULT_ADJOINT_PARAMETERS`; docs "Gradients").  Under
        pyadjoint's annotation every accepted step is recorded as one block
        (:mod:`generic_fem.solvers.adjoint`); the forward computation is the same as untaped.

    The knobs of the nonlinear iteration (``max_update``, ``update_tol``, ``floor_rtol``,
    ``structure_tol``, ``stall_window``, ``safeguard``, ``anderson_depth``,
    ``local_error_fraction``, ``alpha_tol``, ``alpha_rounds``, ``dg_damping_after``,
    ``project_invariants``) are options of the prefix: ``solver_parameters={"max_update": 2}`` or
    ``-gfem_max_update 2`` (:mod:`~generic_fem.solvers.stepper_options`, which says what
    each does); as keyword arguments they are aliases kept for one release.

    The parts: :attr:`problem` (the step's equations), :attr:`step_solver` (the nonlinear
    solve), :attr:`guess` (the predictor), :attr:`alpha_policy` (``α`` of the second-order
    schemes) and :attr:`controller` (the sub-steps); docs/architecture.rst.
    """

    def __init__(self, model, f0=None, dt=0.1, t0=0.0, scheme="backward-euler",
                 solver_parameters=None, options_prefix="gfem_", max_rejections=6,
                 forcing=None, w0=None, nonlocal_jacobian="picard", predictor="auto", min_dt=None,
                 adjoint_solver_parameters=None, previous=None, **knobs):
        #: the scheme (:class:`~generic_fem.solvers.schemes.Scheme`); ``scheme`` is its name
        self.method = method = scheme_named(scheme)
        self.scheme = scheme
        # a script's own flags (argparse, pytest) are not PETSc options: keep PETSc from
        # listing them as unused at exit
        discard_foreign_options()
        if not (dt > 0 and math.isfinite(dt)):
            raise InvalidParameterError(f"time step must be positive and finite, got {dt}")
        self.model = model
        self.options_prefix = options_prefix
        petsc_parameters, knobs = read_knobs(solver_parameters, options_prefix, knobs)
        if knobs["anderson_depth"] is None:
            # (not for the midpoint scheme under the Gauss rule: there it has no floor under
            # α, its stiff tail modes are not damped, and mixing lost its hard case)
            undamped = method.bounds_alpha and (model.rule.kind != "nodal"
                                                or model.friction_auxiliary_space() is not None)
            knobs["anderson_depth"] = 5 if (nonlocal_jacobian == "picard" and not undamped) else 0
        #: the sizes of sub-steps and attempts (:class:`~generic_fem.solvers.substeps.StepController`)
        self.controller = StepController(dt, max_rejections, min_dt)
        self.t = float(t0)
        self.step_count = 0
        if w0 is not None:
            self.w = fd.Function(model.V, name="w").assign(w0)
        elif f0 is None:
            raise InvalidParameterError("give the initial density f0 (or w0)")
        else:
            self.w = model.state_from_density(f0)
        #: the discrete equations of a step (:class:`~generic_fem.solvers.step_problem.StepProblem`)
        self.problem = problem = StepProblem(model, method, forcing, nonlocal_jacobian,
                                             floor=method.bounds_alpha or knobs["dg_damping_after"] >= 0,
                                             motion_scale=knobs["dg_motion_scale"])
        # the problem's Functions and forms, under the names the adjoint and the tests use
        self.w_old, self.dt, self.alpha = problem.w_old, problem.dt, problem.alpha
        self.z, self.z_w = problem.z, problem.z_w
        self.theta, self.fstar, self.residual = problem.theta, problem.fstar, problem.residual
        self.defect_form = problem.defect_form
        self.f_old = problem.f_old
        self.w_old.assign(self.w)
        self.z_w.assign(self.w)
        self.dt.assign(self.dt_target)
        self.f_new = model.density(self.w)
        # Newton's exact Jacobian needs a matrix-free correction only for nonlocal
        # operators (a local model's Jacobian is assembled whole: a direct solve)
        exact = (problem.exact_jacobian_correction()
                 if nonlocal_jacobian == "exact" and not problem.has_auxiliary else (None, None))
        params = dict(DEFAULT_SOLVER_PARAMETERS, **(EXACT_JACOBIAN_PARAMETERS if exact[0] is not None else {}))
        params.update(petsc_parameters)
        params["snes_error_if_not_converged"] = False  # we read the reason ourselves
        self.solver_parameters = params
        # the scalars of every step and iteration, compiled once (generic_fem.core.assembly)
        self._scalars = CompiledForms({
            "H": -model.S(self.f_new),
            "dissipation": problem.dissipation_form,
            "mass": abs(ufl.inner(self.f_old, self.f_old)) ** 0.5 * model.dx,
            "entropy": abs(ufl.inner(self.w_old, self.f_old)) * model.dx,
        })
        #: the nonlinear solve of a step (:class:`~generic_fem.solvers.step_solver.StepSolver`)
        self.step_solver = StepSolver(problem, self.w, self._scalars, knobs, params, options_prefix, exact)
        self.control, self.convergence = self.step_solver.control, self.step_solver.convergence
        #: the second-order schemes' node-wise floor of ``α`` (:class:`~generic_fem.solvers.stiff_damping.StiffModeDamping`), or ``None``
        self.damping = (StiffModeDamping(problem, self.step_solver)
                        if problem.alpha_floor is not None else None)
        # the local-error test, with the Picard iteration (a linearly converging iteration
        # is what stopping early saves; the entropy balance of the residual is checked)
        local_error = (nonlocal_jacobian == "picard"
                       and knobs["local_error_fraction"] > 0 and model.rule.kind == "nodal")
        #: the initial guess of each solve (:class:`~generic_fem.solvers.initial_guess.InitialGuess`)
        self.guess = InitialGuess(problem, self.control, self.convergence, predictor, local_error,
                                  self.t, previous)
        #: how the second-order schemes find ``α`` (:class:`~generic_fem.solvers.alpha_rounds.AlphaRounds`)
        self.alpha_policy = AlphaRounds(
            problem, self.w, self.f_new, self._scalars, self.convergence, self.step_solver.solve,
            self.step_solver.residual_values, alpha_tol=knobs["alpha_tol"],
            alpha_rounds=knobs["alpha_rounds"], local_error_fraction=knobs["local_error_fraction"])
        self.alpha_policy.dg_damping_after = knobs["dg_damping_after"]
        self._taping = False
        self._failed_attempts = 0
        self._w_start = None
        self._rejection_log = []   # why each attempt of the current advance() was rejected
        self.last = {}
        #: PETSc options of the adjoint (transposed) solves of taped steps, merged over
        #: :data:`~generic_fem.solvers.adjoint.DEFAULT_ADJOINT_PARAMETERS` (prefix ``<prefix>adjoint_``)
        self.adjoint_solver_parameters = dict(adjoint_solver_parameters or {})
        self.adjoint_stats = {"solves": 0, "ksp_its": 0}
        #: the forms and solvers of the adjoint of this stepper's steps
        #: (:class:`~generic_fem.solvers.adjoint.AdjointMachinery`, built by the adjoint on first use)
        self.adjoint_machinery = None

    # ---------------------------------------------------------------- options
    #: the step size ``dt`` of :meth:`advance`, the retries of a failed sub-step and the
    #: smallest attempt: the :attr:`controller`'s (settable)
    dt_target = _controller_attribute("dt_target", float)
    max_rejections = _controller_attribute("max_rejections", int)
    min_dt = _controller_attribute("min_dt", float)
    max_update = _knob("control", "max_update")
    update_tol = _knob("convergence", "update_tol")
    floor_rtol = _knob("convergence", "floor_rtol")
    structure_tol = _knob("convergence", "structure_tol")
    stall_window = _knob("convergence", "stall_window")
    safeguard = _knob("step_solver", "safeguard")
    project_invariants = _knob("step_solver", "project_invariants")
    alpha_tol = _knob("alpha_policy", "alpha_tol")
    alpha_rounds = _knob("alpha_policy", "alpha_rounds")
    dg_damping_after = _knob("alpha_policy", "dg_damping_after")

    @property
    def local_error_fraction(self):
        """``κ`` of the local-error test (settable; where the test applies is decided at
        construction)."""
        return self.convergence.local_error_fraction

    @local_error_fraction.setter
    def local_error_fraction(self, value):
        value = KNOBS["local_error_fraction"].check(value)
        self.convergence.local_error_fraction = self.alpha_policy.local_error_fraction = value

    @property
    def predictor(self):
        """``"extrapolate"`` or ``"previous"``: the initial guess of each step (settable;
        :class:`~generic_fem.solvers.initial_guess.InitialGuess`)."""
        return self.guess.predictor

    @predictor.setter
    def predictor(self, value):
        if value not in ("extrapolate", "previous"):
            raise InvalidParameterError(f"predictor must be 'extrapolate' or 'previous', got {value!r}")
        self.guess.predictor = value

    @property
    def solver(self):
        """The :class:`~generic_fem.solvers.nonlinear_solver.NonlinearSolver` of the steps."""
        return self.step_solver.solver

    @property
    def projection(self):
        """The invariant projection after every solve (or ``None``)."""
        return self.step_solver.projection

    @property
    def alpha_active(self):
        """Discrete gradient: whether the last step's ``α`` was determined by its chain
        rule (:attr:`~generic_fem.solvers.alpha_rounds.AlphaRounds.active`), so that the
        adjoint differentiates through it."""
        return self.alpha_policy.active

    # ---------------------------------------------------------------- the adjoint's interface
    def refresh(self, X=None):
        """The nonlocal coefficients at the current state (:meth:`StepSolver.refresh
        <generic_fem.solvers.step_solver.StepSolver.refresh>`)."""
        self.step_solver.refresh(X)

    def replay(self, dt, alpha, floor=None):
        """The step from ``w_old`` with the given ``Δt`` (and ``α``; the discrete-gradient
        scheme solves for it again, starting there; both take their recorded node-wise
        ``floor`` of ``α``), for the tape's recompute: no
        rejection, no statistics; a failed solve raises :class:`StepFailedError`.  Like the
        taped step it replays, it starts from ``w^n`` and is solved to the tight tests."""
        self.model.check_parameters()
        self._taping = True
        self.step_solver.new_step()
        self.dt.assign(dt)
        self.alpha.assign(alpha)
        if floor is not None:
            self.damping.set(floor)
        self.guess(self.t, dt, first=False, taped=True)
        ok, reason, its, _ = self.step_solver.solve()
        if ok and self.method.solves_alpha:
            ok, _, _ = self.alpha_policy.solve()
        if not ok:
            raise StepFailedError(f"recomputing a taped {self.scheme} step (dt = {dt:.3e}) failed: "
                                  f"{self.step_solver.failure_summary(dt, reason, its)[1]}. A replay takes "
                                  "each step with its recorded dt (no retries): tape the run with smaller steps, "
                                  "or keep the controls closer to the taped values (bounds in minimize).")

    def predictor_states(self):
        """``[(t, w)]``: the past states the predictor extrapolates from (oldest first;
        Functions owned by the stepper): saved in checkpoints for a bit-for-bit restart."""
        return self.guess.states()

    # ---------------------------------------------------------------- time stepping
    def advance(self, dt_max=None):
        """Advance by exactly ``Δt = min(dt, dt_max)``.

        A sub-step whose solve fails is rejected and retried with half its size; after
        an accepted sub-step the next one doubles again (up to what is left of
        ``Δt``, and below the smallest size that failed in this step until two
        sub-steps have passed without a rejection: a size that fails is not retried
        at once; the next step starts at twice the last sub-step), so rejections
        change the sub-steps inside ``Δt``, never the time that is covered
        (docs/theory.rst, "Failed solves").  Under pyadjoint's annotation
        every accepted sub-step is one block, replayed with its own size.

        :arg dt_max: an upper bound for this step (to land on an output time).
        :returns: a dict of step statistics (also kept in ``self.last``): ``dt`` (the
            step covered), ``substeps``, ``rejected`` (failed attempts), Newton and
            Krylov iterations, ``H_old``, ``H_new``, ``dissipation`` (the sub-steps'
            ``⟨θ, M θ⟩`` averaged over ``Δt``), ``alpha`` (the last sub-step's)."""
        self.model.check_parameters()
        ctl = self.controller
        span = ctl.begin(dt_max)
        if not span > 0:
            raise InvalidParameterError(f"advance: the step must be positive, got {span}")
        t_start = self.t
        H_old = self._scalars.value("H")
        totals = {"snes_its": 0, "ksp_its": 0, "rejected": 0, "substeps": 0}
        self._rejection_log = []
        weighted_diss = 0.0
        inequality = damped = 0
        self._failed_attempts = 0
        if self._w_start is None:
            self._w_start = fd.Function(self.w.function_space())
        self._w_start.assign(self.w)
        while not ctl.finished:
            try:
                sub = self._annotated_substep(ctl.next_size())
            except StepFailedError:      # the state at the start of the step, as it was
                self.guess.reset()       # (its accepted sub-steps are undone)
                self.w.assign(self._w_start)
                self.z_w.assign(self._w_start)
                self.t = t_start
                raise
            self.t = t_start + ctl.accepted(sub["dt"], sub["rejected"])
            for k in totals:
                totals[k] += sub[k]
            weighted_diss += sub["dt"] * sub["dissipation"]
            inequality += int(sub.get("inequality", False))
            damped += int(sub.get("damped", False))
        self.t = t_start + span
        ctl.end()
        self.step_count += 1
        self.last = {
            "step": self.step_count, "t": self.t, "dt": span,
            "H_old": H_old, "H_new": sub["H_new"], "dissipation": weighted_diss / span,
            "alpha": sub["alpha"], **totals,
            "rejections": "; ".join(self._rejection_log),
        }
        if self.method.solves_alpha:
            self.last["chain_rule_defect"] = sub["chain_rule_defect"]
            self.last["inequality_substeps"] = inequality
            self.last["damped_substeps"] = damped
        if self.method.frozen_mobility:
            self.last["edi_lhs"] = sub["H_new"] + 0.5 * weighted_diss
            self.last["edi_rhs"] = H_old
        return self.last

    def _annotated_substep(self, dt):
        """One accepted sub-step of at most ``dt`` (one pyadjoint block when taping)."""
        self._taping = annotating()
        if self._taping:
            block = step_block(self)       # its inputs: w^n and the parameters, now
            with no_annotation():
                out = self._substep(dt)
                block.record(out["dt"], out["alpha"])
            from pyadjoint.tape import get_working_tape
            get_working_tape().add_block(block)     # (a failed step leaves no block)
            block.add_output(self.w.create_block_variable())
            return out
        return self._substep(dt)

    def _attempt(self, dt, first):
        """One attempt of a sub-step of size ``dt``: the solve and the scheme's ``α``
        (:class:`~generic_fem.solvers.alpha_rounds.AlphaRounds`).  Returns ``(ok, reason,
        its, newton_its, krylov_its)`` (the first two of the solve that decided)."""
        self.dt.assign(dt)
        self.alpha.assign(0.5)
        if self.damping is not None:
            if self.damped_now():
                self.damping.apply(dt)
            else:
                self.damping.clear()
        self.guess(self.t, dt, first=first, taped=self._taping)
        ok, reason, its, lits = self.step_solver.solve()
        total_its, total_lits = its, lits
        if ok and self.method.solves_alpha:
            ok, n_its, n_lits = self.alpha_policy.solve()
            total_its, total_lits = total_its + n_its, total_lits + n_lits
        if ok and self.method.bounds_alpha:
            ok, n_its, n_lits, last = self.alpha_policy.raise_to_bound()
            total_its, total_lits = total_its + n_its, total_lits + n_lits
            if last is not None:
                reason, its = last
        return ok, reason, its, total_its, total_lits

    def damped_now(self):
        """Whether the next attempt takes the node-wise floor of ``α``: always for the
        midpoint scheme; for the discrete gradient once ``dg_damping_after`` attempts of
        this :meth:`advance` have failed (never with the default ``-1``)."""
        if self.damping is None:
            return False
        after = self.dg_damping_after
        return self.method.bounds_alpha or 0 <= after <= self._failed_attempts

    def _substep(self, dt):
        """Solve one step from ``w`` of size ``dt``, halving it on failure (the attempts of
        :meth:`~generic_fem.solvers.substeps.StepController.attempts`); returns its statistics."""
        self.w_old.assign(self.w)
        self.step_solver.new_step()
        if self.damping is not None:
            self.damping.new_step()
        total_its = total_lits = 0
        failures = []
        for dt in self.controller.attempts(dt):
            ok, reason, its, n_its, n_lits = self._attempt(dt, first=not failures)
            total_its += n_its
            total_lits += n_lits
            if ok:
                break
            failures.append(self.step_solver.failure_summary(dt, reason, its))
            self._rejection_log.append(self.step_solver.rejection_reason(dt, reason, its))
            self._failed_attempts += 1
        else:
            self.w.assign(self.w_old)
            self.z_w.assign(self.w_old)
            raise StepFailedError(
                f"{self.scheme} step from t={self.t:.6g} failed {len(failures)} times "
                f"(dt from {failures[0][0]:.3e} down to {dt:.3e}). Last attempt: {failures[-1][1]}"
                + ". Try a smaller dt or a finer mesh where those nodes are, a larger "
                "velocity box if they are at its edge, check the data, or loosen "
                "snes_atol/update_tol (solver_parameters); docs/choosing.rst, \"When a step fails\".")
        H_new = self._scalars.value("H")
        if self.problem.dissipation_pair != self.problem.nonlocal_pairs[0]:
            self.model.refresh_friction(*self.problem.dissipation_pair)
        # else the coefficients are those of the converged iterate; the invariant
        # projection moved w only by O(residual) along ker M: no new pair sums for it
        dissipation = self._scalars.value("dissipation")
        self.guess.accepted(self.t, self.w_old)
        out = {"dt": dt, "H_new": H_new, "dissipation": dissipation,
               "snes_its": total_its, "ksp_its": total_lits, "rejected": len(failures), "substeps": 1,
               "alpha": float(self.alpha)}
        if self.method.solves_alpha:
            out["chain_rule_defect"] = self.alpha_policy.last_defect
            out["inequality"] = self.alpha_policy.inequality
            out["damped"] = self.damped_now() and self.damping.active(float(self.alpha))
        return out

    def density(self):
        """UFL expression of the current density ``F(w)``."""
        return self.model.density(self.w)

    def solver_stats(self):
        return dict(self.last)
