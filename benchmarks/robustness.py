"""The robustness matrix of issue 10 (docs/theory.rst, "Convergence criterion and
globalisation"): ordinary data on ordinary velocity meshes, every model and scheme.

For every case ``run(model, f0, t_end=steps*dt, dt)`` with default solver settings;
prints one line per case: OK/FAIL, steps, rejected attempts, Newton iterations and
operator (pair-sum) evaluations per step, the largest invariant drift, the largest
step change of H, and the wall time; then a summary.  The cases: for every model,
every mesh with the first data set and backward Euler, every data set on the R = 6
box with backward Euler, and every scheme on the R = 6 box with the first data set.

    ./gfem run python benchmarks/robustness.py                 # the whole matrix
    ./gfem run python benchmarks/robustness.py --models landau_g-3 --steps 5
    ./gfem run mpiexec -n 2 python benchmarks/robustness.py --main-demo
    ./gfem run python benchmarks/robustness.py --long 100      # the hardest cases, 100 steps
    ./gfem run python benchmarks/robustness.py --resolution    # hard cases on refined boxes
    ./gfem run python benchmarks/robustness.py --set anderson_depth=0   # a stepper option for every case
    ./gfem run python benchmarks/robustness.py --sweep midpoint --steps 10   # beyond the matrix

``--sweep SCHEME`` runs one scheme on every data set of every model on four meshes
(``R = 6`` and ``10`` boxes, the ball, the 3D ``R = 5`` box), beyond the matrix (which
takes every data set on ``R = 6`` only).

``--long N`` runs the hardest cases of the matrix for ``N`` steps and follows the
entropy variable at the box edge: ``e = max_edge w − max w`` (the log of the largest
edge density relative to the peak) at every step, against the value of the Maxwellian
with the run's invariants (Landau models).  A tail mode that grows shows as ``e``
ending above both its initial and its equilibrium value.
"""
import argparse
import ast
import os
import sys
import time

import numpy as np
import firedrake as fd
from mpi4py import MPI

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from robustness_cases import build, MESHES, LANDAU_DATA  # noqa: E402
from generic_fem import run, StepFailedError, SCHEMES  # noqa: E402

MODELS = ["landau_g-3", "landau_g-2", "landau_g0", "landau_g1", "fermi_dirac", "multispecies"]
DATA = {m: list(LANDAU_DATA) for m in MODELS}
DATA["fermi_dirac"] = ["near_saturated", "dense_two_bumps"] + list(LANDAU_DATA)
DATA["multispecies"] = ["heating3", "heating"]


def cases(models):
    out = []
    for m in models:
        first = DATA[m][0]
        meshes = [k for k in MESHES if not (m == "multispecies" and k.startswith("ball"))]
        out += [(m, mesh, first, "backward-euler") for mesh in meshes]
        out += [(m, "box6", d, "backward-euler") for d in DATA[m][1:]]
        out += [(m, "box6", first, s) for s in SCHEMES if s != "backward-euler"]
    return out


#: the meshes of ``--sweep``
SWEEP_MESHES = ["box6", "box10", "ball6", "box3d5"]


def sweep_cases(models, scheme):
    """Every data set of every model on :data:`SWEEP_MESHES` with ``scheme``."""
    return [(m, mesh, d, scheme) for m in models for mesh in SWEEP_MESHES
            if not (m == "multispecies" and mesh.startswith("ball")) for d in DATA[m]]


def one(case, steps, dt, rule="nodal", refine=1.0, **options):
    model, f0 = build(*case[:3], rule=rule, refine=refine)
    t0 = time.time()
    ops = model.friction_operators()
    try:
        h = run(model, f0, t_end=steps * dt, dt=dt, scheme=case[3], **options)
    except StepFailedError as exc:
        return f"FAIL {' '.join(case)}: {str(exc)[:300]} ({time.time() - t0:.1f} s)", False
    inv = [k for k in h.columns if k.startswith(("mass", "momentum", "energy"))]
    mass = sum(abs(h.column(k)[0]) for k in inv if k.startswith("mass"))
    drift = max(np.max(np.abs(np.array(h.column(k)) - h.column(k)[0])) / mass for k in inv)
    n = len(h) - 1
    its = sum(h.column("snes_its")[1:])
    ev = sum(op.passes() for op in ops) / n
    dH = np.diff(h.column("H")).max()
    ineq = (f", {int(sum(h.column('damped_substeps')[1:]))} damped, "
            f"{int(sum(h.column('inequality_substeps')[1:]))} by the inequality"
            if "inequality_substeps" in h.columns else "")
    return (f"OK   {' '.join(case)}: {n} steps, {sum(h.column('rejected')[1:])} rejected{ineq}, "
            f"{its / n:.1f} its/step, {ev:.1f} evaluations/step, drift {drift:.1e}, "
            f"max dH {dH:.1e} ({time.time() - t0:.1f} s)"), True


