# Transport and collisions in phase space
# =======================================
#
# A GENERIC system with both brackets: free transport ``v ∂_x f`` (the Poisson
# operator ``L(f) g = −∇·(f J ∇g)``) and a Lenard–Bernstein/Dougherty collision
# operator with *local* moments ``u(x), T(x)`` (the friction ``M``), on
# ``x ∈ [0, 2π)`` periodic and ``v ∈ [−V, V]`` (``forms/vlasov_lbd.py``):
#
# .. math:: ∂_t f + v ∂_x f = ν ∂_v(∂_v f + (v − u(x)) f / T(x)).
#
# The solver conserves total mass, momentum and energy to solver tolerance, the
# collisions conserve the local ones exactly (through the model's projection field),
# ``f = e^w > 0`` by construction and ``H = ∫ f log f`` decreases: the state relaxes
# to the global Maxwellian fixed by the invariants.
#
#     ./gfem run mpiexec -n 2 python demos/phase_space_relaxation.py
import argparse
import math
import os

import numpy as np
import ufl
import firedrake as fd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from generic_fem import run, phase_space_mesh  # noqa: E402
from generic_fem.core.plot import plot_history, point_sampler  # noqa: E402
from forms.vlasov_lbd import VlasovLBD  # noqa: E402

parser = argparse.ArgumentParser(description="1x1v transport + LBD relaxation")
parser.add_argument("--nx", type=int, default=16)
parser.add_argument("--nv", type=int, default=24)
parser.add_argument("--vmax", type=float, default=6.0)
parser.add_argument("--nu", type=float, default=0.5)
parser.add_argument("--dt", type=float, default=0.1)
parser.add_argument("--t-end", type=float, default=6.0)
parser.add_argument("--scheme", default="backward-euler")
parser.add_argument("--output", default="output/phase_space")
args, _ = parser.parse_known_args()

mesh = phase_space_mesh(args.nx, args.nv, 2 * math.pi, args.vmax)
model = VlasovLBD(mesh, nu=args.nu)
x, v = model.x, model.v


def maxwellian(rho, u, T):
    return rho / ufl.sqrt(2 * math.pi * T) * ufl.exp(-(v - u) ** 2 / (2 * T))


# A density modulation in x and two counter-streaming beams.
f0 = (1 + 0.4 * ufl.cos(x)) * (0.6 * maxwellian(1.0, 1.2, 0.4) + 0.4 * maxwellian(1.0, -1.5, 0.6))

history = run(model, f0, t_end=args.t_end, dt=args.dt, scheme=args.scheme,
              output=args.output, vtk_every=10, progress=True)

# Snapshots of f(x, v) at the start and the end on a uniform grid (rank 0 plots).
X, Vg = np.meshgrid(np.linspace(0, 2 * math.pi, 64, endpoint=False),
                    np.linspace(-args.vmax + 1e-9, args.vmax - 1e-9, 96))
sample = point_sampler(mesh, np.column_stack([X.ravel(), Vg.ravel()]))   # rank 0: all values

w0 = model.state_from_density(f0)
vals0 = sample(model.density(w0))
vals1 = sample(history.stepper.density())

rec0, rec1 = history.records[0], history.records[-1]
if mesh.comm.rank == 0:
    plot_history(history, os.path.join(args.output, "history.png"),
                 title=f"transport + LBD, nu={args.nu}, {args.scheme}")
    # redundant VOM: rank 0 holds all points, in input order
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for a, vals, t in ((ax[0], vals0, 0.0), (ax[1], vals1, history.stepper.t)):
        im = a.pcolormesh(X, Vg, vals.reshape(X.shape), shading="auto")
        a.set_xlabel("x")
        a.set_ylabel("v")
        a.set_title(f"f(x, v), t = {t:g}")
        fig.colorbar(im, ax=a)
    fig.tight_layout()
    fig.savefig(os.path.join(args.output, "f_snapshots.png"), dpi=110)
for k in ("mass", "momentum", "energy"):
    fd.PETSc.Sys.Print(f"{k:9s}: {rec0[k]: .15e} -> {rec1[k]: .15e}  "
                       f"(change {abs(rec1[k] - rec0[k]) / abs(rec0['mass']):.1e} of the mass)")
Hs = history.column("H")
fd.PETSc.Sys.Print(f"H: {Hs[0]:.6f} -> {Hs[-1]:.6f}, non-increasing: "
                   f"{all(b <= a for a, b in zip(Hs, Hs[1:]))}")
fd.PETSc.Sys.Print(f"outputs in {args.output}/: history.csv, history.png, f_snapshots.png, f.pvd")
