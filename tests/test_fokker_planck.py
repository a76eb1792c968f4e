"""Linear Fokker–Planck model (forms/fokker_planck.py): conservation, entropy decay,
equilibria, exact Gaussian solution with measured orders in h and Δt, all steppers."""
import math

import numpy as np
import pytest
import firedrake as fd

from generic_fem import (run, velocity_box, Stepper, InvalidStateError,
                         InvalidParameterError, StepFailedError)
from forms.fokker_planck import FokkerPlanck, gaussian, exact_moments

SCHEMES = ["backward-euler", "minimizing-movement", "midpoint", "discrete-gradient"]


def make(dim=2, cells=8, radius=6.0, degree=2, **kw):
    mesh = velocity_box(dim, radius, cells)
    return FokkerPlanck(mesh, temperature=kw.pop("T", 1.0),
                        drift=kw.pop("drift", (0.5,) + (0.0,) * (dim - 1)), degree=degree, **kw)


def moments(model, f):
    v = model.coordinates
    d = model.dim
    m = fd.assemble(f * model.dx)
    mean = np.array([fd.assemble(v[i] * f * model.dx) for i in range(d)]) / m
    cov = np.array([[fd.assemble((v[i] - mean[i]) * (v[j] - mean[j]) * f * model.dx) / m
                     for j in range(d)] for i in range(d)])
    return m, mean, cov


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("dim", [1, 2])
def test_mass_conserved_and_entropy_decays(scheme, dim):
    model = make(dim, cells=8 if dim == 2 else 24)
    f0 = gaussian(model.coordinates, 1.3, [-1.0] + [0.5] * (dim - 1), np.diag([0.6] + [1.7] * (dim - 1)))
    h = run(model, f0, t_end=1.0, dt=0.1, scheme=scheme)
    mass = np.array(h.column("mass"))
    assert np.max(np.abs(mass - mass[0])) / mass[0] < 1e-10
    H = np.array(h.column("H"))
    assert np.all(np.diff(H) <= 1e-13 * np.abs(H[:-1])), np.diff(H)
    assert H[-1] < H[0] - 1e-3
    diss = np.array(h.column("dissipation")[1:])
    assert np.all(diss >= 0)
    # H^{n+1} − H^n ≤ −Δt ⟨θ, M θ⟩ + ⟨θ, R⟩  (convexity; for the discrete gradient with
    # equality): the residual R of a solve stopped by the local-error test has
    # ⟨θ, R⟩ ≤ κ Δt ⟨θ, M θ⟩, and the discrete gradient's chain-rule defect is at most
    # as large again
    dH, dt = np.array(h.column("dH")[1:]), np.array(h.column("dt")[1:])
    kappa = {"discrete-gradient": 2e-2}.get(scheme, 1e-2)
    assert np.all(dH <= -(1 - kappa) * dt * diss + 1e-12 * np.abs(H[1:]))
    if scheme in ("backward-euler", "midpoint", "discrete-gradient"):
        # solved to the tight tests: H^{n+1} − H^n ≤ −Δt ⟨θ, M θ⟩ to round-off, for the
        # discrete gradient with equality (its chain rule is exact)
        h = run(model, f0, t_end=0.3, dt=0.1, scheme=scheme, local_error_fraction=0)
        H = np.array(h.column("H"))
        dH, dt, diss = (np.array(h.column(k)[1:]) for k in ("dH", "dt", "dissipation"))
        assert np.all(dH <= -dt * diss + 1e-12 * np.abs(H[1:]))
        if scheme == "discrete-gradient":
            assert np.all(np.abs(dH + dt * diss) <= 1e-12 * np.abs(H[1:])), dH + dt * diss
            assert np.all(np.abs(h.column("chain_rule_defect")[1:]) <= 1e-13 * np.abs(H[1:]))


def test_3d_runs_and_conserves():
    model = make(3, cells=4, radius=5.0)
    f0 = gaussian(model.coordinates, 1.0, [0.3, 0.0, -0.2], np.diag([0.8, 1.2, 1.0]))
    h = run(model, f0, t_end=0.2, dt=0.1, scheme="backward-euler")
    mass = np.array(h.column("mass"))
    assert abs(mass[-1] - mass[0]) / mass[0] < 1e-10
    assert h.column("H")[-1] < h.column("H")[0]


