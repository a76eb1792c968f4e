"""The Stepper's solver options (the knobs of generic_fem.solvers.stepper_options): each
is checked with a message naming it, read from ``solver_parameters``, the command line
(``-gfem_<name>``, which wins) or the keyword alias, and the ones no other test sets are
shown to act (figures measured on this 4-cell Fokker–Planck problem, three steps of 0.1:
see each test)."""
import contextlib
import math

import numpy as np
import pytest

from generic_fem import run, velocity_box, Stepper, StepFailedError
from generic_fem.core.errors import InvalidParameterError
from generic_fem.solvers.stepper_options import KNOBS
from petsc4py import PETSc
from forms.fokker_planck import FokkerPlanck, gaussian


def _problem():
    model = FokkerPlanck(velocity_box(2, 5.0, 4), temperature=1.0, drift=(0.5, 0.0))
    return model, gaussian(model.coordinates, 1.0, [0.3, -0.2], np.diag([0.8, 1.3]))


def _run(**kw):
    model, f0 = _problem()
    return run(model, f0, t_end=0.3, dt=0.1, **kw)


def _drift(h):
    m = np.array(h.column("mass"))
    return np.max(np.abs(m - m[0])) / m[0]


@pytest.mark.parametrize("name,value", [
    ("max_update", -1.0), ("update_tol", 0.0), ("floor_rtol", math.nan), ("structure_tol", -1e-3),
    ("safeguard", 1.5), ("alpha_tol", math.inf), ("alpha_rounds", 0), ("anderson_depth", -2),
    ("stall_window", -1), ("local_error_fraction", -0.1), ("max_update", "5"),
])
def test_a_bad_option_value_is_refused_by_name(name, value):
    model, f0 = _problem()
    with pytest.raises(InvalidParameterError, match=name):
        Stepper(model, f0, dt=0.1, **{name: value})
    if not isinstance(value, str):   # (a PETSc-style option may be a numeric string)
        with pytest.raises(InvalidParameterError, match=name):
            Stepper(model, f0, dt=0.1, solver_parameters={name: value})


@contextlib.contextmanager
def _command_line(**options):
    """``-gfem_<name> <value>`` in PETSc's options database, as if given on the command line."""
    db = PETSc.Options()
    for k, v in options.items():
        db.setValue("gfem_" + k, v)
    try:
        yield
    finally:
        for k in options:
            db.delValue("gfem_" + k)


def test_knobs_are_prefixed_options_and_the_command_line_wins():
    """A knob given in ``solver_parameters`` is that option (and is not passed on to
    PETSc); ``-gfem_<name>`` on the command line wins over the dict and the keyword,
    numeric strings and PETSc's booleans are read; a bad string is refused by name."""
    model, f0 = _problem()
    st = Stepper(model, f0, dt=0.1, solver_parameters={"max_update": "0.25", "project_invariants": False})
    assert st.max_update == st.control.max_update == 0.25 and st.project_invariants is False
    assert "max_update" not in st.solver_parameters and st.projection is None
    with _command_line(max_update="0.5", stall_window="3", project_invariants="0", alpha_rounds="2"):
        st = Stepper(model, f0, dt=0.1, scheme="discrete-gradient", max_update=2.0,
                     solver_parameters={"max_update": 1.0, "stall_window": 7})
    assert (st.max_update, st.stall_window, st.project_invariants, st.alpha_rounds) == (0.5, 3, False, 2)
    with _command_line(update_tol="tiny"):
        with pytest.raises(InvalidParameterError, match="update_tol"):
            Stepper(model, f0, dt=0.1)
    with _command_line(project_invariants="maybe"):
        with pytest.raises(InvalidParameterError, match="project_invariants"):
            Stepper(model, f0, dt=0.1)
    with pytest.raises(TypeError, match="max_updat"):
        Stepper(model, f0, dt=0.1, max_updat=2.0)
    assert set(KNOBS) >= {"max_update", "update_tol", "local_error_fraction", "anderson_depth"}


