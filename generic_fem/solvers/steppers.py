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
    order and ``H^{n+1} − H^n ≤ −Δt ‖θ‖²_M`` holds exactly.
``"discrete-gradient"``
    as ``"midpoint"``, but ``α`` is solved for: ``α = α*(w^{n+1})`` (secant iteration on
    ``α*(α) − α``, one warm-started solve per round), so the discrete chain rule
    ``H(f^{n+1}) − H(f^n) = ⟨θ*, f^{n+1} − f^n⟩`` holds with equality (to what the solve
    determines: :meth:`~generic_fem.solvers.alpha_rounds.AlphaRounds.solve_noise`) and
    ``H^{n+1} − H^n = −Δt ‖θ*‖²_M + Δt ⟨θ*, L dE⟩``.  Its solutions are the curves whose
    discrete ``J_T^h`` (:func:`~generic_fem.drivers.grazing.pair_energy_dissipation`) vanishes.
    Second order.

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
import numpy as np
import ufl
import firedrake as fd
from petsc4py import PETSc

from ..core.errors import InvalidParameterError, StepFailedError
from ..core.petsc_options import discard_foreign_options
from .newton import EntropyNewtonControl
from .substeps import StepController
from .adjoint import step_block
from ..core.taping import annotating
from .invariants import InvariantProjection
from .predictor import Extrapolation
from .schemes import SCHEMES, scheme_named
from .step_problem import StepProblem
from .convergence import StepConvergence
from .alpha_rounds import AlphaRounds
from .failures import rejection_line, failure_text
from ..core.assembly import Assembler, CompiledForms, no_annotation
from .nonlinear_solver import NonlinearSolver

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


