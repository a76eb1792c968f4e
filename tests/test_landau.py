"""Homogeneous Landau operator (docs/models.rst, Homogeneous Landau; issue 4).

Orders and errors are printed (``pytest -s``) as well as asserted."""
import numpy as np
import pytest
import ufl
import firedrake as fd
from mpi4py import MPI

from generic_fem import (run, velocity_box, velocity_ball, InvalidParameterError, InvalidStateError,
                         energy_dissipation_functional)
from generic_fem import checks
from generic_fem.pair_kernels import pair_sums, moment_sums, local_moments
from helpers import jacobian_action_errors
from forms.landau import Landau, bkw, anisotropic_second_moment

INVARIANTS = ("mass", "momentum_0", "momentum_1", "energy")


def two_bumps(model):
    return model.maxwellian(1.0, (1.0, 0.0), 0.5) + model.maxwellian(0.5, (-1.0, 0.5), 0.8)


def rel_l2(model, f, g):
    return float(np.sqrt(fd.assemble((f - g) ** 2 * model.dx) / fd.assemble(g ** 2 * model.dx)))


def moments(model, f):
    v = model.coordinates
    m = fd.assemble(f * model.dx)
    u = np.array([fd.assemble(f * v[i] * model.dx) for i in range(model.dim)]) / m
    e = fd.assemble(ufl.dot(v, v) * f * model.dx)
    T = (e / m - u @ u) / model.dim
    return m, u, T


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("gamma", [-3.0, -2.2, 0.0, 1.0])
def test_compiled_pair_sums_match_direct_sums(d, gamma):
    rng = np.random.default_rng(3)
    N = 200
    x, c, g = rng.standard_normal((N, d)), rng.random(N), rng.standard_normal((N, d))
    G, J = pair_sums(gamma, x, g, x, c, g)
    z = x[:, None, :] - x[None, :, :]
    r2 = (z ** 2).sum(-1)
    np.fill_diagonal(r2, 1.0)
    s = c[None, :] * r2 ** (gamma / 2)
    np.fill_diagonal(s, 0.0)
    a = s[..., None, None] * (r2[..., None, None] * np.eye(d) - z[..., :, None] * z[..., None, :])
    Gr = a.sum(1)
    Jr = np.einsum("qpij,qpj->qi", a, g[:, None, :] - g[None, :, :])
    assert np.abs(G - Gr).max() <= 1e-13 * np.abs(Gr).max()
    assert np.abs(J - Jr).max() <= 1e-13 * np.abs(Jr).max()
    if gamma == 0.0:
        Gm, Jm = moment_sums(x, g, local_moments(x, c, g))
        assert np.abs(Gm - Gr).max() <= 1e-12 * np.abs(Gr).max()
        assert np.abs(Jm - Jr).max() <= 1e-12 * np.abs(Jr).max()


# ----------------------------------------------------------------------------- input checks
def test_invalid_parameters_are_refused():
    mesh = velocity_box(2, 5.0, 2)
    with pytest.raises(InvalidParameterError, match="gamma"):
        Landau(mesh, gamma=-3.5)
    with pytest.raises(InvalidParameterError, match="gamma"):
        Landau(mesh, gamma=float("nan"))
    with pytest.raises(InvalidParameterError, match="C must be positive"):
        Landau(mesh, gamma=0.0, C=0.0)
    with pytest.raises(InvalidParameterError, match=r"\|v\|\^2"):
        Landau(mesh, gamma=0.0, degree=1)
    with pytest.raises(InvalidParameterError, match="dimension 1"):
        Landau(velocity_box(1, 5.0, 4), gamma=0.0)
    model = Landau(mesh, gamma=-3.0)
    with pytest.raises(InvalidStateError, match="positive"):
        run(model, model.maxwellian() - 0.01, t_end=0.1, dt=0.1)
    with pytest.raises(InvalidStateError, match="non-finite"):
        v = model.coordinates
        run(model, model.maxwellian() / (v[0] - v[0]), t_end=0.1, dt=0.1)


