# Landau–Fermi–Dirac: near-saturated data relaxing to the Fermi–Dirac equilibrium
# ==============================================================================
#
# docs/models.rst, Landau–Fermi–Dirac (Golding–Gualdani–Zamponi): the Landau operator with mobility ``F F_*``,
# ``F = f(1 − εf)``, solved in the entropy variable ``w = log(εf/(1 − εf))``, so that
# ``0 < f < 1/ε`` at every quadrature point by construction.  The data are nearly
# saturated (``max εf ≈ 0.997``); the run conserves mass, momentum and energy, the
# Fermi–Dirac entropy ``H_ε`` decreases, and ``f`` approaches the equilibrium
# ``M_ε = a e^{−b|v−u|²}/(1 + εa e^{−b|v−u|²})`` whose ``(a, b, u)`` the equilibrium
# solver computes from the conserved quantities (polylogarithm relations).
#
# Run it with ``./gfem run mpiexec -n 2 python demos/fermi_dirac_relaxation.py``.
import argparse
import os

import numpy as np
import ufl
import firedrake as fd

from generic_fem import run, velocity_box
from generic_fem.core.plot import point_sampler
from forms.landau_fermi_dirac import LandauFermiDirac, relative_entropy

parser = argparse.ArgumentParser(description="Landau-Fermi-Dirac relaxation demo")
parser.add_argument("--cells", type=int, default=8)
parser.add_argument("--eps", type=float, default=1.0)
parser.add_argument("--C", type=float, default=1.0)
parser.add_argument("--dt", type=float, default=1.0)
parser.add_argument("--t-end", type=float, default=10.0)
parser.add_argument("--output", default="output/fermi_dirac")
args, _ = parser.parse_known_args()

mesh = velocity_box(dim=2, radius=5.0, cells=args.cells)
model = LandauFermiDirac(mesh, eps=args.eps, gamma=-3.0, C=args.C)
v = model.coordinates
z = v - ufl.as_vector([0.7, 0.0])
f0 = (0.997 / (1 + ufl.exp((ufl.dot(z, z) - 1.5) / 0.3)) + 0.002 * ufl.exp(-ufl.dot(v, v) / 4)) / model.eps

# The equilibrium with the data's mass, momentum and energy.
f0h = model.density(model.state_from_density(f0))
M, (a, b, u) = model.equilibrium(f0h)


def record(stepper, rec):
    rec["relative_entropy"] = relative_entropy(model, stepper.density(), M)


history = run(model, f0, t_end=args.t_end, dt=args.dt, output=args.output,
              progress=True, keep_trajectory=True, callback=record)

xs = np.linspace(-5, 5, 241)
sample = point_sampler(mesh, np.column_stack([xs, np.zeros_like(xs)]))

traj = history.trajectory
picks = sorted({0, len(traj) // 4, len(traj) - 1})
slices = [(traj[k][0], sample(model.density(traj[k][1]))) for k in picks]
sM = sample(M)
png = os.path.join(args.output, "fermi_dirac.png")
if mesh.comm.rank == 0:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for t, s in slices:
        ax[0].plot(xs, args.eps * s, label=f"t = {t:.1f}")
    ax[0].plot(xs, args.eps * sM, "k:", label="M_eps")
    ax[0].axhline(1.0, color="gray", lw=0.5)
    ax[0].set(xlabel="v_x", ylabel="eps f(v_x, 0)", title="slices (eps f < 1)")
    ax[0].legend()
    t = history.column("t")
    ax[1].plot(t, history.column("H"), "o-", ms=3, label="H_eps")
    ax2 = ax[1].twinx()
    ax2.semilogy(t[1:], history.column("relative_entropy")[1:], "r.-", label="H_eps[f | M_eps]")
    ax[1].set(xlabel="t", ylabel="H_eps", title="entropy and relative entropy (red)")
    fig.tight_layout()
    fig.savefig(png, dpi=110)

fd.PETSc.Sys.Print(f"{model.describe()}, ranks = {mesh.comm.size}, steps = {len(history) - 1}")
fd.PETSc.Sys.Print(f"equilibrium: a = {a:.6g}, b = {b:.6g}, u = {u}")
for key in ("mass", "momentum_0", "momentum_1", "energy"):
    c = np.array(history.column(key))
    fd.PETSc.Sys.Print(f"{key:11s} drift (relative to mass): {np.max(np.abs(c - c[0])) / history.column('mass')[0]:.2e}")
fd.PETSc.Sys.Print(f"H_eps non-increasing: {bool(np.all(np.diff(history.column('H')) <= 0))}")
fd.PETSc.Sys.Print(f"relative entropy: {relative_entropy(model, f0h, M):.3e} -> {history.column('relative_entropy')[-1]:.3e}")
fd.PETSc.Sys.Print(f"plot: {png}")
