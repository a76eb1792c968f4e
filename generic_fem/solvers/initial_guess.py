r"""The initial guess of each step's solve and the reference of its local-error test.

:class:`InitialGuess` starts a step's iteration from ``w^n`` or, for a first attempt of
an untaped step, from the extrapolation of the past states
(:class:`~generic_fem.solvers.predictor.Extrapolation`, of the scheme's order).  Where the
local-error test applies (backward Euler, the minimizing movement and the discrete
gradient with the Picard iteration, the nodal rule, ``local_error_fraction > 0``) it
also sets that test's reference: the prediction when it has the scheme's order, else
the first Picard iterate (a linearly implicit Euler step: also ``O(Δt²)`` from the
step's solution).  A taped step is solved from ``w^n`` to the tight tests: its adjoint
differentiates the discrete equations, and its replays (which have no past states)
reproduce it.
"""
import firedrake as fd

from ..core.errors import InvalidParameterError
from .predictor import Extrapolation

__all__ = ["InitialGuess", "PREDICTORS"]

#: the ``predictor`` choices
PREDICTORS = ("auto", "extrapolate", "previous")


class InitialGuess:
    """The predictor policy of a stepper (module docstring).

    :arg problem: the :class:`~generic_fem.solvers.step_problem.StepProblem`.
    :arg control: the :class:`~generic_fem.solvers.newton.EntropyNewtonControl`.
    :arg convergence: the :class:`~generic_fem.solvers.convergence.StepConvergence`.
    :arg predictor: ``"auto"`` (extrapolate where the local-error test applies, else
        ``"previous"``), ``"extrapolate"`` or ``"previous"`` (``w^n``).
    :arg local_error: whether the scheme, Jacobian and rule admit the local-error test
        and ``local_error_fraction > 0``.
    :arg t0: the initial time; ``previous``: ``[(t, w)]`` past states (oldest first).
    """

    def __init__(self, problem, control, convergence, predictor, local_error, t0, previous=None):
        if predictor not in PREDICTORS:
            raise InvalidParameterError(f"predictor must be 'auto', 'extrapolate' or 'previous', got {predictor!r}")
        self.problem, self.control, self.convergence = problem, control, convergence
        #: where the local-error test may apply (with an extrapolating predictor)
        self.local_error = bool(local_error)
        #: ``"extrapolate"`` or ``"previous"``
        self.predictor = ("extrapolate" if self.local_error else "previous") if predictor == "auto" else predictor
        self.extrapolation = Extrapolation(control, problem.method.order)
        V = problem.model.V
        for item in (previous or []):
            try:
                t_past, w_past = item
                t_past = float(t_past)
            except (TypeError, ValueError, NotImplementedError):   # (UFL refuses len() of a scalar)
                raise InvalidParameterError(f"previous: expected (t, w) pairs, got {item!r}") from None
            if not isinstance(w_past, fd.Function) or w_past.function_space() != V:
                raise InvalidParameterError("previous: each past state must be a Function on the model's space V "
                                            "(as restore_state(...).previous holds them)")
            if not t_past < t0:
                raise InvalidParameterError(f"previous: a past state at t = {t_past} is not before t0 = {t0}")
            self.extrapolation.push(t_past, w_past)

    def __call__(self, t, dt, first, taped):
        """Set the unknown's ``w`` part to the guess of the step from ``t`` of size ``dt``
        (``first``: the step's first attempt; ``taped``: under pyadjoint's annotation)."""
        p = self.problem
        p.z_w.assign(p.w_old)
        self.convergence.reset_local_test()
        self.control.set_prediction(None)
        if self.predictor != "extrapolate" or taped:
            return
        full = False
        if first:
            guess, full = self.extrapolation.guess(t, p.w_old, dt)
            # (a prediction of w^{n+1}: the unknown that gives it, under a floor of α)
            p.z_w.dat.data_wo[...] = p.unknown_values(guess).reshape(p.z_w.dat.data_ro.shape)
        if not self.local_error:
            return
        if full:
            self.convergence.local_test = True
            self.control.set_prediction(guess)
        else:   # no prediction of the step's order: the first Picard iterate serves
            self.convergence.first_iterate_reference = True

    def accepted(self, t, w):
        """Remember the state ``w`` at ``t`` (the start of an accepted sub-step)."""
        self.extrapolation.push(t, w)

    def reset(self):
        """Forget the past states (after a failed step, whose sub-steps are undone)."""
        self.extrapolation.reset()

    def states(self):
        """``[(t, w)]``: the past states (oldest first), for a checkpoint."""
        return self.extrapolation.states()
