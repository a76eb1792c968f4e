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
