"""StepProblem on its own: the residual of a step is its increment of the density plus
Δt times the rate, the scheme decides θ and the mobility state, the lagged-mobility
Jacobian is the symmetric Picard matrix, and the discrete gradient alone has a
chain-rule defect form."""
import numpy as np
import pytest
import firedrake as fd
import ufl

from generic_fem import velocity_box
from generic_fem.solvers.schemes import scheme_named
from generic_fem.solvers.step_problem import StepProblem
from generic_fem.core.errors import InvalidParameterError
from forms.fokker_planck import FokkerPlanck, gaussian


def _model():
    return FokkerPlanck(velocity_box(2, 5.0, 4), temperature=1.0, drift=(0.5, 0.0))


def _state(model, scale=1.0):
    f = gaussian(model.coordinates, 1.0, [0.3 * scale, -0.2], np.diag([0.8, 1.3]))
    return model.state_from_density(f)


@pytest.mark.parametrize("scheme", ["backward-euler", "minimizing-movement", "midpoint", "discrete-gradient"])
def test_the_residual_is_the_density_increment_plus_dt_times_the_rate(scheme):
    model = _model()
    p = StepProblem(model, scheme_named(scheme))
    p.w_old.assign(_state(model))
    p.z_w.assign(_state(model, scale=-1.0))
    p.dt.assign(0.3)
    p.alpha.assign(0.7)
    phi = fd.TestFunction(model.V)
    w1 = p.z_w
    theta = p.w_old + 0.7 * (w1 - p.w_old) if scheme in ("midpoint", "discrete-gradient") else w1
    fstar = model.density(p.w_old) if scheme == "minimizing-movement" else model.density(theta)
    # the discrete gradient's unknown u gives w^{n+1} through its node-wise map (motion_map)
    w_next = w1 if p.motion is None else fd.Function(model.V)
    if p.motion is not None:
        w_next.dat.data[...] = p.state_values(w1.dat.data_ro).reshape(w_next.dat.data.shape)
    assert (p.motion is not None) == (scheme == "discrete-gradient")
    expected = (ufl.inner(phi, model.density(w_next) - model.density(p.w_old)) * model.dx
                + 0.3 * model.friction_with_auxiliary(fstar, theta, phi, None))
    r, e = fd.assemble(p.residual).dat.data_ro, fd.assemble(expected).dat.data_ro
    assert np.max(np.abs(r - e)) <= 1e-14 * np.max(np.abs(e))
    th = p.theta_values(w1.dat.data_ro)
    assert np.allclose(th, fd.Function(model.V).interpolate(theta).dat.data_ro.reshape(-1), rtol=0, atol=1e-13)
    assert (p.defect_form is not None) == (scheme == "discrete-gradient")
    # at w^{n+1} = w^n the residual is Δt ⟨φ, M(f) θ⟩, and ⟨w, M w⟩ ≥ 0 is the dissipation
    p.z_w.assign(p.w_old)
    D = fd.assemble(p.dissipation_form)
    assert D > 0
    assert abs(float(np.dot(fd.assemble(p.residual).dat.data_ro, p.w_old.dat.data_ro)) - 0.3 * D) <= 1e-12 * D


def test_the_lagged_mobility_jacobian_is_symmetric_where_the_full_one_is_not():
    """Backward Euler under the nodal rule: the Picard Jacobian (mobility held at the
    iterate through ``lag_mobility``) is symmetric positive definite; the residual's own
    derivative (with the local mobility's derivative) is not symmetric."""
    model = _model()
    p = StepProblem(model, scheme_named("backward-euler"))
    p.w_old.assign(_state(model))
    p.z_w.assign(_state(model, scale=-1.0))
    p.dt.assign(0.2)
    assert p.jacobian is not None and p.theta_lagged is not None
    p.lag_mobility()
    assert np.array_equal(p.theta_lagged.dat.data_ro, p.z_w.dat.data_ro)
    J = fd.assemble(p.jacobian).petscmat
    A = J.convert("dense").getDenseArray()
    assert np.max(np.abs(A - A.T)) <= 1e-13 * np.max(np.abs(A))
    assert np.linalg.eigvalsh(0.5 * (A + A.T)).min() > 0
    F = fd.assemble(fd.derivative(p.residual, p.z)).petscmat.convert("dense").getDenseArray()
    assert np.max(np.abs(F - F.T)) > 1e-6 * np.max(np.abs(F))
    # the minimizing movement's mobility is frozen at f^n: nothing to lag
    assert StepProblem(model, scheme_named("minimizing-movement")).jacobian is None


