"""The one quadrature rule of a model (generic_fem.quadrature.QuadratureRule).

The nodal rule's points are the nodes of ``V_h`` on every cell type: the mass matrix
with the rule is diagonal (each unknown owns the density at its node), the rule
integrates the polynomials it should exactly, the point spaces hold one value per
point and cell, and coincident points of neighbouring cells are found whatever their
rounding.  Unsupported combinations are refused with a clear error."""
import numpy as np
import pytest
import ufl
import firedrake as fd

from generic_fem import velocity_box, velocity_ball, InvalidParameterError
from generic_fem.quadrature import QuadratureRule
from generic_fem.two_point import coincidence_representatives


def _mass_offdiagonal(rule):
    V = rule.unknown_space()
    M = fd.assemble(fd.TrialFunction(V) * fd.TestFunction(V) * rule.measure).M.handle
    _, _, vals = M.getValuesCSR()
    diag = M.getDiagonal().getArray()
    return (np.abs(vals).sum() - np.abs(diag).sum()) / np.abs(diag).sum()


MESHES = {
    "quadrilateral": lambda: velocity_box(2, 3.0, 3),
    "hexahedron": lambda: velocity_box(3, 3.0, 2),
    "triangle": lambda: velocity_box(2, 3.0, 3, quadrilateral=False),
    "tetrahedron": lambda: velocity_ball(3, 3.0, 0),
}


@pytest.mark.parametrize("cell", list(MESHES))
@pytest.mark.parametrize("degree", [2, 3])
def test_nodal_rule_is_nodal_and_exact(cell, degree):
    mesh = MESHES[cell]()
    rule = QuadratureRule(mesh, degree)
    assert rule.kind == "nodal"
    assert _mass_offdiagonal(rule) < 1e-13
    x = ufl.SpatialCoordinate(mesh)
    # |v|² and v_1 v_2² are integrated as by a high-order rule (degree ≤ 2k − 1 per
    # direction on tensor cells; the KMV rules are exact for degree 2k − 1 as well)
    for g in (ufl.dot(x, x), x[0] * x[1] ** 2 + 1.0):
        exact = fd.assemble(g * fd.dx(domain=mesh, degree=10))
        assert fd.assemble(g * rule.measure) == pytest.approx(exact, rel=1e-12, abs=1e-12)
    # one value per point and cell: the weights sum to the volume, all positive
    w = rule.weights().dat.data_ro
    assert np.all(w > 0)
    assert w.sum() == pytest.approx(fd.assemble(fd.Constant(1.0) * fd.dx(domain=mesh)), rel=1e-12)


def test_nodal_density_is_the_nodal_value():
    """``F(w_h)`` at the rule's points is ``F`` of the nodal values (no mixing)."""
    mesh = velocity_box(2, 4.0, 2)
    rule = QuadratureRule(mesh, 2)
    V = rule.unknown_space()
    x = ufl.SpatialCoordinate(mesh)
    w = fd.Function(V).interpolate(-ufl.dot(x, x))
    fq = fd.Function(rule.space()).interpolate(ufl.exp(w))
    assert np.allclose(np.sort(np.unique(np.round(fq.dat.data_ro, 12))),
                       np.sort(np.unique(np.round(np.exp(w.dat.data_ro), 12))))


def test_gauss_rule_kept_and_options_checked():
    mesh = velocity_box(2, 3.0, 2)
    g = QuadratureRule(mesh, 2, "gauss")
    assert g.quadrature_degree == 6 and _mass_offdiagonal(g) > 1e-3
    with pytest.raises(InvalidParameterError, match="gauss"):
        QuadratureRule(mesh, 2, "nodal", quadrature_degree=6)
    with pytest.raises(InvalidParameterError, match="unknown quadrature rule"):
        QuadratureRule(mesh, 2, "lobatto")
    with pytest.raises(InvalidParameterError, match="KMV"):
        QuadratureRule(velocity_ball(3, 3.0, 0), 4)


