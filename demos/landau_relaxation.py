# Coulomb collisions: relaxation of two beams under the Landau operator
# ====================================================================
#
# This demo solves the homogeneous Landau equation (docs/models.rst, Homogeneous Landau)
#
# .. math::  ∂_t f = ∇·∫ a(v − v_*) (f_* ∇f − f ∇_* f_*) dv_*,
#            a(z) = C |z|^{γ+2} Π(z),   γ = −3 (Coulomb),
#
# in two velocity dimensions, starting from two drifting Maxwellian beams.  The model
# (``forms/landau.py``) states ``S = −∫ f log f``, ``E = ½∫|v|² f`` and the two-point
# friction operator; the toolkit solves for the entropy variable ``w = log f + 1``, so
# ``f > 0`` at every quadrature point, mass, momentum and energy are conserved to the
# nonlinear residual and ``H = ∫ f log f`` decreases every step.  The double integral
# is evaluated by compiled pair sums over the ``N_q`` quadrature points, split over
# the MPI ranks.
#
# Run it with ``./gfem demo`` (2 MPI ranks) or
# ``./gfem run mpiexec -n 2 python demos/landau_relaxation.py --help``.
import argparse
import os
import time

import numpy as np
import ufl
import firedrake as fd
from mpi4py import MPI

from generic_fem import run, velocity_box
from generic_fem.core.assembly import CompiledForms
from generic_fem.core.plot import plot_history, point_sampler
from forms.landau import Landau

parser = argparse.ArgumentParser(description="Landau (Coulomb) relaxation demo")
parser.add_argument("--cells", type=int, default=12)
parser.add_argument("--radius", type=float, default=6.0)
parser.add_argument("--gamma", type=float, default=-3.0)
parser.add_argument("--dt", type=float, default=0.2)
parser.add_argument("--t-end", type=float, default=6.0)
parser.add_argument("--scheme", default="backward-euler",
                    choices=["backward-euler", "minimizing-movement", "midpoint"])
parser.add_argument("--rule", default=None, choices=["gauss", "nodal"],
                    help="the quadrature rule (default: generic_fem.core.quadrature.DEFAULT_RULE)")
parser.add_argument("--output", default="output/landau_relaxation")
args, _ = parser.parse_known_args()   # unknown arguments are left to PETSc

# The velocity box and the model.  ``C = 1``; any ``γ ∈ [−3, 1]`` works
# (``γ = 0`` switches to the exact moment reduction of the pair sums).  ``--rule gauss``
# uses Gauss points instead of the nodes (docs/theory.rst, "The nodal rule").
mesh = velocity_box(dim=2, radius=args.radius, cells=args.cells)
model = Landau(mesh, gamma=args.gamma, C=1.0, degree=2, rule=args.rule)
v = model.coordinates

# Two beams: a dense, cold one moving right and a lighter, warmer one moving left.
f0 = model.maxwellian(1.0, (1.0, 0.0), 0.5) + model.maxwellian(0.5, (-1.0, 0.5), 0.8)


# Diagnostics after every step: the temperature tensor
# ``T_ij = (1/ρ) ∫ (v − u)_i (v − u)_j f`` (its trace is conserved with the energy; its
# anisotropy relaxes), from raw moments of ``f``.  ``fd.assemble(form)`` would
# preprocess each form again at every step (about 1 ms each here); ``CompiledForms``
# builds the assemblers once for the stepper's density and only reruns the kernels.
def moment_forms(f):
    forms = {"rho": f * model.dx}
    forms.update({f"u{i}": v[i] * f * model.dx for i in range(2)})
    forms.update({f"s{i}{j}": v[i] * v[j] * f * model.dx for i in range(2) for j in range(2)})
    return CompiledForms(forms)


def temperatures(moments):
    m = moments()
    u = np.array([m["u0"], m["u1"]]) / m["rho"]
    second = np.array([[m[f"s{i}{j}"] for j in range(2)] for i in range(2)]) / m["rho"]
    return second - np.outer(u, u)