def test_an_unknown_jacobian_kind_is_refused():
    with pytest.raises(InvalidParameterError, match="nonlocal_jacobian must be 'picard' or 'exact'"):
        StepProblem(_model(), scheme_named("backward-euler"), nonlocal_jacobian="newton")


def test_a_forcing_enters_as_theta_minus_psi():
    """With a forcing ``ψ`` (the perturbed curves of ``J_T``) the friction acts on
    ``θ − ψ``, in the residual and in the dissipation form."""
    model = _model()
    v = model.coordinates
    psi = 0.1 * ufl.dot(v, v) - 0.3 * v[0]
    p = StepProblem(model, scheme_named("backward-euler"), forcing=psi)
    p.w_old.assign(_state(model))
    p.z_w.assign(_state(model, scale=-1.0))
    p.dt.assign(0.3)
    phi = fd.TestFunction(model.V)
    w1 = p.z_w
    f1 = model.density(w1)
    expected = (ufl.inner(phi, f1 - model.density(p.w_old)) * model.dx
                + 0.3 * (model.friction_with_auxiliary(f1, w1, phi, None)
                         - model.friction_with_auxiliary(f1, psi, phi, None)))
    r, e = fd.assemble(p.residual).dat.data_ro, fd.assemble(expected).dat.data_ro
    assert np.max(np.abs(r - e)) <= 1e-14 * np.max(np.abs(e))
    D = fd.assemble(p.dissipation_form)
    D_expected = fd.assemble(model.friction_with_auxiliary(f1, w1 - psi, w1, None))
    assert abs(D - D_expected) <= 1e-13 * abs(D_expected)
    assert len(p.nonlocal_pairs) == 2


@pytest.mark.parametrize("scheme", ["midpoint", "discrete-gradient"])
def test_a_floor_of_alpha_enters_through_the_map_to_the_new_state(scheme):
    """Under a node-wise floor ``a`` of ``α`` the unknown is ``u``: ``θ = w^n + α(u − w^n)``
    is in ``V_h`` and ``w^{n+1} = w^n + r(u − w^n)``, ``r = α/max(α, a)``, node by node, so
    that ``θ_i = w^n_i + max(α, a_i)(w^{n+1}_i − w^n_i)``.  The residual is the density
    increment at ``F(w^{n+1})`` plus ``Δt`` times the friction at that ``θ``; the map and
    its inverse agree; ``∂w^{n+1}/∂α`` (the adjoint's) matches a difference quotient."""
    model = _model()
    p = StepProblem(model, scheme_named(scheme), floor=True)
    p.w_old.assign(_state(model))
    p.z_w.assign(_state(model, scale=-1.0))
    p.dt.assign(0.3)
    alpha = 0.55
    p.alpha.assign(alpha)
    rng = np.random.default_rng(4)
    a = rng.uniform(0.0, 1.0, size=p.alpha_floor.dat.data_ro.shape)
    p.alpha_floor.dat.data[...] = a
    u = np.array(p.z_w.dat.data_ro).reshape(-1)
    w0 = np.array(p.w_old.dat.data_ro).reshape(-1)
    w1 = p.state_values(u)
    theta = p.theta_values(u)
    m = np.maximum(alpha, a.reshape(-1))
    assert np.allclose(theta, w0 + m * (w1 - w0), rtol=0, atol=1e-13)
    assert np.any(a > alpha) and np.allclose(p.unknown_values(w1), u, rtol=0, atol=1e-12)
    # the residual: F(w^{n+1}) in the time-derivative term, θ ∈ V_h in the friction
    W1, TH = fd.Function(model.V), fd.Function(model.V)
    W1.dat.data[...] = w1.reshape(W1.dat.data_ro.shape)
    TH.dat.data[...] = theta.reshape(TH.dat.data_ro.shape)
    phi = fd.TestFunction(model.V)
    expected = (ufl.inner(phi, model.density(W1) - model.density(p.w_old)) * model.dx
                + 0.3 * model.friction_with_auxiliary(model.density(TH), TH, phi, None))
    r, e = fd.assemble(p.residual).dat.data_ro, fd.assemble(expected).dat.data_ro
    assert np.max(np.abs(r - e)) <= 1e-13 * np.max(np.abs(e))
    # the adjoint's pieces: r and ∂w^{n+1}/∂α at fixed u
    ratio, d_alpha = p.state_output_scaling()
    assert np.allclose(ratio, alpha / m, rtol=0, atol=1e-15)
    h = 1e-7
    p.alpha.assign(alpha + h)
    fd_alpha = (p.state_values(u) - w1) / h
    p.alpha.assign(alpha)
    assert np.allclose(d_alpha, fd_alpha, rtol=1e-5, atol=1e-6)