# ----------------------------------------------------------------------------- structure
@pytest.mark.parametrize("rule", ["gauss", "nodal"])
@pytest.mark.parametrize("d,gamma", [(2, -3.0), (2, 0.0), (2, 1.0), (3, -3.0)])
def test_friction_operator_is_spsd_with_collision_invariants_in_kernel(d, gamma, rule):
    mesh = velocity_box(d, 5.0, 4 if d == 2 else 2)
    model = Landau(mesh, gamma=gamma, rule=rule)
    v = model.coordinates
    f = model.maxwellian(1.0, [0.5] + [0.0] * (d - 1), 0.7) + model.maxwellian(0.5, [-1.0] * d, 1.2)
    M = checks.friction_matrix_dense(model, f)
    assert np.linalg.norm(M - M.T) <= 1e-13 * np.linalg.norm(M)
    S = 0.5 * (M + M.T)
    ev = np.linalg.eigvalsh(S)
    assert ev[0] >= -1e-13 * ev[-1]
    # exactly d + 2 zero eigenvalues (1, v_i, |v|^2), clearly separated from the next
    # one.  With the Jacobi scaling D^{-1/2} S D^{-1/2} (a congruence: the same kernel
    # dimension): unscaled, a mode at a node where f is tiny (nodal rule, 3D: a box
    # corner, f ~ 1e-23) has an eigenvalue at round-off level (3e-16 of the largest)
    dg = np.sqrt(np.diag(S))
    evs = np.linalg.eigvalsh(S / dg[:, None] / dg[None, :])
    print(f"\nd={d} gamma={gamma} {rule}: smallest eigenvalues / largest {ev[:d + 3] / ev[-1]}, "
          f"Jacobi-scaled {evs[:d + 3] / evs[-1]}")
    assert evs[d + 1] <= 1e-13 * evs[-1] and evs[d + 2] >= 1e-7 * evs[-1]
    for i, k in checks.kernel_defect(model, f).items():
        assert k < 1e-13, (i, k)
    # the dense matrix is the operator (checked against its action)
    assert np.linalg.norm(checks._dense_from_action(model, f) - M) <= 1e-12 * np.linalg.norm(M)


@pytest.mark.parametrize("gamma", [-3.0, 0.0, 1.0])
def test_maxwellians_are_steady(gamma):
    model = Landau(velocity_box(2, 6.0, 6), gamma=gamma)
    f = model.maxwellian(1.3, (0.4, -0.3), 0.9)
    phi = fd.TestFunction(model.V)
    w = model.state_from_density(f)
    r = fd.assemble(model.apply_friction(model.density(w), w, phi))
    ref = fd.assemble(model.apply_friction(model.density(w), w + 0.1 * model.coordinates[0] ** 2, phi))
    with r.dat.vec_ro as rv, ref.dat.vec_ro as refv:
        print(f"\ngamma={gamma}: |M(M) log M| = {rv.norm():.2e} (vs {refv.norm():.2e} off equilibrium)")
        assert rv.norm() <= 1e-13 * refv.norm()
    h = run(model, f, t_end=0.5, dt=0.25)
    assert h.stepper.last["snes_its"] <= 2
    assert np.max(np.abs(h.stepper.w.dat.data_ro - w.dat.data_ro)) < 1e-9


# ----------------------------------------------------------------------------- runs
@pytest.mark.parametrize("gamma,scheme", [(-3.0, "backward-euler"), (-3.0, "minimizing-movement"),
                                          (-3.0, "midpoint"), (1.0, "backward-euler"),
                                          (0.0, "midpoint"), (-1.5, "backward-euler"),
                                          (-3.0, "discrete-gradient")])
