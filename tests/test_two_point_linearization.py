"""The exact linearisation of the generalised two-point operator (several point sets with a
nonlinear, cross-coupled mobility; phase-space points with a spatial weight), against
central differences of the refreshed coefficients."""
import numpy as np
import pytest
import ufl
import firedrake as fd

from generic_fem import velocity_box, phase_space_box
from generic_fem.quadrature import measure
from generic_fem.spatial_weights import PeriodicSpatialWeight
from generic_fem.two_point import TwoPointFriction


def _check(op, F, G, dF, dG):
    op.refresh(F, G)
    op.linearization(F, G, dF, dG)
    op.refresh_linearization(F, G)
    e = op.coefficient_set(F, G)
    L = e.linearization
    dGh = np.array([a.dat.data_ro.copy() for a in L.dG])
    dJh = np.array([a.dat.data_ro.copy() for a in L.dJ])
    F0, G0 = F.dat.data_ro.copy(), G.dat.data_ro.copy()
    eps, out = 1e-5, []
    for s in (1, -1):
        F.dat.data[:] = F0 + s * eps * dF.dat.data_ro
        G.dat.data[:] = G0 + s * eps * dG.dat.data_ro
        op.refresh(F, G)
        out.append((np.array([a.dat.data_ro.copy() for a in e.G]), np.array([a.dat.data_ro.copy() for a in e.J])))
    F.dat.data[:], G.dat.data[:] = F0, G0
    fdG = (out[0][0] - out[1][0]) / (2 * eps)
    fdJ = (out[0][1] - out[1][1]) / (2 * eps)
    return np.abs(dGh - fdG).max() / np.abs(fdG).max(), np.abs(dJh - fdJ).max() / np.abs(fdJ).max()


@pytest.mark.parametrize("gamma", [-3.0, 0.0])
def test_two_sets_with_a_cross_coupled_mobility(gamma):
    mesh = velocity_box(2, 3.0, 2)
    dx = measure(mesh, 6)
    V = fd.VectorFunctionSpace(mesh, "CG", 2, dim=2)
    x = ufl.SpatialCoordinate(mesh)
    F = fd.Function(V).interpolate(ufl.as_vector([ufl.exp(-ufl.dot(x, x) / 2) * (1 + 0.2 * x[0]),
                                                  0.5 * ufl.exp(-ufl.dot(x, x))]))
    G = fd.Function(V).interpolate(ufl.as_vector([x[0] ** 2 + x[1], ufl.sin(x[0]) * x[1]]))
    dF = fd.Function(V).interpolate(ufl.as_vector([0.1 * ufl.cos(x[1]), 0.05 * x[0]]))
    dG = fd.Function(V).interpolate(ufl.as_vector([x[1] ** 2, x[0] * x[1]]))
    op = TwoPointFriction(mesh, 6, dx, gamma, mobility=lambda f: ufl.as_vector([f[0] * (1 + f[1]), f[1] * (1 + f[0] ** 2)]),
                          coupling=[[1.0, 0.4], [0.4, 2.0]], scales=[1.0, 0.6], masses=[1.0, 3.0])
    eG, eJ = _check(op, F, G, dF, dG)
    print(f"\ngamma={gamma}: relative errors dG {eG:.1e}, dJ {eJ:.1e}")
    assert eG < 1e-8 and eJ < 1e-8


@pytest.mark.parametrize("gamma", [-3.0, 0.0])
def test_phase_space_points_with_a_spatial_weight(gamma):
    ell = 2 * np.pi
    mesh = phase_space_box(3, 2, ell, 3.0)
    dx = measure(mesh, 6)
    V = fd.FunctionSpace(mesh, "CG", 2)
    X = ufl.SpatialCoordinate(mesh)
    v = ufl.as_vector([X[1], X[2]])
    kappa = PeriodicSpatialWeight(lambda s: ufl.exp(-ufl.sqrt(1 + s * s)), ell)
    F = fd.Function(V).interpolate(ufl.exp(-ufl.dot(v, v) / 2) * (1 + 0.3 * ufl.cos(X[0])))
    G = fd.Function(V).interpolate(X[1] ** 2 + ufl.sin(X[0]) * X[2])
    dF = fd.Function(V).interpolate(0.1 * ufl.cos(X[2]) * ufl.sin(X[0]))
    dG = fd.Function(V).interpolate(X[2] ** 2 * ufl.cos(X[0]))
    op = TwoPointFriction(mesh, 6, dx, gamma, mobility=lambda f: f * (1 - 0.3 * f), velocity=(1, 2),
                          spatial_weight=kappa)
    eG, eJ = _check(op, F, G, dF, dG)
    print(f"\ngamma={gamma}: relative errors dG {eG:.1e}, dJ {eJ:.1e}")
    assert eG < 1e-8 and eJ < 1e-8


