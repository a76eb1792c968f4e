"""Installation check: a P2 Poisson solve with MUMPS that writes a result file.

    ./gfem run mpiexec -n 2 python demos/poisson_smoke.py
"""
import os
import firedrake as fd
from firedrake import sin, pi

mesh = fd.UnitSquareMesh(32, 32)
V = fd.FunctionSpace(mesh, "CG", 2)
x, y = fd.SpatialCoordinate(mesh)
exact = sin(pi * x) * sin(pi * y)
u, v = fd.TrialFunction(V), fd.TestFunction(V)
uh = fd.Function(V, name="u")
fd.solve(fd.inner(fd.grad(u), fd.grad(v)) * fd.dx == 2 * pi ** 2 * exact * v * fd.dx, uh,
         bcs=fd.DirichletBC(V, 0, "on_boundary"),
         solver_parameters={"ksp_type": "preonly", "pc_type": "lu",
                            "pc_factor_mat_solver_type": "mumps"})
err = fd.errornorm(exact, uh)
os.makedirs("output", exist_ok=True)
fd.VTKFile("output/poisson.pvd").write(uh)
fd.PETSc.Sys.Print(f"ranks={mesh.comm.size}  L2 error = {err:.3e}  -> output/poisson.pvd")