def test_motion_map_inverse_bounds_and_derivatives():
    """The discrete gradient's node-wise map Δw = k(d) = d + (1 − α)/α σ(d): its inverse,
    α_i = d/Δw in [α, 1] (→ 1 for large motion, α for small), k' and ∂k/∂α against
    difference quotients."""
    from generic_fem.solvers.motion_map import MotionMap
    mm = MotionMap(1.0)
    rng = np.random.default_rng(3)
    dw = rng.normal(size=400) * rng.choice([1e-9, 0.1, 3.0, 300.0], size=400)
    for alpha in (0.02, 0.3, 0.47, 0.5, 0.8):
        d = mm.inverse_values(dw, alpha)
        assert np.max(np.abs(mm.step_values(d, alpha) - dw) / np.abs(dw)) <= 1e-14
        ai = d / dw
        assert np.all(ai >= alpha * (1 - 1e-14)) and np.all(ai <= 1 + 1e-14)
        # |w^{n+1} − θ| = β|σ(d)| < βc: α_i > 1 − βc/|Δw| (→ 1 for large motion)
        beta = (1 - alpha) / alpha
        small = np.abs(dw) < 1e-6
        assert np.allclose(ai[small], alpha, rtol=1e-9) and np.all(ai > 1 - beta / np.abs(dw))
        x = rng.normal(size=50) * 3
        kp, ka = mm.derivatives(x, alpha)
        h = 1e-6
        assert np.allclose(kp, (mm.step_values(x + h, alpha) - mm.step_values(x - h, alpha)) / (2 * h), rtol=1e-7)
        assert np.allclose(ka, (mm.step_values(x, alpha + h) - mm.step_values(x, alpha - h)) / (2 * h), rtol=1e-6)
    assert np.array_equal(mm.inverse_values(np.zeros(3), 0.4), np.zeros(3))
    with pytest.raises(ValueError, match="motion scale"):
        MotionMap(-1.0)


def test_the_node_wise_chain_rule_of_a_step_is_that_of_its_curve():
    """A discrete-gradient step under the nodal rule with nodes that move by many c: the
    chain rule recomputed from (w^n, w^{n+1}) alone (J_T^h's interval_state) gives the
    step's α and θ, and H^{n+1} − H^n = ⟨θ, Δf⟩ to round-off."""
    from generic_fem import Stepper
    from generic_fem.grazing import interval_state
    model = _model()
    w0 = _state(model)
    st = Stepper(model, w0=w0, dt=0.5, scheme="discrete-gradient", local_error_fraction=0.0)
    st.advance()
    alpha = st.last["alpha"]
    theta_step = st.problem.theta_values(st.problem.z_w.dat.data_ro)
    dw = st.w.dat.data_ro - w0.dat.data_ro
    ai = (theta_step - w0.dat.data_ro) / np.where(dw != 0, dw, 1.0)
    assert np.max(ai) > alpha + 0.05          # the map is active at some node
    theta, _, a = interval_state(model, w0, st.w)
    assert a == pytest.approx(alpha, abs=1e-9)
    assert np.max(np.abs(theta.dat.data_ro - theta_step)) <= 1e-8
    f0, f1 = model.density(w0), model.density(st.w)
    H = [-fd.assemble(model.S(f)) for f in (f0, f1)]
    chain = H[1] - H[0] - fd.assemble(ufl.inner(theta, f1 - f0) * model.dx)
    assert abs(chain) <= 1e-11 * abs(H[1] - H[0])