#: the hardest cases of the matrix (most rejections and iterations per step)
LONG_CASES = [("landau_g1", "box10", "two_gaussians", "backward-euler"),
              ("landau_g1", "box6", "two_gaussians", "midpoint"),
              ("landau_g1", "box6", "two_gaussians", "discrete-gradient"),
              ("landau_g0", "box6", "two_gaussians", "discrete-gradient"),
              ("landau_g1", "box3d6", "two_gaussians", "backward-euler"),
              ("fermi_dirac", "box6", "near_saturated", "backward-euler"),
              ("multispecies", "box6", "heating3", "backward-euler")]


def edge_log_ratio(model):
    """``callback`` for :func:`~generic_fem.run` recording ``max_edge w − max w`` per
    component (columns ``edge_k``), and the box half-width and shape for the
    equilibrium value."""
    mesh = model.mesh
    X = fd.Function(fd.VectorFunctionSpace(mesh, model.V.ufl_element().sub_elements[0]
                                           if model.V.value_shape else model.V.ufl_element()))
    X.interpolate(fd.SpatialCoordinate(mesh))
    x = X.dat.data_ro
    comm = mesh.comm
    radius = np.linalg.norm(x, axis=1)
    box = comm.allreduce(float(np.max(np.abs(x))) if x.size else 0.0, op=MPI.MAX)
    corner = comm.allreduce(float(radius.max()) if x.size else 0.0, op=MPI.MAX)
    is_ball = corner < box * 1.01
    R = corner if is_ball else box
    edge = (radius >= R * (1 - 1e-8)) if is_ball else (np.max(np.abs(x), axis=1) >= R * (1 - 1e-8))

    def callback(stepper, record):
        w = np.array(stepper.w.dat.data_ro).reshape(len(x), -1)
        for k in range(w.shape[1]):
            top = comm.allreduce(float(w[:, k].max()), op=MPI.MAX)
            e = comm.allreduce(float(w[edge, k].max()) if np.any(edge) else -np.inf, op=MPI.MAX)
            record[f"edge_{k}"] = e - top
    return callback, R, is_ball


def long_runs(steps, dt, rule, options):
    """The hardest cases for ``steps`` steps: rejections, iterations, and the edge
    values of ``w`` (start, largest over the run, end, and the equilibrium's)."""
    for case in LONG_CASES:
        model, f0 = build(*case[:3], rule=rule)
        callback, R, is_ball = edge_log_ratio(model)
        t0 = time.time()
        try:
            h = run(model, f0, t_end=steps * dt, dt=dt, scheme=case[3], callback=callback, **options)
        except StepFailedError as exc:
            fd.PETSc.Sys.Print(f"FAIL {' '.join(case)}: {str(exc)[:300]} ({time.time() - t0:.1f} s)", flush=True)
            continue
        n = len(h) - 1
        e = np.array(h.column("edge_0")[1:])
        eq = ""
        if case[0].startswith("landau"):
            d = model.dim
            m = h.column("mass")[-1]
            u = np.array([h.column(f"momentum_{i}")[-1] for i in range(d)]) / m
            T = (2 * h.column("energy")[-1] / m - u @ u) / d
            gap = R - (np.linalg.norm(u) if is_ball else np.max(np.abs(u)))
            e_eq = -gap ** 2 / (2 * T)
            # a tail mode that grew: the edge value ends above both its start and the
            # equilibrium's (a transient rise while the data relax is not one)
            grows = e[-1] > max(e[0], e_eq) + 0.5
            eq = f", equilibrium {e_eq:.1f}: {'GROWS' if grows else 'no growth'}"
        fd.PETSc.Sys.Print(
            f"{' '.join(case)}: {n} steps, {sum(h.column('rejected')[1:])} rejected, "
            f"{sum(h.column('snes_its')[1:]) / n:.1f} its/step; edge w - max w: "
            f"start {e[0]:.1f}, largest {e.max():.1f}, end {e[-1]:.1f}{eq} ({time.time() - t0:.0f} s)", flush=True)