def _coefficients(op, F, G, dF, dG, T):
    """``Ĝ, Ĵ``, their linearisation ``δĜ, δĴ`` and the adjoint contractions of ``T``."""
    op.refresh(F, G)
    op.coefficient_set(F, G).last_input = None            # (the next refresh is not skipped)
    op.linearization(F, G, dF, dG)
    op.refresh(F, G)
    op.refresh_linearization(F, G)
    e = op.coefficient_set(F, G)
    L = e.linearization
    out = [np.array([a.dat.data_ro.copy() for a in x]) for x in (e.G, e.J, L.dG, L.dJ)]
    return out + [np.array(op.pair_contractions(T))]


@pytest.mark.parametrize("case,gamma", [("2d-two-sets", -3.0), ("3d", -3.0), ("3d", 0.0), ("3d", 1.0),
                                        ("2d-two-sets", 0.0)])
def test_sums_over_distinct_positions_match_per_point_sums(case, gamma):
    _check_distinct_positions(case, gamma)


@pytest.mark.parallel(nprocs=2)
def test_sums_over_distinct_positions_two_ranks():
    """The same on two ranks: sources gathered in rank order, targets per rank."""
    _check_distinct_positions("2d-two-sets")


def _check_distinct_positions(case, gamma=-3.0):
    """Under the nodal rule the sums run over distinct point positions (a node shared
    by neighbouring cells merged as a source, one target per position): the same
    coefficients, linearisation and adjoint contractions as the per-point sums, to
    round-off, with fewer pairs (docs/two_point.rst, "Sums over distinct positions").
    ``γ = 0`` takes the exact moment reduction (no pair sums) either way: the same
    coefficients."""
    from generic_fem.quadrature import QuadratureRule
    dim = 2 if case.startswith("2d") else 3
    mesh = velocity_box(dim, 3.0, 3 if dim == 2 else 2)
    rule = QuadratureRule(mesh, 2, "nodal")
    x = ufl.SpatialCoordinate(mesh)
    r2 = ufl.dot(x, x)
    if case == "2d-two-sets":
        V = fd.VectorFunctionSpace(mesh, "CG", 2, dim=2)
        F = fd.Function(V).interpolate(ufl.as_vector([ufl.exp(-r2 / 2) * (1 + 0.2 * x[0]), 0.5 * ufl.exp(-r2)]))
        G = fd.Function(V).interpolate(ufl.as_vector([x[0] ** 2 + x[1], ufl.sin(x[0]) * x[1]]))
        dF = fd.Function(V).interpolate(ufl.as_vector([0.1 * ufl.cos(x[1]), 0.05 * x[0]]))
        dG = fd.Function(V).interpolate(ufl.as_vector([x[1] ** 2, x[0] * x[1]]))
        op = TwoPointFriction(mesh, rule, rule.measure, gamma,
                              mobility=lambda f: ufl.as_vector([f[0] * (1 + f[1]), f[1] * (1 + f[0] ** 2)]),
                              coupling=[[1.0, 0.4], [0.4, 2.0]], scales=[1.0, 0.6], masses=[1.0, 3.0])
    else:
        V = fd.FunctionSpace(mesh, "CG", 2)
        F = fd.Function(V).interpolate(ufl.exp(-r2 / 2) * (1 + 0.2 * x[0]))
        G = fd.Function(V).interpolate(x[0] ** 2 + x[1] * x[2] + ufl.sin(x[2]))
        dF = fd.Function(V).interpolate(0.1 * ufl.cos(x[1]))
        dG = fd.Function(V).interpolate(x[1] ** 2 - x[0])
        op = TwoPointFriction(mesh, rule, rule.measure, gamma)
    rng = np.random.default_rng(1)
    T = rng.standard_normal((op.n_sets, len(op.weights), dim, dim))
    merged = _coefficients(op, F, G, dF, dG, T)
    pairs = op.stats["pairs"]
    op.merge_coincident = False
    per_point = _coefficients(op, F, G, dF, dG, T)
    pairs_per_point = op.stats["pairs"] - pairs
    errors = [np.abs(a - b).max() / np.abs(b).max() for a, b in zip(merged, per_point)]
    op.merge_coincident = True
    targets, sources = op.unique_points()
    print(f"\n{case}: relative differences {['%.1e' % e for e in errors]}; pairs {pairs} against "
          f"{pairs_per_point} ({op.n_sets * len(op.weights)} points, distinct {targets})")
    assert max(errors) < 1e-13
    if gamma != 0.0:
        assert targets < op.n_sets * len(op.weights) and pairs < 0.75 * pairs_per_point
