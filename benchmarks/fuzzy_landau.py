"""Benchmark: the fuzzy Landau operator (1x2v phase space) versus the number of points.

For each mesh ``(n_x, n_v)`` (``n_x`` cells in ``x``, ``n_v²`` in ``v``; Q2, 4 Gauss points
per direction and cell, so ``N_x = 4 n_x`` x-values and ``N_v = 16 n_v²`` v-points) it times

* one operator evaluation (``TwoPointFriction.refresh``: point values, gather, the
  ``x``-convolution ``κ * (ω f)``, the compiled pair sums), with the pair interactions it
  did (``N_x N_v²``) beside the ``(N_x N_v)²`` a naive double sum over phase space would do;
* one Picard iteration of a backward-Euler step (residual, Jacobian, MUMPS solve).

``γ = 0`` uses the moment reduction: ``O(N_x N_v)`` plus the convolution.  Run::

    ./gfem run python benchmarks/fuzzy_landau.py --compare            # 1 and 2 ranks
    ./gfem run python benchmarks/fuzzy_landau.py --gamma 0 --compare

Timings are the minimum over ``--repeat`` runs; name the CPU beside a figure.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from _common import operator_time, picard_time, rows_on_ranks, benchmark_main, print_speedups  # noqa: E402

SIZES = [(4, 4), (8, 6), (16, 8), (16, 12)]


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gamma", type=float, default=-3.0)
    p.add_argument("--sizes", type=str, default=None, help="e.g. 8x6,16x8 (n_x x n_v cells)")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--step-max", type=int, default=60000, help="largest N_x N_v for the Picard timing")
    p.add_argument("--compare", action="store_true")
    p.add_argument("--json")
    return p.parse_known_args()[0]


def measure(args):
    import numpy as np
    import ufl
    from mpi4py import MPI
    from generic_fem import phase_space_box
    from forms.fuzzy_landau import FuzzyLandau, seed003_kappa

    comm = MPI.COMM_WORLD
    sizes = [tuple(int(a) for a in s.split("x")) for s in args.sizes.split(",")] if args.sizes else SIZES
    rows = []
    for nx, nv in sizes:
        ell = 2 * np.pi
        model = FuzzyLandau(phase_space_box(nx, nv, ell, 4.0), ell, kappa=seed003_kappa(1.0, 1.0), gamma=args.gamma)
        x = model.x
        f0 = model.maxwellian(1.0 + 0.3 * ufl.cos(x), (0.8, 0.0), 0.6) + model.maxwellian(0.6, (-1.0, 0.4), 0.8)
        w = model.state_from_density(f0)
        f = model.density(w)
        P = model.pairs
        t_eval, pairs = operator_time(P, f, w, args.repeat, comm)
        Nx, Nv = len(P.x_values), len(P.v_points)
        row = {"nx": nx, "nv": nv, "N_x": Nx, "N_v": Nv, "points": Nx * Nv, "ranks": comm.size,
               "t_eval": t_eval, "pairs": pairs, "naive_pairs": float(Nx * Nv) ** 2}
        if Nx * Nv <= args.step_max:
            row["t_picard_iteration"] = picard_time(model, f0, args.repeat, comm)
        rows.append(row)
        if comm.rank == 0:
            msg = (f"gamma={args.gamma:g} ranks={comm.size} N_x={Nx:4d} N_v={Nv:5d} points={Nx * Nv:7d}: "
                   f"operator {row['t_eval'] * 1e3:9.2f} ms, pairs {pairs:.3e} (naive {row['naive_pairs']:.3e})")
            if "t_picard_iteration" in row:
                msg += f", Picard iteration {row['t_picard_iteration'] * 1e3:9.2f} ms"
            print(msg, flush=True)
    return rows


def compare(args):
    print_speedups(rows_on_ranks(__file__), f"gamma={args.gamma:g}", "points", "points")


if __name__ == "__main__":
    benchmark_main(parse, measure, compare)