def test_minimizing_movement_energy_dissipation_inequality():
    model = make(2, cells=8)
    f0 = gaussian(model.coordinates, 1.0, [-1.5, 1.0], np.diag([0.4, 2.0]))
    h = run(model, f0, t_end=1.0, dt=0.2, scheme="minimizing-movement")
    lhs, rhs = np.array(h.column("edi_lhs")[1:]), np.array(h.column("edi_rhs")[1:])
    assert np.all(lhs <= rhs + 1e-13 * np.abs(rhs))
    assert np.all(rhs - lhs > 0)  # strict for non-equilibrium data


@pytest.mark.parametrize("scheme", SCHEMES)
def test_maxwellian_is_steady(scheme):
    model = make(2, cells=8)
    f0 = model.maxwellian()
    st = Stepper(model, f0, dt=0.5, scheme=scheme)
    w0 = st.w.copy(deepcopy=True)
    st.advance()
    # the discrete equilibrium: w = T log M + ½|v−u|² = const, exactly in V_h
    assert np.max(np.abs(st.w.dat.data_ro - w0.dat.data_ro)) < 1e-10
    assert st.last["snes_its"] <= 1


def _gaussian_error(model, scheme, dt, t_end, mean0, cov0):
    f0 = gaussian(model.coordinates, 1.0, mean0, cov0)
    h = run(model, f0, t_end=t_end, dt=dt, scheme=scheme)
    f = h.stepper.density()
    mean_ex, cov_ex = exact_moments(h.stepper.t, mean0, cov0, model.u, model.T)
    exact = gaussian(model.coordinates, 1.0, mean_ex, cov_ex)
    return math.sqrt(fd.assemble((f - exact) ** 2 * model.dx))


def test_convergence_in_h():
    """Exact Gaussian solution, P1 entropy variable: L2 error of f of order 2 in h
    (Δt small, second-order scheme)."""
    mean0, cov0 = [-0.8], np.array([[0.7]])
    errs = []
    for cells in (16, 32, 64):
        model = make(1, cells=cells, radius=8.0, degree=1)
        errs.append(_gaussian_error(model, "midpoint", 0.001, 0.05, mean0, cov0))
    orders = [math.log2(a / b) for a, b in zip(errs, errs[1:])]
    print("h-errors", errs, "orders", orders)
    assert abs(orders[-1] - 2) < 0.3


@pytest.mark.parametrize("scheme,expected", [("backward-euler", 1), ("minimizing-movement", 1),
                                             ("midpoint", 2), ("discrete-gradient", 2)])
def test_convergence_in_dt(scheme, expected):
    mean0, cov0 = [-0.8], np.array([[0.7]])
    model = make(1, cells=64, radius=8.0, degree=3)
    errs = [_gaussian_error(model, scheme, dt, 0.4, mean0, cov0) for dt in (0.1, 0.05, 0.025)]
    orders = [math.log2(a / b) for a, b in zip(errs, errs[1:])]
    print(scheme, "dt-errors", errs, "orders", orders)
    assert abs(orders[-1] - expected) < 0.25


def test_bad_input_is_rejected_clearly():
    model = make(2, cells=4)
    v = model.coordinates
    with pytest.raises(InvalidStateError, match="positive"):
        Stepper(model, v[0], dt=0.1)            # negative somewhere
    with pytest.raises(InvalidStateError, match="non-finite"):
        Stepper(model, 1.0 / (v[0] - v[0]), dt=0.1)
    with pytest.raises(InvalidParameterError, match="temperature"):
        FokkerPlanck(model.mesh, temperature=-1.0)
    with pytest.raises(InvalidParameterError, match="drift"):
        FokkerPlanck(model.mesh, drift=(1.0,))
    with pytest.raises(InvalidParameterError, match="scheme"):
        Stepper(model, model.maxwellian(), dt=0.1, scheme="rk4")
    with pytest.raises(InvalidParameterError, match="time step"):
        Stepper(model, model.maxwellian(), dt=-0.1)


def test_failed_solve_is_rejected_then_stops():
    model = make(2, cells=8)
    f0 = gaussian(model.coordinates, 1.0, [-1.0, 0.0], np.diag([0.6, 0.8]))
    st = Stepper(model, f0, dt=0.5, scheme="backward-euler", max_rejections=2,
                 solver_parameters={"snes_max_it": 1})
    w_before = st.w.copy(deepcopy=True)
    with pytest.raises(StepFailedError, match="failed 3 times.*DIVERGED_MAX_IT"):
        st.advance()
    assert np.array_equal(st.w.dat.data_ro, w_before.dat.data_ro)   # state restored
    assert st.t == 0.0 and st.step_count == 0


