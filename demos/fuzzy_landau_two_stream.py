# Two counter-streaming beams under the fuzzy Landau equation
# ===========================================================
#
# The fuzzy Landau equation (docs/models.rst, Fuzzy Landau; Gualdani–Guillen–Pavlović–Tasković–Zamponi, arXiv:2507.08689; Duong–He, arXiv:2504.07666) on the phase space
# ``T × [−V, V]²`` (1x2v):
#
# .. math::  ∂_t f + v_1 ∂_x f = ∇_v·∫∫ κ(x − x_*) a(v − v_*)(f_* ∇_v f − f ∇_{v_*} f_*)\,dx_*\,dv_*,
#
# particles at ``x`` and ``x_*`` collide with the weight ``κ(x − x_*)`` of Duong–He, arXiv:2504.07666 (2.2),
# ``κ(s) = k₁ exp(−k₂√(1 + s²))``.  It is a GENERIC system: free transport is the Poisson
# part, the collisions the toolkit's two-point friction operator over phase-space
# points, whose ``x``-sums are a convolution (``O(N_x N_v²)`` work per evaluation, split
# over the MPI ranks).  Total mass, momentum and energy are conserved to the solver
# tolerance; ``H = ∫ f log f`` decreases every step; ``f > 0`` everywhere.
#
# The datum: two beams drifting against each other, with a density modulation in ``x``.
# Transport shears the modulation into filaments, the collisions relax the velocity
# distribution towards a Maxwellian, and with both the state heads for the global
# Maxwellian.  The plots: ``f`` in the ``(x, v_1)`` plane (averaged over ``v_2``) at a
# few times, the local density ``ρ(x)``, ``H(t)``, the Fisher informations
# ``I_x, I_mix(t)`` (Gualdani–Guillen–Pavlović–Tasković–Zamponi, arXiv:2507.08689; ``I_v`` is printed) and the invariants' drift.
#
# Run it with ``./gfem run mpiexec -n 2 python demos/fuzzy_landau_two_stream.py``
# (``--gamma 0`` for Maxwell molecules, ``--kappa one`` for ``κ ≡ 1``).
import argparse
import os
import time

import numpy as np
import ufl
import firedrake as fd

from generic_fem import run, phase_space_box
from forms.fuzzy_landau import FuzzyLandau, seed003_kappa

parser = argparse.ArgumentParser(description="fuzzy Landau two-stream demo (1x2v)")
parser.add_argument("--nx", type=int, default=12, help="cells in x")
parser.add_argument("--nv", type=int, default=6, help="cells per velocity direction")
parser.add_argument("--vmax", type=float, default=4.5)
parser.add_argument("--gamma", type=float, default=-3.0)
parser.add_argument("--kappa", choices=("seed003", "one"), default="seed003")
parser.add_argument("--C", type=float, default=0.25, help="kernel constant (collision strength)")
parser.add_argument("--dt", type=float, default=0.25)
parser.add_argument("--t-end", type=float, default=5.0)
parser.add_argument("--output", default="output/fuzzy_landau")
args, _ = parser.parse_known_args()

ell = 4 * np.pi
mesh = phase_space_box(args.nx, args.nv, ell, args.vmax)
kappa = seed003_kappa(1.0, 1.0) if args.kappa == "seed003" else None
model = FuzzyLandau(mesh, ell, kappa=kappa, gamma=args.gamma, C=args.C)
x = model.x
k = 2 * np.pi / ell
f0 = model.maxwellian(0.5 * (1.0 + 0.3 * ufl.cos(k * x)), (1.3, 0.0), 0.35) + \
    model.maxwellian(0.5 * (1.0 + 0.3 * ufl.cos(k * x)), (-1.3, 0.0), 0.35)

snapshots = {}
times_wanted = [0.0, 0.2 * args.t_end, args.t_end]
start = time.perf_counter()


def keep(stepper, rec):
    t = stepper.t
    if any(abs(t - s) < 0.5 * args.dt for s in times_wanted[1:]):
        snapshots[round(t, 6)] = model.density(stepper.w.copy(deepcopy=True))   # a copy: w moves on


Q = model.Q
P = model.pairs


