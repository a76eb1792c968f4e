"""Phase-space model (forms/vlasov_lbd.py): transport + locally conservative LBD.

Checks: total mass, momentum, energy conserved; entropy monotone; x-independent data
stay x-independent; relaxation to the global Maxwellian; L antisymmetric, M symmetric
positive semidefinite with the local invariants in its kernel; 1 vs 2 ranks."""
import math

import numpy as np
import pytest
import ufl
import firedrake as fd
from mpi4py import MPI

from generic_fem import run, phase_space_mesh, checks, InvalidParameterError, velocity_box, Stepper
from forms.vlasov_lbd import VlasovLBD

LX = 2 * math.pi


def maxwellian(v, rho, u, T):
    return rho / ufl.sqrt(2 * math.pi * T) * ufl.exp(-(v - u) ** 2 / (2 * T))


def initial(model, amp=0.3):
    x, v = model.x, model.v
    return (1 + amp * ufl.cos(x)) * (0.6 * maxwellian(v, 1.0, 1.0 + 0.3 * ufl.sin(x), 0.5)
                                    + 0.4 * maxwellian(v, 1.0, -1.2, 0.8))


def make(nx=8, nv=12, vmax=6.0, nu=1.0, comm=None, **kw):
    return VlasovLBD(phase_space_mesh(nx, nv, LX, vmax, comm=comm), nu=nu, **kw)


@pytest.mark.parametrize("scheme", ["backward-euler", "midpoint"])
def test_conservation_and_entropy(scheme):
    model = make()
    h = run(model, initial(model), t_end=1.0, dt=0.1, scheme=scheme)
    for k in ("mass", "momentum", "energy"):
        c = np.array(h.column(k))
        scale = abs(c[0]) if k != "momentum" else abs(np.array(h.column("mass"))[0])
        assert np.max(np.abs(c - c[0])) / scale < 1e-10, (k, c)
    E = np.array(h.column("E"))
    assert np.max(np.abs(E - E[0])) / E[0] < 1e-10
    H = np.array(h.column("H"))
    assert np.all(np.diff(H) < 0), np.diff(H)


def test_x_independent_data_stay_x_independent():
    model = make(nx=6)
    v = model.v
    f0 = 0.5 * maxwellian(v, 1.0, 1.5, 0.4) + 0.5 * maxwellian(v, 1.0, -1.0, 1.0)
    h = run(model, f0, t_end=0.5, dt=0.1)
    w = h.stepper.w
    dwdx = math.sqrt(fd.assemble(w.dx(0) ** 2 * model.dx))
    dwdv = math.sqrt(fd.assemble(w.dx(1) ** 2 * model.dx))
    assert dwdx < 1e-10 * dwdv


def test_relaxes_to_global_maxwellian():
    model = make(nx=8, nv=12, nu=2.0)
    f0 = initial(model)
    h = run(model, f0, t_end=10.0, dt=0.2, scheme="backward-euler")
    f = h.stepper.density()
    area = fd.assemble(fd.Constant(1.0) * model.dx) / (2 * 6.0)  # = LX
    m, p, e = (h.records[-1][k] for k in ("mass", "momentum", "energy"))
    rho, u = m / LX, p / m
    T = 2 * e / m - u ** 2
    M = maxwellian(model.v, rho, u, T)
    rel = math.sqrt(fd.assemble((f - M) ** 2 * model.dx) / fd.assemble(M ** 2 * model.dx))
    print("distance to global Maxwellian", rel, "area", area)
    assert rel < 2e-2
    # relative entropy decays by orders of magnitude
    Hinf = fd.assemble(M * ufl.ln(M) * model.dx)
    H = np.array(h.column("H"))
    assert (H[-1] - Hinf) < 1e-3 * (H[0] - Hinf)


