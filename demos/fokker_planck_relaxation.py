# Fokker–Planck relaxation: a first generic-fem run
# ==================================================
#
# This demo solves the linear Fokker–Planck (Ornstein–Uhlenbeck) equation
#
# .. math::  ∂_t f = ∇·(T ∇f + (v − u) f),   v ∈ [−R, R]^2,
#
# stated in ``forms/fokker_planck.py`` as a gradient flow: entropy
# ``S = −∫ T (f log f − f) + ½|v − u|² f`` and friction ``M(f) g = −∇·(f ∇g)``.
# The toolkit turns these UFL forms into a solver in the entropy variable
# ``w = T log f + ½|v−u|²`` (so ``f = e^{(w − ½|v−u|²)/T} > 0`` always), with exact mass
# conservation and a non-increasing ``H = −S``.
#
# Run it with
# ``./gfem run mpiexec -n 2 python demos/fokker_planck_relaxation.py --help``
# (``./gfem demo`` runs the Landau relaxation demo).
import argparse
import os

import numpy as np
import firedrake as fd

from generic_fem import run, velocity_box, energy_dissipation_functional
from generic_fem.core.plot import plot_history
from forms.fokker_planck import FokkerPlanck, gaussian, exact_moments

parser = argparse.ArgumentParser(description="Fokker–Planck relaxation demo")
parser.add_argument("--cells", type=int, default=16)
parser.add_argument("--radius", type=float, default=7.0)
parser.add_argument("--dt", type=float, default=0.05)
parser.add_argument("--t-end", type=float, default=2.0)
parser.add_argument("--scheme", default="backward-euler",
                    choices=["backward-euler", "minimizing-movement", "midpoint"])
parser.add_argument("--output", default="output/fokker_planck")
args, _ = parser.parse_known_args()   # unknown arguments are left to PETSc

# The velocity mesh and the model: temperature ``T = 1`` and drift ``u = (0.5, 0)``.
mesh = velocity_box(dim=2, radius=args.radius, cells=args.cells)
model = FokkerPlanck(mesh, temperature=1.0, drift=(0.5, 0.0), degree=2)

# Initial data: an anisotropic Gaussian, off-centre.  Gaussians stay Gaussian,
# with mean and covariance known exactly; we compare with them at the end.
mean0, cov0 = np.array([-1.5, 1.0]), np.array([[0.5, 0.2], [0.2, 2.0]])
f0 = gaussian(model.coordinates, 1.0, mean0, cov0)

# The time loop.  ``solver_parameters`` go to PETSc's SNES; add ``-gfem_snes_monitor``
# on the command line to watch Newton converge.
history = run(model, f0, t_end=args.t_end, dt=args.dt, scheme=args.scheme,
              output=args.output, vtk_every=5, keep_trajectory=True, progress=True)

# Compare the moments of the computed density with the exact ones.
f = history.stepper.density()
v = model.coordinates
mass = fd.assemble(f * model.dx)
mean = np.array([fd.assemble(v[i] * f * model.dx) for i in range(2)]) / mass
cov = np.array([[fd.assemble((v[i] - mean[i]) * (v[j] - mean[j]) * f * model.dx) / mass
                 for j in range(2)] for i in range(2)])
mean_ex, cov_ex = exact_moments(history.stepper.t, mean0, cov0, model.u, model.T)

# The energy-dissipation functional of the computed curve.  The exact J_T is ≥ 0 and
# vanishes only on solutions; its discrete sum for a backward-Euler curve is ≤ 0 (the
# discrete chain rule's defect has one sign: docs/theory.rst) and small for an accurate
# solution.  ``square_term`` (the completed square) is ≥ 0 for every curve.  This is
# the ``M⁻¹`` variant; ``pair_energy_dissipation`` is the entry point for ``J_T`` whose
# sign is guaranteed (docs "Checking J_T").
J = energy_dissipation_functional(model, history)

png = os.path.join(args.output, "history.png")
if mesh.comm.rank == 0:
    plot_history(history, png, title=f"Fokker–Planck, {args.scheme}, dt={args.dt}")
masses = history.column("mass")
Hs = history.column("H")
fd.PETSc.Sys.Print(f"ranks = {mesh.comm.size}, steps = {len(history) - 1}, t = {history.stepper.t:g}")
fd.PETSc.Sys.Print(f"mass drift (relative)   : {abs(masses[-1] - masses[0]) / masses[0]:.2e}")
fd.PETSc.Sys.Print(f"H non-increasing        : {all(b <= a + 1e-13 * abs(a) for a, b in zip(Hs, Hs[1:]))}")
fd.PETSc.Sys.Print(f"mean error              : {np.abs(mean - mean_ex).max():.2e}")
fd.PETSc.Sys.Print(f"covariance error        : {np.abs(cov - cov_ex).max():.2e}")
fd.PETSc.Sys.Print(str(J))
fd.PETSc.Sys.Print(f"history: {args.output}/history.csv, plot: {png}, VTK: {args.output}/f.pvd")