def _option(name, value, kind=float, low=0.0, strict=False):
    """``kind(value)`` for the stepper option ``name``, or an
    :class:`~generic_fem.core.errors.InvalidParameterError` naming it when ``value`` is
    not a finite number of that kind at least ``low`` (above it if ``strict``)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok and kind is int:
        ok = float(value).is_integer()
    if ok:
        v = kind(value)
        ok = math.isfinite(v) and (v > low if strict else v >= low)
    if not ok:
        what = "an integer" if kind is int else "a finite number"
        raise InvalidParameterError(f"{name} must be {what} {'>' if strict else '>='} {low:g}, got {value!r}")
    return v


def _forwarded(owner, name, check):
    """A Stepper property that reads and sets (checked by ``check``) ``name`` of the
    stepper's part ``owner`` (its convergence test or its α rounds)."""
    return property(lambda self: getattr(getattr(self, owner), name),
                    lambda self, value: setattr(getattr(self, owner), name, check(value)),
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
    :arg max_update: largest change of the entropy variable at a node in one Newton
        iteration (``0``: no limit; larger updates are clipped so that a step cannot
        overflow ``F(w)``).
    :arg update_tol: a Newton iteration converges on the tight tests only when, besides
        the residual test, the last change of the density at every point of the rule is
        below ``update_tol`` times the peak density (per component).
    :arg local_error_fraction: ``κ``; for backward Euler, the minimizing movement and the
        discrete gradient with the Picard iteration, a solve also stops once its last
        change of the density is
        below ``κ`` times the step's local-error estimate ``max|F(w) − F(w_pred)|`` (the
        distance from the extrapolated prediction, or from the first Picard iterate where
        there is none: ``O(Δt²)`` like the step's local truncation error), with the
        residual reduced by ``κ`` from that reference's and ``⟨w, R⟩ ≤ κ Δt ⟨w, M w⟩``
        (docs/theory.rst, "Convergence criterion").  Default 1e-2; 0: the tight tests
        only.  Only with the nodal rule and ``predictor="extrapolate"`` (the default for
        these schemes), and not in a run taped by pyadjoint (its adjoint differentiates
        the discrete equations, so a taped step is solved to the tight tests).  The
        midpoint scheme always solves to the tight tests (its inequality holds to the
        residual).  For the discrete gradient (with ``θ`` for ``w`` in the balance) the
        identity ``H^{n+1} − H^n = −Δt ⟨θ, M θ⟩`` then holds to ``2κ Δt ⟨θ, M θ⟩`` (the
        residual's share ``⟨θ, R⟩`` and the chain-rule defect, each at most
        ``κ Δt ⟨θ, M θ⟩``: a step whose defect is larger is solved on to the tight
        tests); 0 gives it to round-off.
    :arg predictor: initial guess of each step: ``"extrapolate"``
        (:class:`~generic_fem.solvers.predictor.Extrapolation` through the last states, of the
        scheme's order, in the bulk), ``"previous"`` (``w^n``; the local-error test is
        then off), or ``"auto"`` (the default): ``"extrapolate"`` where the local-error
        test applies (backward Euler, the minimizing movement and the discrete gradient
        with the Picard iteration, the nodal rule, ``local_error_fraction > 0``), else
        ``"previous"`` (for the midpoint scheme, solved to the tight tests, the
        extrapolation took 2% more iterations on the robustness matrix).
    :arg previous: ``[(t, w)]``, past states for the predictor (oldest first), as
        :meth:`predictor_states` returns them (a restart from a checkpoint passes them:
        the resumed run is then bit-for-bit the uninterrupted one).
    :arg min_dt: a failed sub-step is halved and retried, at most ``max_rejections``
        times and never below ``min_dt`` (default ``1e-6 dt``); then
        :class:`~generic_fem.core.errors.StepFailedError` names the nodes that had not
        settled.
    :arg anderson_depth: depth of the Anderson acceleration of the Picard iteration
        (:class:`~generic_fem.solvers.newton.AndersonMixing`); by default 5 for backward Euler,
        the minimizing movement and the discrete gradient with the Picard Jacobian, 0
        (off) for the midpoint scheme (its stiff tail modes are not damped, and the
        mixing lost its hard case) and with ``nonlocal_jacobian="exact"``
        (docs/theory.rst, "Globalisation").
    :arg floor_rtol: accept a residual that stopped decreasing below ``floor_rtol``
        times the mass (its round-off floor) when the density has settled and the
        entropy balance holds.
    :arg structure_tol: tolerance of that entropy-balance check (relative).
    :arg stall_window: reject a solve as soon as its residual, still above the round-off
        floor, has not halved over this many iterations (an iteration that cycles or
        crawls: the halved sub-step is cheaper than the rest of ``snes_max_it``); 0: off.
    :arg project_invariants: make the invariants exact after every solve
        (``w ← w + Σ c_k ψ_k``; docs/theory.rst, "Convergence criterion").
    :arg safeguard: halve a step at most this many times while the residual would grow
        more than tenfold (0: off).
    :arg alpha_tol: ``"discrete-gradient"``: accept ``α`` when the chain-rule defect
        ``|H^{n+1} − H^n − ⟨θ_α, Δf⟩|`` is below ``alpha_tol ⟨Δw, Δf⟩`` or the level the
        solve determines it to (round-off of ``H``, or what the residual leaves);
        ``alpha_rounds``: at most that many solves per step for it (else the step is
        rejected).
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
    """

    def __init__(self, model, f0=None, dt=0.1, t0=0.0, scheme="backward-euler",
                 solver_parameters=None, options_prefix="gfem_", max_rejections=6,
                 forcing=None, w0=None, max_update=5.0, update_tol=1e-9,
                 nonlocal_jacobian="picard", predictor="auto", min_dt=None,
                 anderson_depth=None, floor_rtol=1e-9, structure_tol=1e-12,
                 project_invariants=True, safeguard=4,
                 alpha_tol=1e-14, alpha_rounds=12,
                 stall_window=10, adjoint_solver_parameters=None,
                 local_error_fraction=1e-2, previous=None):
        #: the scheme (:class:`~generic_fem.solvers.schemes.Scheme`); ``scheme`` is its name
        self.method = method = scheme_named(scheme)
        # a script's own flags (argparse, pytest) are not PETSc options: keep PETSc from
        # listing them as unused at exit
        discard_foreign_options()
        if not (dt > 0 and math.isfinite(dt)):
            raise InvalidParameterError(f"time step must be positive and finite, got {dt}")
        self.model = model
        self.scheme = scheme
        #: the sizes of sub-steps and attempts (:class:`~generic_fem.solvers.substeps.StepController`)
        self.controller = StepController(dt, max_rejections, min_dt)
        self.t = float(t0)
        self.step_count = 0
        alpha_tol = _option("alpha_tol", alpha_tol)
        alpha_rounds = _option("alpha_rounds", alpha_rounds, int, 1)
        V = model.V
        if w0 is not None:
            self.w = fd.Function(V, name="w").assign(w0)
        else:
            if f0 is None:
                raise InvalidParameterError("give the initial density f0 (or w0)")
            self.w = model.state_from_density(f0)
        #: the discrete equations of a step (:class:`~generic_fem.solvers.step_problem.StepProblem`)
        self.problem = problem = StepProblem(model, method, forcing, nonlocal_jacobian)
        # the problem's Functions and forms, under the names the adjoint and the tests use
        self.w_old, self.dt, self.alpha = problem.w_old, problem.dt, problem.alpha
        self.z, self.z_w = problem.z, problem.z_w
        self.theta, self.fstar, self.residual = problem.theta, problem.fstar, problem.residual
        self.f_old = problem.f_old
        self._nonlocal_pairs = problem.nonlocal_pairs
        self._jacobian_form = problem.jacobian
        self.w_old.assign(self.w)
        self.z_w.assign(self.w)
        self.dt.assign(self.dt_target)
        self.f_new = model.density(self.w)
        self._w_start = None
        self._rejection_log = []   # why each attempt of the current advance() was rejected
        self._exact = None
        if nonlocal_jacobian == "exact" and not problem.has_auxiliary:
            self._exact, self._delta = problem.exact_jacobian_correction()
        params = dict(DEFAULT_SOLVER_PARAMETERS)
        if self._exact is not None:
            params.update(EXACT_JACOBIAN_PARAMETERS)
        params.update(solver_parameters or {})
        params["snes_error_if_not_converged"] = False  # we read the reason ourselves
        self.solver_parameters = params
        self.options_prefix = options_prefix
        self.max_update = _option("max_update", max_update)
        update_tol = _option("update_tol", update_tol, strict=True)
        if anderson_depth is not None:
            anderson_depth = _option("anderson_depth", anderson_depth, int)
        if anderson_depth is None:
            anderson_depth = 5 if (method.mixing and nonlocal_jacobian == "picard") else 0
        self.control = EntropyNewtonControl(model, V, self.max_update, anderson_depth)
        floor_rtol = _option("floor_rtol", floor_rtol)
        stall_window = _option("stall_window", stall_window, int)
        self.project_invariants = bool(project_invariants)
        self.safeguard = _option("safeguard", safeguard, int)
        self.safeguard_growth = 10.0
        self._trial = None
        structure_tol = _option("structure_tol", structure_tol)
        if predictor not in ("extrapolate", "previous", "auto"):
            raise InvalidParameterError(f"predictor must be 'auto', 'extrapolate' or 'previous', got {predictor!r}")
        # first-order schemes with the Picard iteration: their entropy statement is an
        # inequality, and a linearly converging iteration is what stopping early saves
        # (and the discrete gradient, whose α makes its chain rule exact whatever the
        # residual: a residual enters its entropy balance only as ⟨θ, R⟩, tested)
        self._local_error_scheme = method.loose_solves and nonlocal_jacobian == "picard"
        self.predictor = predictor
        self._extrapolation = Extrapolation(self.control, method.order)
        for item in (previous or []):
            try:
                t_past, w_past = item
                t_past = float(t_past)
            except (TypeError, ValueError, NotImplementedError):   # (UFL refuses len() of a scalar)
                raise InvalidParameterError(f"previous: expected (t, w) pairs, got {item!r}") from None
            if not isinstance(w_past, fd.Function) or w_past.function_space() != V:
                raise InvalidParameterError("previous: each past state must be a Function on the model's space V "
                                            "(as restore_state(...).previous holds them)")
            if not t_past < self.t:
                raise InvalidParameterError(f"previous: a past state at t = {t_past} is not before t0 = {self.t}")
            self._extrapolation.push(t_past, w_past)
        local_error_fraction = _option("local_error_fraction", local_error_fraction)
        # where the local-error test may apply (with an extrapolating predictor)
        self._local_error_on = (self._local_error_scheme and local_error_fraction > 0
                                and model.rule.kind == "nodal")
        if self.predictor == "auto":
            self.predictor = "extrapolate" if self._local_error_on else "previous"
        self._refreshed_at = None  # the solver state of the last refresh of the coefficients
        self._taping = False
        #: the invariant projection after every solve (:class:`~generic_fem.solvers.invariants.InvariantProjection`)
        self.projection = InvariantProjection(model, self.z_w, self.w_old) if self.project_invariants else None

        # diagnostics: the residual's own expressions, evaluated after the solve (z then
        # holds the accepted state).  For a two-point operator the coefficients of
        # (f*, θ) are already those of that state, so their refresh costs no pair sums.
        self._dissipation_form = problem.dissipation_form
        self._dissipation_pair = problem.dissipation_pair
        self._H_new = -model.S(self.f_new)
        # the scalars of every step and iteration, compiled once (generic_fem.assembly)
        self._scalars = CompiledForms({
            "H": self._H_new,
            "dissipation": self._dissipation_form,
            "mass": abs(ufl.inner(self.f_old, self.f_old)) ** 0.5 * model.dx,
            "entropy": abs(ufl.inner(self.w_old, self.f_old)) * model.dx,
        })
        #: the convergence test of the step's solves (:class:`~generic_fem.solvers.convergence.StepConvergence`)
        self.convergence = StepConvergence(problem, self.control, self._scalars, model.rule.kind == "nodal",
                                           update_tol=update_tol, floor_rtol=floor_rtol,
                                           structure_tol=structure_tol, stall_window=stall_window,
                                           local_error_fraction=local_error_fraction)
        self._build_solver()
        #: how the second-order schemes find ``α`` (:class:`~generic_fem.solvers.alpha_rounds.AlphaRounds`)
        self.alpha_policy = AlphaRounds(
            problem, self.w, self.f_new, self._scalars, self.convergence, self._solve_once,
            lambda: self.solver.snes.getFunction()[0].getArray(readonly=True)[:self.control.n],
            alpha_tol=alpha_tol, alpha_rounds=alpha_rounds, local_error_fraction=local_error_fraction)
        self.last = {}
        #: PETSc options of the adjoint (transposed) solves of taped steps, merged over
        #: :data:`~generic_fem.solvers.adjoint.DEFAULT_ADJOINT_PARAMETERS` (prefix ``<prefix>adjoint_``)
        self.adjoint_solver_parameters = dict(adjoint_solver_parameters or {})
        self.adjoint_stats = {"solves": 0, "ksp_its": 0}
        #: the forms and solvers of the adjoint of this stepper's steps
        #: (:class:`~generic_fem.solvers.adjoint.AdjointMachinery`, built by the adjoint on first use)
        self.adjoint_machinery = None
        #: the chain-rule defect δ(z, α) of the discrete-gradient scheme (its adjoint)
        self.defect_form = problem.defect_form

    @property
    def alpha_active(self):
        """Discrete gradient: whether the last step's ``α`` was determined by its chain
        rule (:attr:`~generic_fem.solvers.alpha_rounds.AlphaRounds.active`), so that the
        adjoint differentiates through it."""
        return self.alpha_policy.active

    #: the step size ``dt`` of :meth:`advance`, the retries of a failed sub-step and the
    #: smallest attempt: the :attr:`controller`'s (settable)
    dt_target = _controller_attribute("dt_target", float)
    update_tol = _forwarded("convergence", "update_tol", lambda v: _option("update_tol", v, strict=True))
    floor_rtol = _forwarded("convergence", "floor_rtol", lambda v: _option("floor_rtol", v))
    structure_tol = _forwarded("convergence", "structure_tol", lambda v: _option("structure_tol", v))
    stall_window = _forwarded("convergence", "stall_window", lambda v: _option("stall_window", v, int))
    alpha_tol = _forwarded("alpha_policy", "alpha_tol", lambda v: _option("alpha_tol", v))
    alpha_rounds = _forwarded("alpha_policy", "alpha_rounds", lambda v: _option("alpha_rounds", v, int, 1))

    @property
    def local_error_fraction(self):
        """``κ`` of the local-error test (settable; where the test applies is decided at
        construction)."""
        return self.convergence.local_error_fraction

    @local_error_fraction.setter
    def local_error_fraction(self, value):
        value = _option("local_error_fraction", value)
        self.convergence.local_error_fraction = self.alpha_policy.local_error_fraction = value
    max_rejections = _controller_attribute("max_rejections", int)
    min_dt = _controller_attribute("min_dt", float)

    # ----------------------------------------------------------------------------
    def nonlocal_entries(self):
        """``(operator, f, g)`` for every nonlocal coefficient set in the residual."""
        return [(op, f, g) for op in self.model.friction_operators() if op.is_nonlocal
                for f, g in self._nonlocal_pairs]

    def adjoint_dependencies(self):
        """The inputs of a taped step besides ``w^n``: the ``Constant`` s and Functions in
        its forms (the stepper's own ``Δt``, ``α``, unknown and coefficients excluded) and
        the two-point operators' own parameters."""
        forms = [self.residual] + ([self.defect_form] if self.method.solves_alpha else [])
        own = {id(self.dt), id(self.alpha), id(self.z), id(self.w_old), id(self.w)}
        for op in self.model.friction_operators():     # e.g. the two-point coefficients
            own.update(id(c) for c in op.internal_coefficients())
        out = []
        for form in forms:
            for c in form.coefficients():   # (Constants are not controls in Firedrake's tape)
                if id(c) in own or any(c is o for o in out):
                    continue
                if isinstance(c, fd.Function):
                    out.append(c)
        for op in self.model.friction_operators():
            for c in (op.parameters() if op.is_nonlocal else []):
                if isinstance(c, fd.Function) and all(c is not o for o in out):
                    out.append(c)
        return out

    def replay(self, dt, alpha):
        """The step from ``w_old`` with the given ``Δt`` (and ``α``; the discrete-gradient
        scheme solves for it again, starting there), for the tape's recompute: no
        rejection, no statistics; a failed solve raises :class:`StepFailedError`.  Like the
        taped step it replays, it starts from ``w^n`` and is solved to the tight tests."""
        self.model.check_parameters()
        self._taping = True
        self.convergence.new_step()
        if self.projection is not None:
            self.projection.new_step()
        self.dt.assign(dt)
        self.alpha.assign(alpha)
        self._initial_guess(dt, first=False)
        ok, reason, its, _ = self._solve_once()
        if ok and self.method.solves_alpha:
            ok, _, _ = self.alpha_policy.solve()
        if not ok:
            raise StepFailedError(f"recomputing a taped {self.scheme} step (dt = {dt:.3e}) failed: "
                                  f"{self._failure_summary(dt, reason, its)[1]}. A replay takes each step with "
                                  "its recorded dt (no retries): tape the run with smaller steps, or keep the "
                                  "controls closer to the taped values (bounds in minimize).")

    # ----------------------------------------------------------------------------
    def _exact_jacobian_action(self, x, y):
        """``y = A x`` for Newton's exact Jacobian ``A``: the assembled
        frozen-coefficient matrix (the preconditioner, assembled at the current
        iterate) plus the nonlocal part
        (:meth:`~generic_fem.solvers.step_problem.StepProblem.exact_jacobian_correction`)
        in the direction ``x``."""
        with self._delta.dat.vec_wo as dv:
            x.copy(dv)
        for f, g in self._nonlocal_pairs:
            for op in self.model.friction_operators():
                op.refresh_linearization(f, g)
        self.solver.jacobian.petscmat.mult(x, y)
        with self._exact_assembler().dat.vec_ro as cv:
            y.axpy(1.0, cv)

    def _build_solver(self):
        """The nonlinear solver of the step (:class:`~generic_fem.solvers.nonlinear_solver.NonlinearSolver`):
        the nonlocal coefficients are refreshed before every residual and Jacobian, the
        update is limited by :meth:`_precheck` and the iteration stopped by
        :class:`~generic_fem.solvers.convergence.StepConvergence`; with ``nonlocal_jacobian="exact"`` and a two-point operator
        the linear systems use :meth:`_exact_jacobian_action`.  A line-search trial the
        safeguard accepted is the state SNES evaluates next: the solver remembers its
        residual, so it is assembled once."""
        self.solver = NonlinearSolver(
            self.residual, self.z, J=self._jacobian_form,
            solver_parameters=self.solver_parameters, options_prefix=self.options_prefix,
            pre_function=self.refresh, pre_jacobian=self._refresh_jacobian,
            convergence_test=self.convergence, precheck=self._precheck)
        if self._exact is not None:
            self._exact_assembler = Assembler(self._exact)
            self.solver.use_operator(self._exact_jacobian_action)

    def _precheck(self, x, y):
        """Line-search pre-check: the density-space update
        (:meth:`~generic_fem.solvers.newton.EntropyNewtonControl.update`)."""
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

    def refresh(self, X=None):
        """The nonlocal coefficients at the state ``X`` (the solver's vector; ``None``:
        at the stepper's Functions, outside a residual evaluation)."""
        for f, g in self._nonlocal_pairs:
            self.model.refresh_friction(f, g)
        self._refreshed_at = None if X is None else X.getArray(readonly=True).copy()

    def _refresh_jacobian(self, X=None):
        """Before a Jacobian: the nonlocal coefficients (unless the last refresh was at
        this very state, as after the residual Newton evaluates first: then not even
        the point values are read again) and, for the lagged-mobility Jacobian, ``θ``
        at the current iterate."""
        last = self._refreshed_at
        same = X is not None and last is not None and np.array_equal(last, X.getArray(readonly=True))
        if not self.model.mesh.comm.allreduce(same, op=_mpi_land()):   # (refresh is collective)
            self.refresh(X)
        self.problem.lag_mobility()

    def _solve_once(self):
        """One SNES solve of the current step; returns (ok, reason, its, lin_its)."""
        self.refresh()
        self._last_error = None
        self.convergence.new_solve()
        try:
            self.solver.solve()
        except PETSc.Error as exc:  # e.g. a failed factorization inside the PC
            self._last_error = exc
            self.z_w.assign(self.w_old)
            self.solver.destroy()
            self._build_solver()  # PETSc objects may be left mid-solve: start afresh
        snes = self.solver.snes
        reason = snes.getConvergedReason()
        its, lits = snes.getIterationNumber(), snes.getLinearSolveIterations()
        finite = self.model.mesh.comm.allreduce(bool(np.all(np.isfinite(self.z_w.dat.data_ro))),
                                                op=_mpi_land())
        ok = reason > 0 and finite and not isinstance(self._last_error, PETSc.Error)
        if ok and self.project_invariants:
            if self.projection is None:   # (switched on after construction)
                self.projection = InvariantProjection(self.model, self.z_w, self.w_old)
            self.projection()
        self.w.assign(self.z_w)
        return ok, reason, its, lits

    def _initial_guess(self, dt, first):
        """Start the iteration from ``w^n`` or, for a first attempt of an untaped step,
        from the extrapolation of the past states
        (:class:`~generic_fem.solvers.predictor.Extrapolation`).  The local-error test of the
        solve (backward Euler, the minimizing movement and the discrete gradient with the
        Picard iteration, the nodal rule, ``local_error_fraction > 0``) measures the local error from that
        prediction when it has the scheme's order, else from the first Picard iterate
        (a linearly implicit Euler step: also ``O(Δt²)`` from the step's solution).  A
        taped step is solved from ``w^n`` to the tight tests: its adjoint differentiates
        the discrete equations, and its replays reproduce it."""
        self.z_w.assign(self.w_old)
        self.convergence.reset_local_test()
        self.control.set_prediction(None)
        # a taped step starts from w^n, as its replays do (they have no past states)
        if self.predictor != "extrapolate" or self._taping:
            return
        full = False
        if first:
            guess, full = self._extrapolation.guess(self.t, self.w_old, dt)
            self.z_w.dat.data_wo[...] = guess.reshape(self.z_w.dat.data_ro.shape)
        if not self._local_error_on:
            return
        if full:
            self.convergence.local_test = True
            self.control.set_prediction(guess)
        else:   # no prediction of the step's order: the first Picard iterate serves
            self.convergence.first_iterate_reference = True

    def predictor_states(self):
        """``[(t, w)]``: the past states the predictor extrapolates from (oldest first;
        Functions owned by the stepper): saved in checkpoints for a bit-for-bit restart."""
        return self._extrapolation.states()

    def _rejection_reason(self, dt, reason, its):
        """One short line for the history (:func:`~generic_fem.solvers.failures.rejection_line`)."""
        return rejection_line(dt, reason, its, self._last_error, self.method, self.convergence)

    def _failure_summary(self, dt, reason, its):
        """``(dt, text)``: why the last solve failed and where (collective;
        :func:`~generic_fem.solvers.failures.failure_text`)."""
        residual = None
        # the rows of the failed solve's residual: not after a PETSc error (the solver
        # was rebuilt, its vectors are new) nor after a converged solve that the scheme
        # rejected (the midpoint α rounds)
        if not isinstance(self._last_error, PETSc.Error) and reason <= 0:
            residual = self.solver.snes.getFunction()[0].getArray(readonly=True)
        return dt, failure_text(dt, reason, its, self._last_error, self.convergence, self.control,
                                residual, self.z_w.dat.data_ro)

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
        if self._w_start is None:
            self._w_start = fd.Function(self.w.function_space())
        self._w_start.assign(self.w)
        while not ctl.finished:
            try:
                sub = self._annotated_substep(ctl.next_size())
            except StepFailedError:      # the state at the start of the step, as it was
                self._extrapolation.reset()   # (its accepted sub-steps are undone)
                self.w.assign(self._w_start)
                self.z_w.assign(self._w_start)
                self.t = t_start
                raise
            self.t = t_start + ctl.accepted(sub["dt"], sub["rejected"])
            for k in totals:
                totals[k] += sub[k]
            weighted_diss += sub["dt"] * sub["dissipation"]
        self.t = t_start + span
        ctl.end()
        self.step_count += 1
        dissipation = weighted_diss / span
        self.last = {
            "step": self.step_count, "t": self.t, "dt": span,
            "H_old": H_old, "H_new": sub["H_new"], "dissipation": dissipation,
            "alpha": sub["alpha"], **totals,
            "rejections": "; ".join(self._rejection_log),
        }
        if self.method.solves_alpha:
            self.last["chain_rule_defect"] = sub["chain_rule_defect"]
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

    def _substep(self, dt):
        """Solve one step from ``w`` of size ``dt``, halving it on failure (the attempts of
        :meth:`~generic_fem.solvers.substeps.StepController.attempts`); returns its statistics."""
        self.w_old.assign(self.w)
        self.convergence.new_step()
        if self.projection is not None:
            self.projection.new_step()
        total_its = total_lits = 0
        failures = []
        for dt in self.controller.attempts(dt):
            self.dt.assign(dt)
            self.alpha.assign(0.5)
            self._initial_guess(dt, first=not failures)
            ok, reason, its, lits = self._solve_once()
            total_its += its
            total_lits += lits
            if ok and self.method.solves_alpha:
                ok, n_its, n_lits = self.alpha_policy.solve()
                total_its += n_its
                total_lits += n_lits
            if ok and self.method.bounds_alpha:
                ok, n_its, n_lits, last = self.alpha_policy.raise_to_bound()
                total_its += n_its
                total_lits += n_lits
                if last is not None:
                    reason, its = last
            if ok:
                break
            failures.append(self._failure_summary(dt, reason, its))
            self._rejection_log.append(self._rejection_reason(dt, reason, its))
        else:
            self.w.assign(self.w_old)
            self.z_w.assign(self.w_old)
            raise StepFailedError(
                f"{self.scheme} step from t={self.t:.6g} failed {len(failures)} times "
                f"(dt from {failures[0][0]:.3e} down to {dt:.3e}). Last attempt: {failures[-1][1]}"
                + ". Try a smaller dt or a finer mesh where those nodes are, a larger "
                "velocity box if they are at its edge, check the data, or loosen "
                "snes_atol/update_tol (solver_parameters); docs/choosing.rst, \"When a step fails\".")
        rejections = len(failures)
        H_new = self._scalars.value("H")
        if self._dissipation_pair != self._nonlocal_pairs[0]:
            self.model.refresh_friction(*self._dissipation_pair)
        # else the coefficients are those of the converged iterate; the invariant
        # projection moved w only by O(residual) along ker M: no new pair sums for it
        dissipation = self._scalars.value("dissipation")
        self._extrapolation.push(self.t, self.w_old)
        out = {"dt": dt, "H_new": H_new, "dissipation": dissipation,
               "snes_its": total_its, "ksp_its": total_lits, "rejected": rejections, "substeps": 1,
               "alpha": float(self.alpha)}
        if self.method.solves_alpha:
            out["chain_rule_defect"] = self.alpha_policy.last_defect
        return out

    def density(self):
        """UFL expression of the current density ``F(w)``."""
        return self.model.density(self.w)

    def solver_stats(self):
        return dict(self.last)


def _mpi_land():
    from mpi4py import MPI
    return MPI.LAND
