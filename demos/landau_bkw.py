# The BKW solution of the Landau equation: a convergence table
# ============================================================
#
# For Maxwell molecules (``γ = 0``, ``C = 1``) the Landau equation has the exact
# Bobylev–Krook–Wu solution (docs/models.rst, Homogeneous Landau), for mass 1, momentum 0, ``∫|v|²f = d``:
#
# .. math::  f(t, v) = (2πK)^{−d/2} e^{−|v|²/(2K)} [ ((d+2)K − d)/(2K) + (1−K)/(2K²) |v|² ],
#            K(t) = 1 − (2/(d+2)) e^{−2(d−1)t}.
#
# At ``t = 0`` it vanishes at ``v = 0`` (``log f = −∞``), so the entropy-variable
# schemes start at ``t_0 = 0.5``.  For ``γ = 0`` the pair sums reduce exactly to a few
# moments, so each operator evaluation costs ``O(N_q)``.
#
# The demo refines the mesh (midpoint scheme, small ``Δt``: the space error) and the
# time step (one mesh; the time error against a ``Δt/8`` run, and the error against
# BKW) and prints the relative ``L²`` errors of ``f`` at ``t_0 + T`` and the orders.
#
# Run it with ``./gfem run mpiexec -n 2 python demos/landau_bkw.py`` (``--dim 3`` for
# three dimensions).
import argparse

import numpy as np
import firedrake as fd

from generic_fem import run, velocity_box
from forms.landau import Landau, bkw

parser = argparse.ArgumentParser(description="BKW convergence table")
parser.add_argument("--dim", type=int, default=2, choices=[2, 3])
parser.add_argument("--radius", type=float, default=7.0)
parser.add_argument("--t0", type=float, default=0.5)
parser.add_argument("--T", type=float, default=0.5)
parser.add_argument("--cells", type=int, nargs="*", help="mesh sequence (default 8 16 32 in 2D, 4 6 8 in 3D)")
parser.add_argument("--rules", nargs="*", default=["nodal", "gauss"],
                    help="quadrature rules to compare side by side (nodal: the default; gauss: the former rule)")
parser.add_argument("--no-dt", action="store_true", help="only the refinement in h")
parser.add_argument("--space-dt", type=float, default=None,
                    help="the time step of the refinement in h (default 0.02 in 2D, 0.05 in 3D)")
args, _ = parser.parse_known_args()
cells = args.cells or ([8, 16, 32] if args.dim == 2 else [4, 6, 8])


def error(n, dt, scheme, rule="nodal"):
    """Relative L² error of f at t0 + T against BKW (at the rule's points), and the
    invariant drift."""
    model = Landau(velocity_box(args.dim, args.radius, n), gamma=0.0, rule=rule)
    v = model.coordinates
    h = run(model, bkw(v, args.t0), t0=args.t0, t_end=args.t0 + args.T, dt=dt, scheme=scheme)
    f, fe = h.stepper.density(), bkw(v, args.t0 + args.T)
    err = np.sqrt(fd.assemble((f - fe) ** 2 * model.dx) / fd.assemble(fe ** 2 * model.dx))
    drift = max(abs(h.column(k)[-1] - h.column(k)[0]) for k in ("mass", "energy"))
    return err, drift, model.pairs.n_global


def table(title, rows, resolutions):
    """Print errors and orders ``log(e_k−1/e_k)/log(r_k/r_k−1)`` (``r`` = 1/h or 1/dt)."""
    fd.PETSc.Sys.Print(f"\n{title}")
    fd.PETSc.Sys.Print(f"{'':>10} {'N_q':>8} {'L2 error':>11} {'order':>6} {'invariant drift':>16}")
    prev = None
    for (label, (err, drift, nq)), r in zip(rows, resolutions):
        order = f"{np.log(prev[0] / err) / np.log(r / prev[1]):6.2f}" if prev else f"{'':6}"
        fd.PETSc.Sys.Print(f"{label:>10} {nq:8d} {err:11.3e} {order} {drift:16.1e}")
        prev = (err, r)


# Space: midpoint with a small step, so that the time error is below the space error.
for rule in args.rules:
    dt_h = args.space_dt or (0.02 if args.dim == 2 else 0.05)
    rows = [(f"n={n}", error(n, dt_h, "midpoint", rule)) for n in cells]
    table(f"d={args.dim}: refinement in h (Q2, midpoint, dt = {dt_h:g}, {rule} rule)", rows, cells)
if args.no_dt:
    raise SystemExit

# Time: on one mesh, halving dt.  The error against BKW contains the space error of
# this mesh; the *time error* is measured against a run with dt/8 on the same mesh.
n = cells[-1] if args.dim == 2 else cells[1]
model = Landau(velocity_box(args.dim, args.radius, n), gamma=0.0)
v = model.coordinates


def solve(dt, scheme):
    h = run(model, bkw(v, args.t0), t0=args.t0, t_end=args.t0 + args.T, dt=dt, scheme=scheme)
    return h.stepper.w.copy(deepcopy=True)


def rel(f, g):
    return np.sqrt(fd.assemble((f - g) ** 2 * model.dx) / fd.assemble(g ** 2 * model.dx))


dts = (0.1, 0.05, 0.025)
# In 3D the midpoint scheme's extrapolation w^{n+1} = 2θ − w^n lets the corner nodes of
# the box (where BKW lies ~e^{-70} below its maximum) oscillate over many small steps
# until Newton fails (docs/two_point.rst, "Known limits"); 3D uses backward Euler only.
for scheme in ("backward-euler", "midpoint") if args.dim == 2 else ("backward-euler",):
    ref = model.density(solve(dts[-1] / 8, scheme))
    fd.PETSc.Sys.Print(f"\nd={args.dim}: refinement in dt ({scheme}, n={n}, N_q={model.pairs.n_global})")
    fd.PETSc.Sys.Print(f"{'':>10} {'time error':>11} {'order':>6} {'error vs BKW':>13}")
    prev = None
    for dt in dts:
        f = model.density(solve(dt, scheme))
        et, ex = rel(f, ref), rel(f, bkw(v, args.t0 + args.T))
        order = f"{np.log2(prev / et):6.2f}" if prev else f"{'':6}"
        fd.PETSc.Sys.Print(f"{'dt=%g' % dt:>10} {et:11.3e} {order} {ex:13.3e}")
        prev = et
