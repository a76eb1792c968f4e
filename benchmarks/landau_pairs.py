"""Benchmark: the two-point Landau operator versus the number of quadrature points N_q.

Times, for each mesh size,

* one operator evaluation (``TwoPointFriction.refresh``: point values of ``f`` and
  ``∇w``, ``MPI_Allgatherv``, the compiled pair sums, writing ``Ĝ, Ĵ``), the pairs it
  sums (over distinct point positions: a node shared by neighbouring cells is one
  source and one target) and the pair interactions per second per core; side by side,
  the same evaluation summed over every point of every cell (``merge_coincident=False``,
  ``N_q²`` pairs) and the ratio of the two times;
* one Picard iteration of a backward-Euler step (residual with a fresh operator
  evaluation, Jacobian assembly, MUMPS solve), up to ``--step-max`` points;
* for ``γ = 0``, the moment reduction (``O(N_q)``).

Run on one rank count::

    mpiexec -n 2 python benchmarks/landau_pairs.py --dim 2 --gamma -3

or let the script run itself on 1 and 2 ranks and print the speed-up::

    python benchmarks/landau_pairs.py --dim 2 --gamma -3 --compare

(``./gfem run python benchmarks/landau_pairs.py ...`` with the toolkit's environment.)
Timings are the minimum over ``--repeat`` runs (the machines are noisy).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from _common import operator_time, picard_time, rows_on_ranks, benchmark_main, print_speedups  # noqa: E402

CELLS = {2: [8, 16, 36, 50, 80], 3: [3, 4, 7, 10, 12]}


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=2)
    p.add_argument("--gamma", type=float, default=-3.0)
    p.add_argument("--cells", type=int, nargs="*", help="cells per direction (default: N_q ~ 1e3 .. 1e5)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--step-max", type=int, default=25000, help="largest N_q for the Picard-step timing")
    p.add_argument("--compare", action="store_true", help="run on 1 and 2 ranks and print speed-ups")
    p.add_argument("--json", help="write the rows to this file (rank 0)")
    return p.parse_known_args()[0]


def measure(args):
    import numpy as np
    import firedrake as fd
    from mpi4py import MPI
    from generic_fem import velocity_box
    from forms.landau import Landau

    comm = MPI.COMM_WORLD
    rows = []
    for n in args.cells or CELLS[args.dim]:
        mesh = velocity_box(args.dim, 6.0, n)
        model = Landau(mesh, gamma=args.gamma)
        v = model.coordinates
        f0 = model.maxwellian(1.0, [1.0] + [0.0] * (args.dim - 1), 0.5) + \
            model.maxwellian(0.5, [-1.0] + [0.5] * (args.dim - 1), 0.8)
        w = model.state_from_density(f0)
        f = model.density(w)
        pairs = model.pairs
        t_eval, n_pairs = operator_time(pairs, f, w, args.repeat, comm)
        pairs.merge_coincident = False
        t_cell, n_pairs_cell = operator_time(pairs, f, w, args.repeat, comm)
        pairs.merge_coincident = True
        N = pairs.n_global
        row = {"dim": args.dim, "gamma": args.gamma, "cells": n, "N_q": N, "ranks": comm.size,
               "t_eval": t_eval, "pairs": n_pairs, "pairs_per_s_per_core": n_pairs / (t_eval * comm.size),
               "t_eval_per_cell_sums": t_cell, "pairs_per_cell_sums": n_pairs_cell}
        if N <= args.step_max:
            row["t_picard_iteration"] = picard_time(model, f0, args.repeat, comm)
        rows.append(row)
        if comm.rank == 0:
            msg = (f"d={args.dim} gamma={args.gamma:g} ranks={comm.size} N_q={N:7d}: operator "
                   f"{t_eval * 1e3:9.2f} ms ({n_pairs:.3e} pairs, {row['pairs_per_s_per_core']:.3e} "
                   f"pairs/s/core); per-cell sums {t_cell * 1e3:9.2f} ms ({n_pairs_cell:.3e} pairs): "
                   f"{t_cell / t_eval:5.1f}x")
            if "t_picard_iteration" in row:
                msg += f", Picard iteration {row['t_picard_iteration'] * 1e3:9.2f} ms"
            print(msg, flush=True)
    return rows


def compare(args):
    print_speedups(rows_on_ranks(__file__), f"d={args.dim}, gamma={args.gamma:g}", "N_q", "N_q")


if __name__ == "__main__":
    benchmark_main(parse, measure, compare)