def test_operator_structure():
    model = make(nx=4, nv=4)
    f = initial(model)
    assert checks.antisymmetry_defect(model, f) < 1e-13
    assert checks.symmetry_defect(model, f) < 1e-10
    small, large = checks.smallest_eigenvalues(model, f, k=30)
    # kernel: ψ(x)(1, v, v²/2), ψ ∈ V_x (2 nx = 8 functions): dimension 24
    assert np.all(small > -1e-10 * large)
    # (the next eigenvalues are small, ~1e-6, from the tails where f is tiny, but far
    # above round-off)
    assert np.all(np.abs(small[:24]) < 1e-12 * large) and small[24] > 1e-9 * large
    lo, hi = checks.randomized_psd_test(model, f)
    assert lo > -1e-12 * hi
    assert max(checks.kernel_defect(model, f).values()) < 1e-12
    deg = checks.degeneracy_norms(model, f)
    assert deg["M_dE"] < 1e-12


def test_bad_mesh_rejected():
    with pytest.raises(InvalidParameterError, match="extruded"):
        VlasovLBD(velocity_box(2, 3.0, 4))
    with pytest.raises(InvalidParameterError, match="nu"):
        make(nu=-1.0)


@pytest.mark.parallel(nprocs=2)
def test_same_results_on_one_and_two_ranks():
    def go(comm):
        model = make(nx=8, nv=8, comm=comm)
        return run(model, initial(model), t_end=0.3, dt=0.1)
    h2, h1 = go(MPI.COMM_WORLD), go(MPI.COMM_SELF)
    for col in ("H", "E", "mass", "momentum"):
        a, b = np.array(h1.column(col)), np.array(h2.column(col))
        scale = np.maximum(np.abs(a), abs(h1.column("mass")[0]))
        assert np.all(np.abs(a - b) / scale <= 1e-10), (col, a, b)


@pytest.mark.parametrize("scheme", ["backward-euler", "midpoint"])
def test_global_maxwellian_is_steady(scheme):
    model = make(nx=4, nv=12)
    f0 = maxwellian(model.v, 1.0, 0.4, 0.8)
    st = Stepper(model, f0, dt=0.5, scheme=scheme)
    w0 = st.w.copy(deepcopy=True)
    st.advance()
    assert np.max(np.abs(st.w.dat.data_ro - w0.dat.data_ro)) < 1e-10


def _mixture_exact(model, t, comps, nu):
    """x-independent data: the local moments u, T are constant and LBD is an OU flow;
    a Gaussian mixture stays one (means u + (μ−u)e^{−νt/T}, variances
    T + (σ²−T)e^{−2νt/T})."""
    m = sum(c[0] for c in comps)
    u = sum(c[0] * c[1] for c in comps) / m
    T = sum(c[0] * (c[2] + c[1] ** 2) for c in comps) / m - u ** 2
    out = 0
    for rho, mu, var in comps:
        out = out + maxwellian(model.v, rho, u + (mu - u) * math.exp(-nu * t / T),
                               T + (var - T) * math.exp(-2 * nu * t / T))
    return out


@pytest.mark.parametrize("scheme,expected", [("backward-euler", 1), ("midpoint", 2)])
def test_reference_solution_order_in_dt(scheme, expected):
    comps = [(0.6, 1.2, 0.5), (0.4, -1.0, 0.9)]
    nu, t_end = 1.0, 0.4
    errs = []
    for dt in (0.2, 0.1, 0.05):
        model = make(nx=3, nv=96, vmax=8.0, nu=nu)
        h = run(model, _mixture_exact(model, 0.0, comps, nu), t_end=t_end, dt=dt, scheme=scheme)
        exact = _mixture_exact(model, h.stepper.t, comps, nu)
        errs.append(math.sqrt(fd.assemble((h.stepper.density() - exact) ** 2 * model.dx) / LX))
    orders = [math.log2(a / b) for a, b in zip(errs, errs[1:])]
    print(scheme, "errors", errs, "orders", orders)
    assert abs(orders[-1] - expected) < 0.25