def test_conservation_entropy_positivity(gamma, scheme):
    model = Landau(velocity_box(2, 6.0, 6), gamma=gamma)
    h = run(model, two_bumps(model), t_end=1.0, dt=0.1, scheme=scheme)
    mass0 = h.column("mass")[0]
    for k in INVARIANTS:
        c = np.array(h.column(k))
        drift = np.max(np.abs(c - c[0])) / mass0
        assert drift <= 1e-10, (k, drift)
    H = np.array(h.column("H"))
    assert np.all(np.diff(H) < 0), H
    if scheme == "minimizing-movement":
        for r in h.records[1:]:
            assert r["edi_lhs"] <= r["edi_rhs"] + 1e-12
    fq = fd.Function(model.Q).interpolate(h.stepper.density())
    assert np.all(np.isfinite(fq.dat.data_ro)) and fq.dat.data_ro.min() > 0


@pytest.mark.parametrize("rule", ["gauss", "nodal"])
def test_exact_newton_matches_picard_and_converges_quadratically(rule):
    """``nonlocal_jacobian="exact"``: the matrix-free exact Jacobian.  Same solution as
    the Picard iteration (both converge the same residual), in fewer nonlinear
    iterations; the Jacobian action agrees with a finite difference of the residual."""
    model = Landau(velocity_box(2, 5.0, 4), gamma=-3.0, rule=rule)
    f0 = two_bumps(model)
    # both to the tight tests (the local-error test, for Picard only, stops earlier by design)
    hp = run(model, f0, t_end=0.2, dt=0.1, local_error_fraction=0.0)
    he = run(model, f0, t_end=0.2, dt=0.1, nonlocal_jacobian="exact")
    assert np.allclose(hp.column("H"), he.column("H"), rtol=1e-12, atol=0)
    # the same densities (what the discrete equations determine): at a node where f is
    # 1e-11 of the peak (nodal rule, w = −26) w itself is only fixed to ~1e-2
    fp, fe = model.density(hp.stepper.w), model.density(he.stepper.w)
    fpv = fd.Function(model.quadrature_space(())).interpolate(fp).dat.data_ro
    fev = fd.Function(model.quadrature_space(())).interpolate(fe).dat.data_ro
    assert np.max(np.abs(fpv - fev)) < 1e-10 * np.max(fpv)
    assert sum(he.column("snes_its")[1:]) < sum(hp.column("snes_its")[1:])
    # Jacobian action vs a central difference of the residual, at the end state
    err_exact, err_picard = jacobian_action_errors(he.stepper)
    print(f"\nJacobian action vs finite difference: exact {err_exact:.2e}, frozen (Picard) {err_picard:.2e}")
    assert err_exact < 1e-6 and err_picard > 1e3 * err_exact


def test_exact_newton_handles_the_midpoint_case_where_picard_cycles():
    # the Gauss rule's case (under the nodal rule the default lagged-mobility Picard
    # iteration runs it with rejections and exact Newton needs 43: docs/theory.rst)
    model = Landau(velocity_box(2, 6.0, 8), gamma=0.0, rule="gauss")
    h = run(model, two_bumps(model), t_end=0.4, dt=0.1, scheme="midpoint", nonlocal_jacobian="exact")
    assert sum(h.column("rejected")[1:]) == 0
    for k in INVARIANTS:
        c = np.array(h.column(k))
        assert np.max(np.abs(c - c[0])) <= 1e-10 * h.column("mass")[0], k
    assert np.all(np.diff(h.column("H")) < 0)


def test_ball_mesh_coulomb():
    model = Landau(velocity_ball(2, 6.0, 2), gamma=-3.0)
    h = run(model, two_bumps(model), t_end=0.5, dt=0.1)
    for k in INVARIANTS:
        c = np.array(h.column(k))
        assert np.max(np.abs(c - c[0])) <= 1e-10 * h.column("mass")[0], k
    assert np.all(np.diff(h.column("H")) < 0)


