"""Benchmark: the generalised two-point operator (several point sets, kernels in UFL).

One operator evaluation (``TwoPointFriction.refresh``: point values, ``MPI_Allgatherv``,
the compiled pair sums) on one velocity mesh, for

* ``single``: one species, ``A = r^{γ+2}`` (the Landau model's path);
* ``species``: two species (masses 1 and 1836 on scaled meshes, ``c_ij`` all 1):
  ``(2 N_q)²`` pairs, half of them cross-species;
* ``ufl``: one species with the same ``A`` written so that it is *not* recognised as
  a power (``(1/r)·1`` for ``γ = −3``, ``exp((γ+2) log r)`` otherwise): the generic C
  translation of the UFL expression against the hand-written ``sqrt`` forms;
* ``screened``: the exponentially cut-off Coulomb weight ``exp(−r/λ)/r`` (``exp`` per pair).

It prints the pair interactions per second per core ``pairs/(t · ranks)`` and their
ratio to ``single``.  With ``--compare`` it runs itself on 1 and 2 ranks and prints the
speed-up per case::

    ./gfem run python benchmarks/two_point_operators.py --cells 40 --compare

(``--cells 40``: ``N_q = 14 400`` points per species in 2D, ``2.9·10⁴`` points in the
two-species case.)  Timings are the minimum over ``--repeat`` runs; name the CPU beside
any figure you quote (the machines differ).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from _common import operator_time, rows_on_ranks, benchmark_main  # noqa: E402

CASES = ("single", "species", "ufl", "screened")


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=2)
    p.add_argument("--gamma", type=float, default=-3.0)
    p.add_argument("--cells", type=int, default=24, help="cells per direction")
    p.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--compare", action="store_true", help="run on 1 and 2 ranks and print speed-ups")
    p.add_argument("--json", help="write the rows to this file (rank 0)")
    return p.parse_known_args()[0]


def build(case, mesh, gamma):
    import numpy as np
    import ufl
    from generic_fem.kernels.pair_weights import PairWeight
    from forms.landau import Landau
    from forms.multispecies_landau import MultispeciesLandau
    if case == "species":
        model = MultispeciesLandau(mesh, masses=[1.0, 1836.0], gamma=gamma, scales=[1.0, 1836.0 ** -0.5])
        f0 = ufl.as_vector([model.maxwellian(0, 1.0, None, 1.0), model.maxwellian(1, 1.0, None, 0.5)])
        return model, f0
    if case == "single":
        weight = PairWeight.power(gamma)
    elif case == "ufl":
        e = gamma + 2.0
        weight = PairWeight((lambda r: 1.0 / r * 1.0) if e == -1.0 else (lambda r: ufl.exp(e * ufl.ln(r))),
                            name=f"r^{e:g} (generic C)")
        assert weight.exponent is None
    else:
        weight = PairWeight(lambda r: ufl.exp(-r / 2.0) / r, name="exp(-r/2)/r")
    model = Landau(mesh, weight=weight)
    d = model.dim
    f0 = model.maxwellian(1.0, [0.5] + [0.0] * (d - 1), 1.0) + model.maxwellian(0.5, [-1.0] + [0.3] * (d - 1), 0.6)
    _ = np
    return model, f0


def measure(args):
    from mpi4py import MPI
    from generic_fem import velocity_box

    comm = MPI.COMM_WORLD
    mesh = velocity_box(args.dim, 5.0, args.cells)
    rows = []
    for case in args.cases:
        model, f0 = build(case, mesh, args.gamma)
        w = model.state_from_density(f0)
        f = model.density(w)
        pairs = model.pairs
        t_eval, npairs = operator_time(pairs, f, w, args.repeat, comm)
        row = {"case": case, "dim": args.dim, "gamma": args.gamma, "cells": args.cells, "ranks": comm.size,
               "points": pairs.n_global * pairs.n_sets, "pairs": npairs, "t_eval": t_eval,
               "pairs_per_s_per_core": npairs / (t_eval * comm.size), "weight": pairs.weight.name}
        rows.append(row)
    if comm.rank == 0:
        base = {r["case"]: r for r in rows}.get("single")
        for r in rows:
            ratio = r["pairs_per_s_per_core"] / base["pairs_per_s_per_core"] if base else float("nan")
            print(f"{r['case']:>9} ({r['weight']}): ranks={r['ranks']} points={r['points']:7d} "
                  f"pairs={r['pairs']:.3e} operator {r['t_eval'] * 1e3:9.2f} ms, "
                  f"{r['pairs_per_s_per_core']:.3e} pairs/s/core ({ratio:.2f} x single)", flush=True)
    return rows


def compare(args):
    results = rows_on_ranks(__file__)
    print(f"\nspeed-up of 2 ranks over 1 (d={args.dim}, gamma={args.gamma:g}, cells={args.cells}):")
    print(f"{'case':>9} {'points':>8} {'t1 [ms]':>10} {'t2 [ms]':>10} {'speed-up':>9}")
    for r1, r2 in zip(results[1], results[2]):
        print(f"{r1['case']:>9} {r1['points']:8d} {r1['t_eval'] * 1e3:10.2f} {r2['t_eval'] * 1e3:10.2f} "
              f"{r1['t_eval'] / r2['t_eval']:9.2f}")


if __name__ == "__main__":
    benchmark_main(parse, measure, compare)