def test_nodal_rule_steps_need_no_rejection():
    """Nodal rule: Newton's exact Jacobian diverged on these backward-Euler steps (an
    anisotropic Gaussian, Δt = 0.2: residual 0.07 → 2e4 in 50 iterations, then a
    rejection); the lagged-mobility Jacobian takes each step at once."""
    model = make(2, cells=8, rule="nodal")
    f0 = gaussian(model.coordinates, 1.0, [-1.0, 0.0], np.diag([0.6, 0.8]))
    st = Stepper(model, f0, dt=0.2, scheme="backward-euler")
    its = []
    for _ in range(3):
        stats = st.advance()
        assert stats["rejected"] == 0, stats["rejections"]
        its.append(stats["snes_its"])
    print(f"\nnodal rule, Picard iterations per step: {its}")
    assert max(its) <= 25


def test_rejected_step_is_retried_with_smaller_dt():
    """A solve that fails (injected: SNES stopped after one iteration) is rejected and
    retried with Δt/2; the step still covers Δt (two sub-steps) and reports the
    rejection; three advance() calls end at 3Δt."""
    model = make(2, cells=8)
    f0 = gaussian(model.coordinates, 1.0, [-1.0, 0.0], np.diag([0.6, 0.8]))
    st = Stepper(model, f0, dt=0.4, scheme="backward-euler")
    snes = st.solver.snes
    calls = []
    real_solve = st.solver.solve

    def flaky_solve(*a, **k):
        calls.append(float(st.dt))
        if len(calls) == 1:
            snes.setTolerances(max_it=1)
        else:
            snes.setTolerances(max_it=50)
        return real_solve(*a, **k)
    st.solver.solve = flaky_solve
    stats = st.advance()
    assert calls[:3] == [0.4, 0.2, 0.2]
    assert stats["rejected"] == 1 and stats["substeps"] == 2 and stats["dt"] == 0.4
    assert st.t == 0.4
    st.advance()
    st.advance()
    assert st.t == pytest.approx(1.2, abs=1e-15) and st.step_count == 3
    assert calls[3:] == [0.4, 0.4]     # the step size is back to dt


def test_substep_sizes_do_not_retry_a_failed_size_at_once():
    """After a rejection at 0.4 (accepted 0.2) the next sub-steps stay at 0.2 until two
    of them pass without a rejection; then 0.4 is tried again, and so on upwards."""
    from generic_fem.substeps import SubstepSizes
    s = SubstepSizes()
    assert s.next_after(0.1, 0) == 0.2                  # no failure yet: doubling
    assert s.next_after(0.2, 1) == 0.2                  # 0.4 failed: not tried at once
    assert s.next_after(0.2, 0) == 0.2
    assert s.next_after(0.2, 0) == 0.4                  # two clean sub-steps: 0.4 again
    assert s.next_after(0.05, 2) == 0.05                # 0.1 failed: at most 0.05
    assert [s.next_after(0.05, 0), s.next_after(0.05, 0)] == [0.05, 0.1]


def test_step_controller_covers_the_step_exactly():
    """StepController: the attempts halve (max_rejections + 1 at most, none below
    min_dt); accepted sub-steps cover exactly min(dt, dt_max), with no sliver at the
    end; the next step starts at twice the last sub-step."""
    from generic_fem.substeps import StepController
    c = StepController(0.4, max_rejections=2, min_dt=0.06)
    assert list(c.attempts(0.4)) == [0.4, 0.2, 0.1]
    assert list(StepController(0.4, max_rejections=6, min_dt=0.15).attempts(0.4)) == [0.4, 0.2]
    assert c.begin(dt_max=0.3) == 0.3
    sizes = []
    while not c.finished:
        h = c.next_size()
        accepted = h / 2 if not sizes else h       # the first sub-step had one rejection
        sizes.append(accepted)
        c.accepted(accepted, 1 if len(sizes) == 1 else 0)
    assert sizes == [0.15, 0.15] and c.done == 0.3
    c.end()
    assert c.dt_next == 0.3
    assert c.begin() == 0.4 and c.next_size() == 0.3
    c.dt_next = 0.4 - 1e-12                           # it would leave a sliver of 1e-12:
    c.begin()
    assert c.next_size() == 0.4                       # the whole step instead


def test_stall_window_is_checked():
    model = make(2, cells=2)
    with pytest.raises(InvalidParameterError, match="stall_window"):
        Stepper(model, model.maxwellian(), dt=0.1, stall_window=-1)