def test_coincident_points_found_whatever_their_rounding():
    rng = np.random.default_rng(1)
    base = rng.uniform(-5, 5, size=(200, 3))
    # each point three times, perturbed by a few ulps, some of them right at a bin edge
    tol = 1e-10
    base[:10, 0] = 4 * tol * np.arange(10) * 1e3
    pts = np.concatenate([base, base * (1 + 2e-16), base - 3e-16])
    order = rng.permutation(len(pts))
    pts = pts[order]
    rep = coincidence_representatives(pts, tol)
    assert len(np.unique(rep)) == 200
    assert np.allclose(pts[rep], pts, rtol=0, atol=1e-14)


@pytest.mark.parallel(nprocs=2)
def test_nodal_rule_same_run_on_one_and_two_ranks():
    """Multispecies Coulomb Landau (two velocity scales: points of both species coincide)
    under the nodal rule: the run on 2 ranks equals the run on each rank alone."""
    from mpi4py import MPI
    from generic_fem import run
    from forms.multispecies_landau import MultispeciesLandau

    def one(comm):
        m = MultispeciesLandau(velocity_box(2, 5.0, 4, comm=comm), masses=[1.0, 4.0], gamma=-3.0,
                               scales=[1.0, 0.5], rule="nodal")
        f0 = ufl.as_vector([m.maxwellian(0, 1.0, (0.5, 0.0), 1.0), m.maxwellian(1, 0.5, None, 0.6)])
        h = run(m, f0, t_end=0.2, dt=0.1)
        return np.array(h.column("H")), np.array(h.column("energy"))

    H2, E2 = one(MPI.COMM_WORLD)
    H1, E1 = one(MPI.COMM_SELF)
    assert np.all(np.diff(H1) < 0)
    assert np.allclose(H2, H1, rtol=1e-11, atol=0) and np.allclose(E2, E1, rtol=1e-11, atol=0)


def test_default_rule_per_model():
    """``rule=None``: the nodal rule, Gauss for the phase-space transport models and
    whenever ``quadrature_degree`` is given."""
    from forms.landau import Landau
    from forms.vlasov_lbd import VlasovLBD
    from generic_fem import velocity_box, phase_space_mesh
    mesh = velocity_box(2, 4.0, 2)
    assert Landau(mesh).rule.kind == "nodal"
    assert Landau(mesh, quadrature_degree=6).rule.kind == "gauss"
    assert Landau(mesh, rule="gauss").rule.kind == "gauss"
    assert VlasovLBD(phase_space_mesh(2, 2, 1.0, 3.0)).rule.kind == "gauss"
    assert VlasovLBD(phase_space_mesh(2, 2, 1.0, 3.0), rule="nodal").rule.kind == "nodal"


def test_coincident_points_found_relative_to_their_size():
    """Per-point tolerances (points of a mesh graded towards the origin): copies of a
    point at any scale from 1e-12 to 1 coincide, distinct points 1e-6 of their size apart
    at 1e-12 do not (one tolerance of 1e-10 of the extent would merge all of those)."""
    rng = np.random.default_rng(2)
    base = rng.uniform(-1, 1, size=(300, 2)) * 10.0 ** rng.uniform(-12, 0, size=(300, 1))
    base[:5] = 1e-12 * (1 + 1e-6 * np.arange(5))[:, None] * np.array([1.0, 0.5])
    pts = np.concatenate([base, base * (1 + 2e-16), base * (1 - 3e-16)])
    pts = pts[rng.permutation(len(pts))]
    size = np.maximum(np.abs(pts).max(axis=1), 1e-300)
    rep = coincidence_representatives(pts, 1e-10 * size)
    assert len(np.unique(rep)) == 300
    assert np.allclose(pts[rep], pts, rtol=1e-14, atol=0)
    assert len(np.unique(coincidence_representatives(pts, 1e-10))) < 300
