"""Side by side with PETSc's Landau collision operator (``DMPlexLandau``, its ``ex2``).

The problem, in PETSc's normalised units (velocities in ``v_0 = sqrt(kT_e/m_e)``, time
in the ``t_0`` that makes ``ν_ee = 1``, which is our Landau model with ``C = 1``): one
species (electrons), Coulomb collisions (``γ = −3``) in axisymmetric velocity space
``(v_⊥, v_∥)``, two Maxwellians of unit density and ``T = 1``, one at rest and one
drifting along ``v_∥`` with ``u = 1.25`` (``ex2``'s ``-dm_landau_electron_shift``), on
the half-plane of radius 5 (PETSc's default domain), ``Q3`` elements, backward Euler,
``Δt = 0.1``, ``--steps`` steps.

* PETSc: ``ex2`` of ``src/ts/utils/dmplexlandau/tutorials``, built here from the PETSc
  tree the set-up installed (into ``~/.cache/generic-fem/``), on the CPU
  (``-dm_landau_device_type cpu``), ``-dm_refine k`` (``8·4^(k−1)`` cells of 16 Gauss
  points), its Newton iteration (the full Landau Jacobian every iteration, LU), SNES
  tolerances ``1e-12``.  The "Landau Jacobian" event of ``-log_view`` (Solve stage) is
  one operator evaluation (the ``O(N_q²)`` sums and the matrix).
* Ours: :class:`forms.landau.Landau` on :func:`generic_fem.velocity_half_plane` with
  ``a × 2a`` cells, ``a`` chosen so that the distinct nodal points (the nodal rule's
  points, ``(3a+1)(6a+1)``) are as many as PETSc's Gauss points; default solver
  settings.  One operator evaluation is one refresh of the two-point coefficients (the
  pair sums over distinct points).

Printed for each mesh and rank count: the integration points ``N``, the time per
operator evaluation, per step, Newton iterations and operator evaluations per step,
the largest relative drift of mass, momentum (relative to the mass) and energy,
whether ``H`` decreased every step, and the smallest ``f`` at the nodes.  PETSc's ``H``
is ``Σ_i m_i f_i log f_i`` with ``m_i`` the row sums of its mass matrix
(``-dm_landau_mass_view``) and its nodal values (``-ts_monitor_solution``), 1 rank
only (its time stepper lives on ``PETSC_COMM_SELF``: on 2 ranks each rank solves the
whole problem, and only its timings are read).

    ./gfem run python benchmarks/petsc_landau.py                  # -dm_refine 2 3, 1 and 2 ranks
    ./gfem run python benchmarks/petsc_landau.py --refine 2 3 4 --steps 5
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from _common import cpu_name  # noqa: E402

RADIUS, SHIFT, DEGREE = 5.0, 1.25, 3


# ----------------------------------------------------------------------------- PETSc
def build_ex2():
    """The path of ``ex2`` built from ``$PETSC_DIR`` (cached by the PETSc tree's path)."""
    petsc_dir, arch = os.environ.get("PETSC_DIR"), os.environ.get("PETSC_ARCH", "")
    if not petsc_dir:
        sys.exit("PETSC_DIR is not set: run through ./gfem run (the toolkit's environment)")
    src = os.path.join(petsc_dir, "src", "ts", "utils", "dmplexlandau", "tutorials", "ex2.c")
    if not os.path.exists(src):
        sys.exit(f"PETSc's Landau example is not in this PETSc tree: {src}")
    key = hashlib.sha1(f"{petsc_dir}:{arch}:{os.path.getmtime(src)}".encode()).hexdigest()[:12]
    where = os.path.join(os.path.expanduser("~"), ".cache", "generic-fem", f"petsc-landau-ex2-{key}")
    exe = os.path.join(where, "ex2")
    if os.path.exists(exe):
        return exe
    os.makedirs(where, exist_ok=True)
    shutil.copy(src, where)
    with open(os.path.join(where, "makefile"), "w") as fh:
        fh.write("include ${PETSC_DIR}/lib/petsc/conf/variables\ninclude ${PETSC_DIR}/lib/petsc/conf/rules\n"
                 "ex2: ex2.o\n\t${CLINKER} -o ex2 ex2.o ${PETSC_LIB}\n")
    print(f"building PETSc's ex2 in {where} ...", flush=True)
    subprocess.run(["make", "ex2"], cwd=where, check=True, stdout=subprocess.DEVNULL)
    return exe


def petsc_options(refine, steps, dt):
    return (f"-dm_refine {refine} -dm_landau_num_species_grid 1 -dm_landau_thermal_temps 1 "
            f"-dm_landau_electron_shift {SHIFT} -dm_landau_domain_radius {RADIUS} -petscspace_degree {DEGREE} "
            f"-dm_landau_device_type cpu -dm_landau_verbose 2 -ex2_plot_dt {dt} -ex2_print_period 1 "
            f"-ts_type beuler -ts_time_step {dt} -ts_max_steps {steps} -ts_max_time 1e6 "
            "-snes_rtol 1e-12 -snes_stol 1e-12 -snes_converged_reason -ksp_type preonly -pc_type lu "
            "-log_view").split()


def _event(log, stage, name):
    """``(count, seconds)`` of event ``name`` in log-view stage ``stage``."""
    part = log.split(f"--- Event Stage {stage}")[1].split("--- Event Stage")[0]
    m = re.search(rf"^{re.escape(name)}\s+(\d+)\s+\S+\s+(\S+)", part, re.M)
    return (int(m.group(1)), float(m.group(2))) if m else (0, 0.0)


def _petsc_binary(path):
    """The objects of a PETSc binary file (big-endian): Vecs as arrays, AIJ Mats as
    ``(row_lengths, columns, values)``; read here, not with petsc4py (which would start
    MPI in this process, and ``mpiexec`` can not be run from an MPI process)."""
    data = open(path, "rb").read()
    pos, out = 0, []
    # (32-bit PetscInt and real scalars, as this PETSc build has: a 64-bit-index build
    # would misparse, which the end-of-file check below catches)
    while pos < len(data):
        classid = int(np.frombuffer(data, ">i4", 1, pos)[0])
        if classid == 1211214:                      # Vec
            n = int(np.frombuffer(data, ">i4", 1, pos + 4)[0])
            out.append(np.frombuffer(data, ">f8", n, pos + 8).copy())
            pos += 8 + 8 * n
        elif classid == 1211216:                    # Mat (AIJ)
            m, _, nz = (int(x) for x in np.frombuffer(data, ">i4", 3, pos + 4))
            rows = np.frombuffer(data, ">i4", m, pos + 16)
            cols = np.frombuffer(data, ">i4", nz, pos + 16 + 4 * m)
            vals = np.frombuffer(data, ">f8", nz, pos + 16 + 4 * m + 4 * nz)
            out.append((rows.copy(), cols.copy(), vals.copy()))
            pos += 16 + 4 * m + 12 * nz
        else:
            raise ValueError(f"{path}: unknown PETSc class id {classid} at byte {pos} (64-bit PetscInt?)")
    if pos != len(data):
        raise ValueError(f"{path}: read {pos} of {len(data)} bytes (64-bit PetscInt or complex scalars?)")
    return out


def run_petsc(exe, refine, steps, dt, ranks):
    with tempfile.TemporaryDirectory() as tmp:
        opts = petsc_options(refine, steps, dt)
        if ranks == 1:
            opts += ["-ts_monitor_solution", f"binary:{tmp}/f.bin",
                     "-dm_landau_mass_view", f"binary:{tmp}/mass.bin"]
        cmd = ([exe] if ranks == 1 else ["mpiexec", "-n", str(ranks), exe]) + opts
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"ex2 failed ({out.returncode}): {out.stderr[-2000:]}")
        log = out.stdout
        n_ip = int(re.search(r"FormLandau (\d+) IPs", log).group(1))
        cells = int(re.search(r"IPs, (\d+) cells", log).group(1))
        moments = [tuple(map(float, m)) for m in re.findall(
            r"species-0: charge density=\s*(\S+)\s+z-momentum=\s*(\S+)\s+energy=\s*(\S+)", log)][-(steps + 1):]
        its = [int(m) for m in re.findall(r"Nonlinear solve converged due to \S+ iterations (\d+)", log)][-steps:]
        diverged = "DIVERGED" in log
        n_jac, t_jac = _event(log, 2, "Landau Jacobian")
        _, t_step = _event(log, 2, "TSStep")
        row = {"code": "PETSc ex2", "ranks": ranks, "N": n_ip, "cells": cells, "wall": wall,
               "t_eval": t_jac / max(n_jac, 1), "t_step": t_step / steps,
               "its": np.mean(its) if its else np.nan, "evals": n_jac / steps, "failed": diverged}
        m = np.array(moments)
        if len(m) == steps + 1:
            row["drift"] = (np.max(np.abs(m[:, 0] - m[0, 0])) / abs(m[0, 0]),
                            np.max(np.abs(m[:, 1] - m[0, 1])) / abs(m[0, 0]),
                            np.max(np.abs(m[:, 2] - m[0, 2])) / abs(m[0, 2]))
        if ranks == 1:
            rows, _, vals = _petsc_binary(f"{tmp}/mass.bin")[0]
            wts = np.add.reduceat(vals, np.concatenate([[0], np.cumsum(rows)[:-1]]))   # row sums
            fs = _petsc_binary(f"{tmp}/f.bin")[-(steps + 1):]
            row["min_f"] = min(float(f.min()) for f in fs)
            if row["min_f"] > 0:
                H = [float(np.sum(wts * f * np.log(f))) for f in fs]
                row["H_decreases"] = bool(np.all(np.diff(H) <= 0))
            else:
                row["H_decreases"] = None      # log f undefined
        return row