@pytest.mark.parametrize("gamma,t_end", [(-3.0, 6.0), (1.0, 1.5)])
def test_relaxation_to_the_maxwellian_with_the_same_invariants(gamma, t_end):
    model = Landau(velocity_box(2, 6.0, 8), gamma=gamma)
    f0 = two_bumps(model)
    h = run(model, f0, t_end=t_end, dt=0.25 if gamma < 0 else 0.1)
    m, u, T = moments(model, model.density(h.stepper.w))
    m0, u0, T0 = moments(model, model.density(model.state_from_density(f0)))
    assert abs(m - m0) < 1e-12 * m0 and np.allclose(u, u0, atol=1e-10) and abs(T - T0) < 1e-10 * T0
    f = model.density(h.stepper.w)
    dist = rel_l2(model, f, model.maxwellian(m, u, T))
    dist0 = rel_l2(model, f0, model.maxwellian(m, u, T))
    print(f"\ngamma={gamma}: relative L2 distance to the Maxwellian {dist0:.3e} -> {dist:.3e} at t={t_end}")
    assert dist < 0.1 * dist0


def _bkw_error(d, n, R, dt, scheme, t0=0.5, T=0.5, ref=None, rule=None):
    model = Landau(velocity_box(d, R, n), gamma=0.0, rule=rule)
    v = model.coordinates
    h = run(model, bkw(v, t0), t0=t0, t_end=t0 + T, dt=dt, scheme=scheme)
    f = model.density(h.stepper.w)
    if ref is None:
        return rel_l2(model, f, bkw(v, t0 + T)), h
    return rel_l2(model, f, ref), h


def test_bkw_convergence_in_h_2d():
    errs = [_bkw_error(2, n, 7.0, 0.02, "midpoint")[0] for n in (8, 16, 32)]
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    print(f"\nBKW d=2 (midpoint, dt=0.02): errors {errs}, h-orders {orders}")
    assert np.all(orders > 2.5)


def test_bkw_convergence_in_h_3d():
    # the Gauss rule: on 4, 6, 8 cells the nodal rule (27 points per cell against 64) is
    # before its asymptotic range in 3D (h-orders 0.74, 5.2)
    errs = [_bkw_error(3, n, 6.0, 0.1, "midpoint", T=0.3, rule="gauss")[0] for n in (4, 6, 8)]
    orders = np.log(np.array(errs[:-1]) / np.array(errs[1:])) / np.log(np.array([6 / 4, 8 / 6]))
    print(f"\nBKW d=3 (midpoint, dt=0.1): errors {errs}, h-orders {orders}")
    assert np.all(orders > 2.5)


@pytest.mark.parametrize("scheme,expected", [("backward-euler", 1.0), ("midpoint", 2.0),
                                             ("discrete-gradient", 2.0)])
def test_bkw_convergence_in_dt(scheme, expected):
    """Time error against a dt/32 solution on the same mesh (the space error cancels),
    and the error against the exact BKW solution."""
    model = Landau(velocity_box(2, 7.0, 16), gamma=0.0)
    v = model.coordinates

    def solve(dt):
        h = run(model, bkw(v, 0.5), t0=0.5, t_end=1.0, dt=dt, scheme=scheme)
        return h.stepper.w.copy(deepcopy=True)
    ref = model.density(solve(0.2 / 32))
    errs, exact_errs = [], []
    for dt in (0.2, 0.1, 0.05):
        f = model.density(solve(dt))
        errs.append(rel_l2(model, f, ref))
        exact_errs.append(rel_l2(model, f, bkw(v, 1.0)))
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    print(f"\nBKW {scheme}: time errors {errs}, dt-orders {orders}; errors vs exact {exact_errs}")
    assert np.all(np.abs(orders - expected) < 0.25)


