# Temperature relaxation in a three-species plasma
# ================================================
#
# The nonlocal multispecies Fokker–Planck–Landau system of docs/models.rst, Nonlocal multispecies Fokker–Planck–Landau (Hu–Jüngel–Zamponi):
# each species relaxes towards Maxwellians ``M_ij`` whose velocity ``u_ij`` and
# temperature ``T_ij`` mix its own moments with those of its partner,
#
# .. math::  ∂_t f_i = Σ_j c_{ji} ∇·\big(∇f_i + m_i (v − u_{ji})/T_{ji} f_i\big).
#
# ``forms/multispecies_fp.py`` computes ``(u_ij, T_ij)`` as the weighted projection of
# ``∇ log f`` onto the gradients of the collision invariants, from the *discrete*
# integrals, so per-species mass, total momentum and the mass-weighted energy are
# conserved to the solver tolerance, and the entropy ``Σ ∫ f_i log f_i`` decreases.
# Each species lives on the reference mesh scaled to its thermal speed.
#
# The moments obey closed ODEs (docs/models.rst, Nonlocal multispecies Fokker–Planck–Landau); the demo plots ``T_i(t)`` and
# ``|u_i − u_j|(t)`` of the finite-element solution against the ODE solution (scipy).
#
# Run it with ``./gfem run mpiexec -n 2 python demos/multispecies_temperature_relaxation.py``.
import argparse
import os

import numpy as np
import ufl
import firedrake as fd

from generic_fem import run, velocity_box
from forms.multispecies_fp import MultispeciesFokkerPlanck, moment_odes

parser = argparse.ArgumentParser(description="multispecies temperature relaxation demo")
parser.add_argument("--cells", type=int, default=8)
parser.add_argument("--radius", type=float, default=6.0)
parser.add_argument("--gamma", type=float, default=0.0)
parser.add_argument("--dt", type=float, default=0.05)
parser.add_argument("--t-end", type=float, default=2.0)
parser.add_argument("--output", default="output/multispecies")
args, _ = parser.parse_known_args()

# Three species: electrons-like (light), and two ion-like species; temperatures
# 1, 1.5, 2.5 and relative drifts.  ``scales`` = thermal speeds √(T/m).
masses, charges = np.array([1.0, 2.0, 4.0]), np.array([1.0, -1.0, 2.0])
temps = np.array([1.0, 1.5, 2.5])
mesh = velocity_box(dim=2, radius=args.radius, cells=args.cells)
model = MultispeciesFokkerPlanck(mesh, masses, charges, scales=np.sqrt(temps / masses),
                                 gamma=args.gamma, log_lambda=10.0)
f0 = ufl.as_vector([model.maxwellian(0, 1.0, (0.5, 0.0), temps[0]),
                    model.maxwellian(1, 0.5, (-0.3, 0.2), temps[1]),
                    model.maxwellian(2, 0.3, (0.0, -0.4), temps[2])])

history = run(model, f0, t_end=args.t_end, dt=args.dt, scheme="midpoint",
              output=args.output, keep_trajectory=True, progress=True)

# Moments along the computed curve, and the ODE solution from the same initial moments.
ts = np.array([t for t, _ in history.trajectory])
mom = [model.moments(model.density(w)) for _, w in history.trajectory]
n0, u0, T0 = mom[0]
u_ode, T_ode = moment_odes(model, n0, u0, T0, ts)
T_fem = np.array([m[2] for m in mom])
u_fem = np.array([m[1] for m in mom])
pairs = [(0, 1), (0, 2), (1, 2)]

png = os.path.join(args.output, "temperatures.png")
if mesh.comm.rank == 0:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for i in range(3):
        ax[0].plot(ts, T_fem[:, i], "o", ms=3, label=f"T_{i} (FEM)")
        ax[0].plot(ts, T_ode[:, i], "k-", lw=0.8)
    ax[0].set(xlabel="t", ylabel="T_i", title="temperatures (lines: moment ODEs)")
    ax[0].legend()
    for i, j in pairs:
        ax[1].semilogy(ts, np.linalg.norm(u_fem[:, i] - u_fem[:, j], axis=1), "o", ms=3, label=f"|u_{i} - u_{j}|")
        ax[1].semilogy(ts, np.linalg.norm(u_ode[:, i] - u_ode[:, j], axis=1), "k-", lw=0.8)
    ax[1].set(xlabel="t", title="velocity differences (lines: ODEs)")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)

fd.PETSc.Sys.Print(f"{model.describe()}, ranks = {mesh.comm.size}, steps = {len(history) - 1}")
for k in ("mass_0", "mass_1", "mass_2", "momentum_0", "momentum_1", "energy"):
    c = np.array(history.column(k))
    fd.PETSc.Sys.Print(f"{k:11s} drift (relative): {np.max(np.abs(c - c[0])) / np.max(np.abs(c)):.2e}")
fd.PETSc.Sys.Print(f"H decreasing every step: {bool(np.all(np.diff(history.column('H')) < 0))}")
fd.PETSc.Sys.Print(f"max |T_i - T_i(ODE)| = {np.abs(T_fem - T_ode).max():.2e}, "
                   f"max |u_i - u_i(ODE)| = {np.abs(u_fem - u_ode).max():.2e}")
fd.PETSc.Sys.Print(f"plot: {png}; history: {args.output}/history.csv")
