"""Benchmark: what a time step costs, and where its time goes, old path against new.

The main demo's problem (``demos/landau_relaxation.py``: Coulomb Landau, two beams,
``velocity_box(2, 6.0, 12)``, ``Q2``, 30 backward-Euler steps of 0.2) and a 3D
two-beam run (``velocity_box(3, 5.0, 4)``, 5 steps of 0.2), each run in one process
with

* the **old path**: Gauss points (``rule="gauss"``), every step started from ``w^n``
  (``predictor="previous"``) and solved to the tight tests only
  (``local_error_fraction=0``), pair sums over every point of every cell;
* the **tight** path: the nodal rule with sums over distinct node positions, steps
  from ``w^n`` solved to the tight tests (the defaults before the local-error test);
* the **new path**: the defaults: the nodal rule with sums over distinct node
  positions, the extrapolating predictor and the local-error stopping test
  (docs/theory.rst, "Convergence criterion").

Each path is timed ``--repeat`` times (default 3, interleaved with the other paths) and
the fastest run is reported.  For each it prints Newton iterations, operator evaluations and pairs per evaluation,
the time per evaluation and per step (``Stepper.advance``; the stepper's set-up and
``run``'s diagnostics are printed apart), and where a step's time goes: operator
evaluations (point values of ``f`` and ``∇w``, the compiled pair sums), assembly of
residuals and Jacobians (without the evaluations inside them), the linear solves
(scaling, MUMPS factorisation and solve) and the rest (convergence tests, the
predictor, invariant projection, ``H`` and the dissipation).  Then the accuracy: the relative L2 distance between the
final states of the new and the tight path (what the looser solves cost) beside the
time-discretisation error (the new path against itself with ``Δt/2``) and the
difference the quadrature rule makes (old against tight).

Run it as::

    ./gfem run python benchmarks/step_cost.py            # both cases
    ./gfem run mpiexec -n 2 python benchmarks/step_cost.py --case 2d

The figures in docs/theory.rst ("Cost of a step") were measured with it; name the CPU
beside any figure you quote (the machines are noisy: compare ratios within one run).
"""
import argparse
import os
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
import firedrake as fd  # noqa: E402
from mpi4py import MPI  # noqa: E402
from firedrake.solving_utils import _SNESContext  # noqa: E402

from generic_fem import run, velocity_box, Stepper  # noqa: E402
from generic_fem.friction.two_point import TwoPointFriction  # noqa: E402
from generic_fem.solvers.linear_solvers import DiagonalScaledLU  # noqa: E402
from forms.landau import Landau  # noqa: E402

CASES = {
    "2d": dict(dim=2, radius=6.0, cells=12, dt=0.2, steps=30,
               beams=[(1.0, (1.0, 0.0), 0.5), (0.5, (-1.0, 0.5), 0.8)]),
    "3d": dict(dim=3, radius=5.0, cells=4, dt=0.2, steps=5,
               beams=[(1.0, (1.0, 0.0, 0.0), 0.5), (0.5, (-1.0, 0.5, 0.0), 0.8)]),
}

PATHS = {
    "old": dict(rule="gauss", merge=False, options=dict(predictor="previous", local_error_fraction=0.0)),
    "tight": dict(rule=None, merge=True, options=dict(predictor="previous", local_error_fraction=0.0)),
    "new": dict(rule=None, merge=True, options={}),
}

#: the timed phases and the functions whose (inclusive) time they are
_clock = defaultdict(float)
_depth = defaultdict(int)


def _timed(cls, name, phase, static=False):
    """Wrap ``cls.name`` to add its inclusive time to ``_clock[phase]`` (outermost call only)."""
    original = getattr(cls, name)

    def wrapper(*args, **kwargs):
        if _depth[phase]:
            return original(*args, **kwargs)
        _depth[phase] += 1
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _clock[phase] += time.perf_counter() - t
            _depth[phase] -= 1

    setattr(cls, name, staticmethod(wrapper) if static else wrapper)


_timed(Stepper, "advance", "steps")
_timed(TwoPointFriction, "refresh", "evaluations")
_timed(_SNESContext, "form_function", "residuals", static=True)
_timed(_SNESContext, "form_jacobian", "jacobians", static=True)
_timed(DiagonalScaledLU, "setUp", "linear solves")
_timed(DiagonalScaledLU, "apply", "linear solves")


def build(case, path):
    c = CASES[case]
    p = PATHS[path]
    model = Landau(velocity_box(c["dim"], c["radius"], c["cells"]), gamma=-3.0, C=1.0, rule=p["rule"])
    model.pairs.merge_coincident = p["merge"]
    f0 = sum(model.maxwellian(*beam) for beam in c["beams"])
    return model, f0


