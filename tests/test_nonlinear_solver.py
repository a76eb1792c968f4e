"""NonlinearSolver (generic_fem.solvers.nonlinear_solver): a UFL residual solved by its
own SNES, PETSc options from a dict under a prefix (the command line winning), the
hooks, the memory of the last residual and a matrix-free operator."""
import numpy as np
import pytest
import firedrake as fd
from petsc4py import PETSc

from generic_fem.solvers.nonlinear_solver import NonlinearSolver

PARAMS = {"snes_type": "newtonls", "snes_linesearch_type": "basic", "snes_rtol": 1e-12, "snes_atol": 1e-14,
          "snes_max_it": 30, "ksp_type": "preonly", "pc_type": "lu"}


def _problem():
    mesh = fd.UnitSquareMesh(3, 3)
    V = fd.FunctionSpace(mesh, "CG", 1)
    u, v = fd.Function(V), fd.TestFunction(V)
    x = fd.SpatialCoordinate(mesh)
    F = (u ** 3 + u - (1 + x[0])) * v * fd.dx + 0.1 * fd.inner(fd.grad(u), fd.grad(v)) * fd.dx
    return u, F


def test_solves_with_its_options_and_hooks():
    u, F = _problem()
    calls = []
    solver = NonlinearSolver(F, u, solver_parameters=PARAMS, options_prefix="t_nls_",
                             pre_function=lambda X: calls.append("F"), pre_jacobian=lambda X: calls.append("J"))
    reason = solver.solve()
    assert reason > 0
    its = solver.snes.getIterationNumber()
    assert 2 <= its <= 10
    with fd.assemble(F).dat.vec_ro as r:
        assert r.norm() < 1e-12
    assert solver.residual_assemblies == calls.count("F") == its + 1
    assert solver.jacobian_assemblies == calls.count("J") == its
    # the command line (options in the database when the solver is made) wins over the
    # dict: one iteration only, and the solve says so
    opts = PETSc.Options()
    opts["t_nls1_snes_max_it"] = 1
    try:
        u.assign(0.0)
        one = NonlinearSolver(F, u, solver_parameters=PARAMS, options_prefix="t_nls1_")
        assert one.solve() < 0 and one.snes.getIterationNumber() == 1
    finally:
        del opts["t_nls1_snes_max_it"]


def test_a_residual_at_the_same_state_is_remembered():
    u, F = _problem()
    solver = NonlinearSolver(F, u, solver_parameters=PARAMS, options_prefix="t_nls2_")
    X, R = solver.jacobian.petscmat.createVecs()
    X.set(0.5)
    solver.compute_residual(X, R)
    n = solver.residual_assemblies
    R2 = R.duplicate()
    solver.compute_residual(X, R2)               # the same state: no assembly
    assert solver.residual_assemblies == n and np.array_equal(R.getArray(), R2.getArray())
    X.setValue(0, 0.25)
    X.assemble()
    solver.compute_residual(X, R2)               # another state: assembled
    assert solver.residual_assemblies == n + 1


def test_a_matrix_free_operator_is_used_for_the_newton_systems():
    u, F = _problem()
    params = dict(PARAMS, ksp_type="gmres", ksp_rtol=1e-12, pc_type="jacobi")
    solver = NonlinearSolver(F, u, solver_parameters=params, options_prefix="t_nls3_")
    applied = []

    def mult(x, y):
        applied.append(1)
        solver.jacobian.petscmat.mult(x, y)
    solver.use_operator(mult)
    assert solver.solve() > 0 and applied
    with fd.assemble(F).dat.vec_ro as r:
        assert r.norm() < 1e-11
    solver.destroy()
    assert solver.snes is None


@pytest.mark.parallel(nprocs=2)
def test_same_solution_on_two_ranks():
    """The 2-rank solve against the same problem solved on each rank alone."""
    values = []
    for comm in (fd.COMM_WORLD, fd.COMM_SELF):
        mesh = fd.UnitSquareMesh(3, 3, comm=comm)
        V = fd.FunctionSpace(mesh, "CG", 1)
        u, v = fd.Function(V), fd.TestFunction(V)
        x = fd.SpatialCoordinate(mesh)
        F = (u ** 3 + u - (1 + x[0])) * v * fd.dx + 0.1 * fd.inner(fd.grad(u), fd.grad(v)) * fd.dx
        params = dict(PARAMS, pc_factor_mat_solver_type="mumps")
        assert NonlinearSolver(F, u, solver_parameters=params, options_prefix="t_nls4_").solve() > 0
        values.append(fd.assemble(u * u * fd.dx))
    assert values[0] == pytest.approx(values[1], rel=1e-12)