#: cases whose solves are hard on the matrix's meshes, run again on refined boxes
RESOLUTION_CASES = [("landau_g1", "box6", "two_gaussians", "midpoint"),
                    ("landau_g1", "box6", "anisotropic", "midpoint"),
                    ("landau_g1", "box8", "two_gaussians", "backward-euler"),
                    ("landau_g1", "box10", "two_gaussians", "backward-euler"),
                    ("landau_g1", "box3d6", "two_gaussians", "backward-euler"),
                    ("landau_g0", "box8", "two_gaussians", "backward-euler"),
                    ("landau_g0", "box10", "two_gaussians", "backward-euler"),
                    ("landau_g1", "box6", "two_gaussians", "discrete-gradient"),
                    ("landau_g-2", "box3d5", "two_gaussians", "discrete-gradient")]


def resolution(steps, dt, rule, options, factors=(1.0, 1.5, 2.0)):
    """The cases of :data:`RESOLUTION_CASES` with ``factors`` times the cells per
    direction: rejections and iterations per step against the node spacing."""
    from robustness_cases import BOXES
    for case in RESOLUTION_CASES:
        dim, R, cells = BOXES[case[1]]
        for k in factors:
            n = int(round(cells * k))
            line, _ = one(case, steps, dt, rule, refine=k, **options)
            fd.PETSc.Sys.Print(f"{n:3d} cells (node spacing {R / n:.2f}) {line}", flush=True)


def main_demo(options):
    """The run of ``demos/landau_relaxation.py`` (Coulomb, 12x12 Q2, R = 6, two beams,
    30 backward-Euler steps of 0.2): Newton iterations, operator evaluations, pairs per
    evaluation and time per step, with the sums over distinct point positions (the
    default) and over every point of every cell, side by side."""
    from generic_fem import velocity_box
    from forms.landau import Landau
    for merge in (True, False):
        model = Landau(velocity_box(2, 6.0, 12), gamma=-3.0, C=1.0)
        model.pairs.merge_coincident = merge
        f0 = model.maxwellian(1.0, (1.0, 0.0), 0.5) + model.maxwellian(0.5, (-1.0, 0.5), 0.8)
        t0 = time.time()
        h = run(model, f0, t_end=6.0, dt=0.2, **options)
        wall = time.time() - t0
        n = len(h) - 1
        comm = model.mesh.comm
        pairs = comm.allreduce(model.pairs.stats["pairs"]) / max(model.pairs.passes(), 1)
        what = "distinct positions" if merge else "every point      "
        fd.PETSc.Sys.Print(f"main demo, sums over {what}: {n} steps, "
                           f"{sum(h.column('snes_its')[1:]) / n:.1f} Newton iterations and "
                           f"{model.pairs.passes() / n:.1f} operator evaluations per step, "
                           f"{pairs:.3e} pairs per evaluation, {wall:.1f} s ({wall / n:.3f} s per step) "
                           f"on {comm.size} rank(s)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", default=MODELS)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--dt", type=float, default=0.1)
    p.add_argument("--rule", default="nodal", help="the models' quadrature rule (nodal or gauss)")
    p.add_argument("--long", type=int, default=0, metavar="N",
                   help="only the hardest cases, for N steps, following w at the box edge")
    p.add_argument("--resolution", action="store_true",
                   help="only the hard cases, on the matrix's boxes and refined ones")
    p.add_argument("--main-demo", action="store_true",
                   help="only the main demo's run (operator evaluations per step)")
    p.add_argument("--sweep", default=None, metavar="SCHEME",
                   help="one scheme on every data set and model on four meshes (beyond the matrix)")
    p.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                   help="stepper options for every case (e.g. anderson_depth=0), values as Python literals")
    args, _ = p.parse_known_args()
    options = {}
    for item in args.set:
        name, _, value = item.partition("=")
        options[name] = ast.literal_eval(value)
    if args.main_demo:
        main_demo(options)
        return
    if args.resolution:
        resolution(args.steps, args.dt, args.rule, options)
        return
    if args.long:
        long_runs(args.long, args.dt, args.rule, options)
        return
    ok = total = 0
    for case in (sweep_cases(args.models, args.sweep) if args.sweep else cases(args.models)):
        line, passed = one(case, args.steps, args.dt, args.rule, **options)
        ok += passed
        total += 1
        fd.PETSc.Sys.Print(line, flush=True)
    fd.PETSc.Sys.Print(f"{ok} of {total} cases ran to the end")


if __name__ == "__main__":
    main()