def test_anisotropic_relaxation_of_the_second_moment():
    # the Gauss rule (the nodal rule on this mesh: traceless error 2.2e-2, open)
    model = Landau(velocity_box(2, 7.0, 12), gamma=0.0, rule="gauss")
    v = model.coordinates
    f0 = fd.exp(-v[0] ** 2 / (2 * 1.5) - v[1] ** 2 / (2 * 0.5)) / (2 * np.pi * np.sqrt(0.75))
    h = run(model, f0, t_end=0.3, dt=0.01, scheme="midpoint", keep_trajectory=True)
    errs = []
    w0 = h.trajectory[0][1]
    f_init = model.density(w0)
    m = fd.assemble(f_init * model.dx)
    theta0 = np.array([[fd.assemble(v[i] * v[j] * f_init * model.dx) for j in range(2)] for i in range(2)])
    for t, w in h.trajectory[1:]:
        f = model.density(w)
        theta = np.array([[fd.assemble(v[i] * v[j] * f * model.dx) for j in range(2)] for i in range(2)])
        exact = anisotropic_second_moment(theta0, m, t)
        assert abs(np.trace(theta) - np.trace(theta0)) < 1e-10 * np.trace(theta0)
        dev, dev_exact = theta - np.trace(theta) / 2 * np.eye(2), exact - np.trace(exact) / 2 * np.eye(2)
        errs.append(np.abs(dev - dev_exact).max() / np.abs(dev_exact).max())
    rate = np.log((theta0[0, 0] - theta0[1, 1]) / (theta[0, 0] - theta[1, 1])) / h.trajectory[-1][0]
    print(f"\nanisotropic relaxation: decay rate {rate:.6f} (exact 4 d m = {8 * m:.6f}), "
          f"max relative error of the traceless part {max(errs):.2e}")
    assert max(errs) < 2e-3
    assert abs(rate - 8 * m) < 1e-3 * 8 * m


def test_energy_dissipation_functional_of_bkw_runs_goes_to_zero():
    vals = []
    for n, dt in ((6, 0.1), (8, 0.05), (12, 0.025)):
        model = Landau(velocity_box(2, 7.0, n), gamma=0.0)
        h = run(model, bkw(model.coordinates, 0.5), t0=0.5, t_end=0.8, dt=dt, keep_trajectory=True)
        r = energy_dissipation_functional(model, h)
        assert r.compatibility_violation < 1e-8
        assert abs(r.square_term) < 1e-6 * r.dissipation_term   # ~ the solver residual
        vals.append(abs(r.total))
    rates = np.log2(np.array(vals[:-1]) / np.array(vals[1:]))
    print(f"\nJ_T of BKW runs: |J_T| = {vals}, rates per halving of dt {rates}")
    assert vals[0] > vals[1] > vals[2] and np.all(rates > 0.7)


# ----------------------------------------------------------------------------- parallel
def _parallel_case(comm, gamma, scheme, jacobian):
    model = Landau(velocity_box(2, 6.0, 6, comm=comm), gamma=gamma)
    return run(model, two_bumps(model), t_end=0.4, dt=0.1, scheme=scheme, nonlocal_jacobian=jacobian)


@pytest.mark.parallel(nprocs=2)
@pytest.mark.parametrize("gamma,scheme,jacobian", [(-3.0, "backward-euler", "picard"),
                                                   (0.0, "backward-euler", "picard"),
                                                   (1.0, "minimizing-movement", "picard"),
                                                   (-3.0, "backward-euler", "exact")])
def test_same_results_on_one_and_two_ranks(gamma, scheme, jacobian):
    h2 = _parallel_case(MPI.COMM_WORLD, gamma, scheme, jacobian)
    h1 = _parallel_case(MPI.COMM_SELF, gamma, scheme, jacobian)
    for col in ("H", "mass", "momentum_0", "energy", "dissipation"):
        a, b = np.array(h1.column(col)), np.array(h2.column(col))
        rel = np.abs(a - b) / np.maximum(np.abs(a), 1e-300)
        assert np.all(np.nan_to_num(rel) <= 1e-10), (col, a, b)