# Slices ``f(v_x, 0)`` at a few steps, sampled with a vertex-only mesh (works on any
# number of ranks; rank 0 gets the values in input order).
xs = np.linspace(-args.radius, args.radius, 241)
sample = point_sampler(mesh, np.column_stack([xs, np.zeros_like(xs)]))
n_steps = int(round(args.t_end / args.dt))
picks = {n_steps // 8, n_steps // 3, n_steps}
slices = [(0.0, sample(model.density(model.state_from_density(f0))))]
moments = {}


def record_temperatures(stepper, record):
    if "forms" not in moments:      # the stepper's w is one Function, updated in place
        moments["forms"] = moment_forms(model.density(stepper.w))
    T = temperatures(moments["forms"])
    record.update(T_xx=T[0, 0], T_yy=T[1, 1], T_xy=T[0, 1])
    if record["step"] in picks:
        slices.append((record["t"], sample(stepper.density())))


# Each step starts from an extrapolation of the last states and stops its Picard
# iteration once the iteration's error is a small fraction (1e-2) of the step's
# local time-discretisation error, estimated by the distance from that prediction; the
# invariants are then made exact and the entropy balance is checked, so mass, momentum
# and energy stay exact and H still decreases (docs/theory.rst, "Convergence criterion").
# Every step covers ``dt``: a solve that does not converge is retried in smaller
# sub-steps inside it (the history's ``substeps`` and ``rejected`` columns).
started = time.perf_counter()
history = run(model, f0, t_end=args.t_end, dt=args.dt, scheme=args.scheme,
              output=args.output, vtk_every=5, progress=True, callback=record_temperatures)
wall = time.perf_counter() - started

# The Maxwellian with the same mass, momentum and energy: the equilibrium.
f_end = history.stepper.density()
rho = fd.assemble(f_end * model.dx)
u = np.array([fd.assemble(v[i] * f_end * model.dx) for i in range(2)]) / rho
T = np.trace(temperatures(moment_forms(f_end))) / 2
fM = model.maxwellian(rho, u, T)
dist = np.sqrt(fd.assemble((f_end - fM) ** 2 * model.dx) / fd.assemble(fM ** 2 * model.dx))
sM = sample(fM)

png = os.path.join(args.output, "relaxation.png")
if mesh.comm.rank == 0:
    import matplotlib.pyplot as plt
    plot_history(history, os.path.join(args.output, "history.png"),
                 title=f"Landau gamma={args.gamma:g}, {args.scheme}")
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    t = history.column("t")
    ax[0].plot(t, history.column("H"), "o-", ms=3)
    ax[0].set(xlabel="t", ylabel="H = ∫ f log f", title="entropy")
    for key in ("T_xx", "T_yy", "T_xy"):
        ax[1].plot(t[1:], history.column(key)[1:], label=key)
    ax[1].axhline(T, color="k", ls=":", label="T of the Maxwellian")
    ax[1].set(xlabel="t", title="temperature tensor T_ij")
    ax[1].legend()
    for tk, s in slices:
        ax[2].plot(xs, s, label=f"t = {tk:.2f}")
    ax[2].plot(xs, sM, "k:", label="Maxwellian")
    ax[2].set(xlabel="v_x", ylabel="f(v_x, 0)", title="slices")
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)

H = history.column("H")
steps = len(history) - 1
passes = model.pairs.passes()   # operator (pair-sum) evaluations, all of the run
fd.PETSc.Sys.Print(f"{model.describe()}, ranks = {mesh.comm.size}, steps = {steps}, "
                   f"t = {history.stepper.t:g}, Newton iterations = {sum(history.column('snes_its')[1:])}, "
                   f"operator evaluations = {passes} ({passes / steps:.1f} per step)")
# pairs per evaluation: this rank's distinct point positions times all ranks' (a node
# shared by neighbouring cells is one source and one target), summed over the ranks
targets, sources = model.pairs.unique_points()
pairs = mesh.comm.allreduce(targets * sources)
seconds = mesh.comm.allreduce(model.pairs.stats["seconds"], op=MPI.MAX)   # in the evaluations
fd.PETSc.Sys.Print(f"pairs per evaluation = {pairs:.3e} (every point of every cell: "
                   f"{model.pairs.n_global ** 2:.3e}), {1e3 * seconds / max(passes, 1):.2f} ms per evaluation; "
                   f"wall time {wall:.1f} s, {wall / steps:.3f} s per step")
for key in ("mass", "momentum_0", "momentum_1", "energy"):
    c = np.array(history.column(key))
    fd.PETSc.Sys.Print(f"{key:12s} drift (relative to mass): {np.max(np.abs(c - c[0])) / history.column('mass')[0]:.2e}")
fd.PETSc.Sys.Print(f"H non-increasing every step: {bool(np.all(np.diff(H) <= 0))}")
fd.PETSc.Sys.Print(f"relative L2 distance to the Maxwellian at t = {history.stepper.t:g}: {dist:.3e}")
fd.PETSc.Sys.Print(f"plots: {png}, {args.output}/history.png; history: {args.output}/history.csv")
