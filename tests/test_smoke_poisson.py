"""Smoke test of the installation: a P2 Poisson problem solved with MUMPS on 1 and 2
ranks, error against the exact solution u = sin(πx) sin(πy)."""
import math

import pytest
import firedrake as fd
from firedrake import sin, pi


def solve_poisson(n):
    mesh = fd.UnitSquareMesh(n, n)
    V = fd.FunctionSpace(mesh, "CG", 2)
    x, y = fd.SpatialCoordinate(mesh)
    exact = sin(pi * x) * sin(pi * y)
    u, v = fd.TrialFunction(V), fd.TestFunction(V)
    a = fd.inner(fd.grad(u), fd.grad(v)) * fd.dx
    L = 2 * pi ** 2 * exact * v * fd.dx
    uh = fd.Function(V)
    bc = fd.DirichletBC(V, 0, "on_boundary")
    fd.solve(a == L, uh, bcs=bc, solver_parameters={
        "ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"})
    return fd.errornorm(exact, uh), mesh.comm.size


def check():
    e16, _ = solve_poisson(16)
    e32, size = solve_poisson(32)
    assert e32 < 1e-4
    order = math.log2(e16 / e32)
    assert 2.7 < order < 3.3, order  # P2: third order in L2
    return e32


def test_poisson_mumps_serial():
    check()


@pytest.mark.parallel(nprocs=2)
def test_poisson_mumps_two_ranks():
    assert fd.COMM_WORLD.size == 2
    check()
