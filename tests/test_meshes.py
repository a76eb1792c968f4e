"""Mesh helpers: boxes are centred, phase space has the right extent."""
import numpy as np
import pytest
import firedrake as fd

from generic_fem import velocity_box, phase_space_mesh, InvalidParameterError


@pytest.mark.parametrize("dim,quad", [(1, True), (2, True), (2, False), (3, True), (3, False)])
def test_velocity_box_is_centred(dim, quad):
    mesh = velocity_box(dim, 3.0, 2, quadrilateral=quad)
    c = mesh.coordinates.dat.data_ro.reshape(-1, dim)
    assert np.allclose(c.min(axis=0), -3.0) and np.allclose(c.max(axis=0), 3.0)
    assert abs(fd.assemble(fd.Constant(1.0) * fd.dx(domain=mesh)) - 6.0 ** dim) < 1e-10


def test_phase_space_extent():
    mesh = phase_space_mesh(4, 6, 2.0, 5.0)
    assert abs(fd.assemble(fd.Constant(1.0) * fd.dx(domain=mesh)) - 20.0) < 1e-12
    v = fd.SpatialCoordinate(mesh)[1]
    assert abs(fd.assemble(v * fd.dx(domain=mesh))) < 1e-12


def test_bad_mesh_parameters():
    with pytest.raises(InvalidParameterError):
        velocity_box(4, 1.0, 2)
    with pytest.raises(InvalidParameterError):
        velocity_box(2, -1.0, 2)
    with pytest.raises(InvalidParameterError):
        phase_space_mesh(1, 2, 1.0, 1.0)


def test_graded_half_disc_is_exact_on_the_spheres():
    """``graded_half_disc``: the half-disc ``|v| ≤ R`` graded to ``v = 0`` (innermost circle
    1e-6): its volume and second moment in the axisymmetric measure are those of the ball
    to round-off (the rings are exact: biquadratic in ``(s, v_∥)``), and a radial
    function's interpolant has no angular derivative outside the core, up to round-off
    (measured 1.5e-17 of ``∫|v|²|∇w|²``; a 16-cell tensor mesh leaves 3.9e-6)."""
    import ufl
    from generic_fem import graded_half_disc, velocity_half_plane
    from generic_fem.core.velocity import velocity_coordinates
    R = 3.0
    mesh = graded_half_disc(R, 1e-6, segments=8, per_doubling=2)
    vel = velocity_coordinates(mesh)
    X = fd.SpatialCoordinate(mesh)
    dx = vel.measure(fd.dx(domain=mesh, degree=8))
    assert abs(fd.assemble(fd.Constant(1.0) * dx) / (4 / 3 * np.pi * R ** 3) - 1) < 1e-12
    assert abs(fd.assemble(vel.speed2(X) * dx) / (4 * np.pi * R ** 5 / 5) - 1) < 1e-12

    def angular(m, outside):
        V = fd.FunctionSpace(m, "Q", 2)
        Y = fd.SpatialCoordinate(m)
        r2 = velocity_coordinates(m).speed2(Y)
        w = fd.Function(V).interpolate(-8.0 * ufl.ln(r2 + 1e-3) - r2)      # radial, steep at 0
        v = velocity_coordinates(m).components(Y)
        g = velocity_coordinates(m).gradient(w)
        tang = v[0] * g[1] - v[1] * g[0]          # |v| times the angular derivative
        on = ufl.conditional(ufl.gt(r2, outside ** 2), 1.0, 0.0)
        full = velocity_coordinates(m).measure(fd.dx(domain=m, degree=8))
        return fd.assemble(on * tang ** 2 * full), fd.assemble(on * ufl.inner(g, g) * r2 * full)
    a, scale = angular(graded_half_disc(R, 0.01, segments=8, per_doubling=2), 0.0101)
    b, _ = angular(velocity_half_plane(R, R, 16), 0.0101)
    assert a < 1e-14 * scale and b > 1e-6 * scale, (a, b, scale)     # (measured 1.5e-17, 3.9e-6)


def test_graded_half_disc_rejects_bad_parameters():
    from generic_fem import graded_half_disc
    for kw in ({"inner": 0.0}, {"inner": 5.0}, {"inner": 1e-120}, {"segments": 6}, {"segments": float("nan")},
               {"per_doubling": 0}, {"per_doubling": 1.5}, {"radius": "four"}):
        args = {"radius": 4.0, "inner": 0.1, **kw}
        with pytest.raises(InvalidParameterError, match="graded_half_disc"):
            graded_half_disc(**args)


def test_graded_half_disc_first_circle_and_distinct_points():
    """The first circle lies in ``(inner/q, inner]``; at scales of 1e-14 the two-point
    operator keeps every node of the mesh a distinct point (a tolerance relative to the
    diameter merged the core's nodes) and pairs the copies of each node shared by cells."""
    from generic_fem import graded_half_disc
    from forms.landau_infinite_mass import LandauInfiniteMass
    for inner, pd in ((0.01, 2), (0.5, 1), (3 / 2 ** 8, 2)):
        mesh = graded_half_disc(3.0, inner, segments=8, per_doubling=pd)
        r = np.sqrt(mesh.coordinates.dat.data_ro[:, 0] + mesh.coordinates.dat.data_ro[:, 1] ** 2)
        radii, counts = np.unique(np.round(np.log(r[r > 0]), 9), return_counts=True)
        circles = np.exp(radii[counts >= 2 * 8 + 1])      # (each circle: 8 cell sides, 17 nodes)
        assert inner / 2 ** (1 / pd) * (1 - 1e-8) < circles.min() <= inner * (1 + 1e-8), (inner, circles)
        assert abs(circles.max() - 3.0) < 1e-8
    mesh = graded_half_disc(4.44, 1e-14, segments=8, per_doubling=2)
    model = LandauInfiniteMass(mesh, gamma=-2.5)
    pts = model.pairs.point_sets.reference_points
    assert len(np.unique(pts, axis=0)) == model.V.dim()