# ----------------------------------------------------------------------------- ours
def cells_for(n_points):
    """``a`` whose ``a × 2a`` ``Q3`` half-plane has about ``n_points`` distinct nodes."""
    return min(range(1, 80), key=lambda a: abs((3 * a + 1) * (6 * a + 1) - n_points))


def run_ours(a, steps, dt, repeat=3):
    import firedrake as fd
    from mpi4py import MPI
    from generic_fem import Stepper, velocity_half_plane
    from forms.landau import Landau
    from _common import operator_time

    comm = MPI.COMM_WORLD
    model = Landau(velocity_half_plane(RADIUS, RADIUS, a, 2 * a), gamma=-3.0, C=1.0, degree=DEGREE)
    f0 = model.maxwellian(1.0, (0.0, 0.0), 1.0) + model.maxwellian(1.0, (0.0, SHIFT), 1.0)
    Stepper(model, f0, dt=dt).advance()              # compile everything once
    st = Stepper(model, f0, dt=dt)
    op = model.friction_operators()[0]
    passes0 = op.passes()
    v_perp, v_par = model.coordinates
    forms = [model.density(st.w) * model.dx, v_par * model.density(st.w) * model.dx,
             model.speed2 * model.density(st.w) * model.dx]
    moments, H, its, min_f = [], [], [], np.inf
    Hform = -model.S(model.density(st.w))

    def record():
        nonlocal min_f
        moments.append([fd.assemble(f) for f in forms])
        H.append(fd.assemble(Hform))
        fn = fd.Function(model.V).interpolate(model.density(st.w)).dat.data_ro
        min_f = min(min_f, comm.allreduce(float(fn.min()) if fn.size else np.inf, op=MPI.MIN))
    record()
    comm.Barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        its.append(st.advance()["snes_its"])
        comm.Barrier()
        t_step = time.perf_counter()
        record()
        t0 += time.perf_counter() - t_step            # (diagnostics untimed)
    elapsed = time.perf_counter() - t0
    evals = (op.passes() - passes0) / steps
    f, g = st.problem.nonlocal_pairs[0]
    t_eval, pairs = operator_time(op, f, g, repeat, comm)
    m = np.array(moments)
    # (the pair sums run over distinct points: N² pairs for N distinct nodal points)
    return {"code": "generic-fem", "ranks": comm.size, "N": int(round(np.sqrt(pairs))), "cells": 2 * a * a,
            "t_eval": t_eval, "t_step": elapsed / steps, "its": float(np.mean(its)), "evals": evals,
            "failed": False,
            "drift": (np.max(np.abs(m[:, 0] - m[0, 0])) / m[0, 0], np.max(np.abs(m[:, 1] - m[0, 1])) / m[0, 0],
                      np.max(np.abs(m[:, 2] - m[0, 2])) / m[0, 2]),
            "min_f": min_f, "H_decreases": bool(np.all(np.diff(H) <= 0))}