def test_project_invariants_makes_a_loose_solve_conservative():
    """Loose solves (the local-error test) leave the mass off by their residual (1.1e-7
    here); the projection makes it exact (4e-15)."""
    assert _drift(_run()) <= 1e-13
    assert _drift(_run(solver_parameters={"project_invariants": False})) > 1e-10


def test_max_update_limits_each_iteration():
    """Clipping each nodal update of ``w`` at 0.05 takes 114 iterations where the default
    (5) takes 10; the result is the same to the solve's tolerance.  The option from the
    command line, the dict and the keyword alias give the same iterations."""
    a, b = _run(), _run(solver_parameters={"max_update": 0.05})
    its = [sum(h.column("snes_its")[1:]) for h in (a, b)]
    assert its[1] > 3 * its[0]
    with _command_line(max_update="0.05"):
        c = _run(solver_parameters={"max_update": 5.0})
    assert list(c.column("snes_its")) == list(b.column("snes_its")) == list(_run(max_update=0.05).column("snes_its"))
    assert abs(a.column("H")[-1] - b.column("H")[-1]) <= 1e-6 * abs(a.column("H")[-1])


def test_alpha_options_of_the_discrete_gradient():
    """``alpha_tol`` is the chain-rule defect accepted relative to ``⟨Δw, Δf⟩`` (tight
    solves: 5e-7 with 1e-3, 1.3e-14 with the default 1e-14); one ``α`` round cannot
    make the chain rule exact, so every attempt is rejected."""
    tight = {"scheme": "discrete-gradient", "local_error_fraction": 0}
    exact = np.max(np.abs(_run(**tight).column("chain_rule_defect")[1:]))
    loose = np.max(np.abs(_run(solver_parameters={"alpha_tol": 1e-3}, **tight).column("chain_rule_defect")[1:]))
    assert exact <= 1e-12 and loose > 1e-9
    with pytest.raises(StepFailedError):
        _run(scheme="discrete-gradient", alpha_rounds=1)


def test_options_set_after_construction_act_and_are_checked():
    """The solver options are attributes of the stepper that its parts read: set later,
    they act (one α round: every discrete-gradient attempt is rejected) and are checked."""
    model, f0 = _problem()
    st = Stepper(model, f0, dt=0.1, scheme="discrete-gradient", local_error_fraction=0)
    st.alpha_rounds = 1
    assert st.alpha_policy.alpha_rounds == 1
    with pytest.raises(StepFailedError):
        st.advance()
    for name, bad in (("update_tol", 0.0), ("stall_window", -3), ("alpha_rounds", 0), ("local_error_fraction", -1.0)):
        with pytest.raises(InvalidParameterError, match=name):
            setattr(st, name, bad)
    st.update_tol, st.stall_window, st.local_error_fraction = 1e-8, 4, 0.05
    assert (st.convergence.update_tol, st.convergence.stall_window) == (1e-8, 4)
    assert st.convergence.local_error_fraction == st.alpha_policy.local_error_fraction == 0.05


def test_review_fixes_of_the_stepper_parts():
    """A local model with the exact Jacobian keeps the direct solve (the Krylov settings
    are for the matrix-free two-point correction only); ``predictor`` is settable and
    checked; ``options_prefix=None`` works; a boolean knob takes 0/1 and a PETSc flag
    (``None``) in the dict."""
    model, f0 = _problem()
    st = Stepper(model, f0, dt=0.1, nonlocal_jacobian="exact")
    assert st.solver_parameters["ksp_type"] == "preonly"
    st.predictor = "previous"
    assert st.guess.predictor == "previous"
    with pytest.raises(InvalidParameterError, match="predictor"):
        st.predictor = "linear"
    st = Stepper(model, f0, dt=0.1, options_prefix=None, project_invariants=0)
    assert st.project_invariants is False
    st = Stepper(model, f0, dt=0.1, solver_parameters={"project_invariants": None})
    assert st.project_invariants is True