def phase_plane(f):
    """``∫ f dv_2`` on the (x, v_1) grid of quadrature points (rank 0 gets it)."""
    fq = fd.Function(Q).interpolate(f)
    data = P.gather(np.column_stack([np.asarray(fq.dat.data_ro) * P.weights, P.weights]))
    xs, vs = P.x_values, P.v_points
    v1 = np.unique(np.round(vs[:, 0], 10))
    j = np.searchsorted(v1, np.round(vs[P.v_index, 0], 10))
    img = np.zeros((len(v1), len(xs)))
    wsum = np.zeros((len(v1), len(xs)))
    np.add.at(img, (j, P.x_index), data[:, 0])
    np.add.at(wsum, (j, P.x_index), data[:, 1])
    # per unit x-weight and v_1-weight: divide by the weight summed over v_2 and divide out Δv_2
    nv2 = len(np.unique(np.round(vs[:, 1], 10)))
    dv2 = 2 * args.vmax / nv2
    return xs, v1, img / wsum * nv2 * dv2


f_init = model.density(model.state_from_density(f0))
plane0 = phase_plane(f_init)
rho0 = model.local_density(f_init)
history = run(model, f0, t_end=args.t_end, dt=args.dt, output=args.output, progress=True, callback=keep)
wall = time.perf_counter() - start
ts = np.array(history.column("t"))
planes = [(0.0, plane0)] + [(t, phase_plane(f)) for t, f in sorted(snapshots.items())]
rhos = [(0.0, rho0)] + [(t, model.local_density(f)) for t, f in sorted(snapshots.items())]

png = os.path.join(args.output, "two_stream.png")
if mesh.comm.rank == 0:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(2, 3, figsize=(15, 8))
    for a, (t, (xs, v1, img)) in zip(ax[0], planes):
        order = np.argsort(xs)
        a.pcolormesh(xs[order], v1, img[:, order], shading="auto")
        a.set(xlabel="x", ylabel="v_1", title=f"∫ f dv_2 at t = {t:g}")
    for t, (xs, rho) in rhos:
        order = np.argsort(xs)
        ax[1, 0].plot(xs[order], rho[order], label=f"t = {t:g}")
    ax[1, 0].set(xlabel="x", title="local density ρ(x)")
    ax[1, 0].legend()
    ax[1, 1].plot(ts, history.column("H"), "o-", ms=3, label="H")
    ax2 = ax[1, 1].twinx()
    for kname in ("fisher_x", "fisher_mix"):
        ax2.semilogy(ts, history.column(kname), "--", label=kname)
    ax[1, 1].set(xlabel="t", title="H (solid), Fisher informations (dashed)")
    ax2.legend(loc="upper right")
    for kname in ("mass", "momentum_0", "momentum_1", "energy"):
        c = np.array(history.column(kname))
        ax[1, 2].semilogy(ts[1:], np.abs(c[1:] - c[0]) / max(np.abs(c).max(), 1.0) + 1e-18, label=kname)
    ax[1, 2].set(xlabel="t", title="invariants: relative drift")
    ax[1, 2].legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)

fd.PETSc.Sys.Print(f"{model.describe()}, ranks = {mesh.comm.size}, steps = {len(history) - 1}, "
                   f"wall time {wall:.1f} s")
for kname in ("mass", "momentum_0", "momentum_1", "energy"):
    c = np.array(history.column(kname))
    fd.PETSc.Sys.Print(f"{kname:10s} drift (relative to max(|value|, 1)): "
                       f"{np.max(np.abs(c - c[0])) / max(np.max(np.abs(c)), 1.0):.2e}")
H = np.array(history.column("H"))
fd.PETSc.Sys.Print(f"H: {H[0]:.5f} -> {H[-1]:.5f}, decreasing every step: {bool(np.all(np.diff(H) < 0))}")
for kname in ("fisher_x", "fisher_v", "fisher_mix"):
    c = np.array(history.column(kname))
    fd.PETSc.Sys.Print(f"{kname:10s}: {c[0]:.4f} -> {c[-1]:.4f}")
fd.PETSc.Sys.Print(f"density modulation max|ρ - mean|: {np.ptp(rho0[1]) / 2:.4f} -> {np.ptp(rhos[-1][1][1]) / 2:.4f}")
fd.PETSc.Sys.Print(f"Newton iterations per step: {np.nanmean(history.column('snes_its')):.1f}")
fd.PETSc.Sys.Print(f"plot: {png}; history: {args.output}/history.csv")