# ----------------------------------------------------------------------------- table
def fmt(row):
    d = row.get("drift")
    drift = " ".join(f"{x:8.1e}" for x in d) if d else f"{'-':>8} {'-':>8} {'-':>8}"
    hd = {True: "yes", False: "NO", None: "undef."}.get(row.get("H_decreases", "-"), "-")
    mf = f"{row['min_f']:10.2e}" if "min_f" in row else f"{'-':>10}"
    return (f"{row['code']:12s} {row['ranks']:5d} {row['cells']:6d} {row['N']:6d} {row['t_eval'] * 1e3:10.2f} "
            f"{row['t_step']:8.3f} {row['its']:6.1f} {row['evals']:6.1f} {drift} {hd:>7} {mf}"
            + ("  (failed)" if row.get("failed") else ""))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--refine", nargs="*", type=int, default=[2, 3], help="PETSc's -dm_refine levels")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--dt", type=float, default=0.1)
    p.add_argument("--ranks", nargs="*", type=int, default=[1, 2])
    p.add_argument("--ours-only", type=int, default=None, help=argparse.SUPPRESS)   # (a, run under mpiexec)
    p.add_argument("--json", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.ours_only is not None:
        import json
        from mpi4py import MPI
        row = run_ours(args.ours_only, args.steps, args.dt)
        if MPI.COMM_WORLD.rank == 0:
            with open(args.json, "w") as fh:
                json.dump(row, fh)
        return
    import json
    exe = build_ex2()
    print(f"CPU: {cpu_name()}; Landau gamma = -3, axisymmetric, Q{DEGREE}, R = {RADIUS}, two Maxwellians "
          f"(shift {SHIFT}), backward Euler dt = {args.dt}, {args.steps} steps")
    print(f"{'code':12s} {'ranks':>5} {'cells':>6} {'N':>6} {'eval [ms]':>10} {'step [s]':>8} {'its':>6} "
          f"{'evals':>6} {'mass':>8} {'mom.':>8} {'energy':>8} {'H decr':>7} {'min f':>10}")
    rows = []
    for k in args.refine:
        for n in args.ranks:
            row = run_petsc(exe, k, args.steps, args.dt, n)
            rows.append(row)
            print(fmt(row), flush=True)
        a = cells_for(rows[-1]["N"])
        for n in args.ranks:
            out = os.path.join(tempfile.gettempdir(), f"petsc_landau_{os.getpid()}_{n}.json")
            subprocess.run(["mpiexec", "-n", str(n), sys.executable, os.path.abspath(__file__), "--ours-only", str(a),
                            "--steps", str(args.steps), "--dt", str(args.dt), "--json", out], check=True)
            with open(out) as fh:
                row = json.load(fh)
            os.remove(out)
            rows.append(row)
            print(fmt(row), flush=True)
    print("\neval: one operator evaluation (PETSc: its 'Landau Jacobian' event; ours: the pair sums); "
          "its/evals: per step; drifts relative to the initial mass (energy: to itself)")
    for k in range(0, len(rows), 2 * len(args.ranks)):
        group = rows[k:k + 2 * len(args.ranks)]
        pe = [r for r in group if r["code"] != "generic-fem"]
        us = [r for r in group if r["code"] == "generic-fem"]
        if pe and us:
            print(f"N = {pe[0]['N']} (PETSc) / {us[0]['N']} (ours): per evaluation ours is "
                  f"{pe[0]['t_eval'] / us[0]['t_eval']:.1f}x faster on 1 rank, "
                  f"{pe[0]['t_eval'] / us[0]['t_eval'] * (us[0]['N'] / pe[0]['N']) ** 2:.1f}x per pair; "
                  + (f"2 ranks over 1: PETSc {pe[0]['t_eval'] / pe[1]['t_eval']:.2f}x, ours "
                     f"{us[0]['t_eval'] / us[1]['t_eval']:.2f}x" if len(pe) > 1 and len(us) > 1 else ""))


if __name__ == "__main__":
    main()