def final_density(model, w):
    """``F(w)`` projected onto ``DQ2`` (a common space for comparing the paths)."""
    return fd.Function(fd.FunctionSpace(model.mesh, "DQ", 2)).project(model.density(w))


def one(case, path, dt_factor=1.0):
    c = CASES[case]
    model, f0 = build(case, path)
    comm = model.mesh.comm
    _clock.clear()
    comm.Barrier()
    t0 = time.perf_counter()
    h = run(model, f0, t_end=c["steps"] * c["dt"], dt=c["dt"] * dt_factor, **PATHS[path]["options"])
    comm.Barrier()
    wall = time.perf_counter() - t0
    n = len(h) - 1
    evals = model.pairs.passes()
    pairs = comm.allreduce(model.pairs.stats["pairs"]) / max(evals, 1)
    split = dict(_clock)
    inside = split.get("evaluations", 0.0)
    assembly = split.get("residuals", 0.0) + split.get("jacobians", 0.0) - inside
    solves = split.get("linear solves", 0.0)
    steps = comm.allreduce(split["steps"], op=MPI.MAX)   # (the same row chosen on every rank)
    rest = steps - inside - assembly - solves
    row = dict(case=case, path=path, steps=n, wall=steps, its=sum(h.column("snes_its")[1:]) / n,
               evals=evals / n, pairs=pairs, t_eval=inside / max(evals, 1), outside=wall - steps,
               split={"operator evaluations": inside, "assembly": assembly, "linear solves": solves, "rest": rest},
               model=model, w=h.stepper.w,
               drift=max(np.max(np.abs(np.array(h.column(k)) - h.column(k)[0]))
                         for k in ("mass", "energy")) / h.column("mass")[0],
               monotone=bool(np.all(np.diff(h.column("H")) <= 0)))
    return row


def report(row):
    n, wall = row["steps"], row["wall"]
    parts = ", ".join(f"{k} {v / n * 1e3:.1f} ms ({100 * v / wall:.0f}%)" for k, v in row["split"].items())
    fd.PETSc.Sys.Print(
        f"{row['case']} {row['path']:3s}: {n} steps, {row['its']:.1f} Newton iterations and {row['evals']:.1f} "
        f"operator evaluations per step, {row['pairs']:.3e} pairs and {row['t_eval'] * 1e3:.2f} ms per evaluation; "
        f"{wall / n * 1e3:.1f} ms per step ({wall:.2f} s in the steps, {row['outside']:.2f} s for the set-up "
        f"and per-step diagnostics of run); per step: {parts}; invariant drift {row['drift']:.1e}, "
        f"H non-increasing: {row['monotone']}", flush=True)


def distance(a, b):
    """Relative L2 distance of the final densities of two rows: each projected onto
    ``DQ2`` on its own mesh (the meshes are the same box, built the same way, so the
    dof vectors line up) and compared on the first."""
    fa = final_density(a["model"], a["w"])
    fb = fd.Function(fa.function_space())
    fb.dat.data[:] = final_density(b["model"], b["w"]).dat.data_ro
    return np.sqrt(fd.assemble((fa - fb) ** 2 * fd.dx) / fd.assemble(fa ** 2 * fd.dx))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=list(CASES) + ["all"], default="all")
    p.add_argument("--repeat", type=int, default=3,
                   help="timed runs per path, interleaved; the fastest is reported (default 3)")
    args, _ = p.parse_known_args()
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    cases = list(CASES) if args.case == "all" else [args.case]
    comm = fd.COMM_WORLD
    fd.PETSc.Sys.Print(f"{comm.size} rank(s)")
    for case in cases:
        for path in PATHS:   # compile everything once, untimed
            one(case, path)
        rows = {}
        for _ in range(args.repeat):   # the fastest of the repeats: the machines are noisy
            for path in PATHS:
                row = one(case, path)
                if path not in rows or row["wall"] < rows[path]["wall"]:
                    rows[path] = row
        for row in rows.values():
            report(row)
        old, tight, new = rows["old"], rows["tight"], rows["new"]
        half = one(case, "new", dt_factor=0.5)
        for ref, name in ((old, "old"), (tight, "tight")):
            fd.PETSc.Sys.Print(
                f"{case}: new path against the {name} one: {ref['wall'] / new['wall']:.1f}x less time and "
                f"{ref['evals'] / new['evals']:.1f}x fewer operator evaluations per step", flush=True)
        fd.PETSc.Sys.Print(
            f"{case}: relative L2 distance of the final states: new to tight {distance(new, tight):.2e} (the "
            f"looser solves), new to new with dt/2 {distance(new, half):.2e} (the time-discretisation error), "
            f"old to tight {distance(old, tight):.2e} (the quadrature rule)", flush=True)


if __name__ == "__main__":
    main()
