"""Time per evaluation of the 3D Coulomb pair sums: direct against the FFT convolution on
the lattice (:class:`generic_fem.kernels.lattice_sums.LatticeSums`) and the fast multipole
method (:class:`generic_fem.kernels.fmm_sums.FMMSums`), for ``N`` points from 10³ up.

The points are the ``N = (2n + 1)³`` nodes of a Q2 box with ``n³`` cells (the nodal rule's
points, one per distinct position), ``[−4, 4]³``; one evaluation is the sums ``(Ĝ, Ĵ)`` of
:meth:`~generic_fem.kernels.pair_summation.PairSummation.sums` with random positive
coefficients (what one refresh of the Landau operator computes); the lattice column
is one evaluation after the first (which also transforms the kernel: "lattice, first").
The direct sums are timed up to ``--direct-max`` points and extrapolated as ``N²`` beyond
(marked ``~``); the FMM up to ``--fmm-max``.  Prints the times, the slopes of ``log t``
against ``log N`` and the crossovers.

    ./gfem run python benchmarks/fmm_landau.py                      # up to 3·10⁵ points (~6 min)
    ./gfem run python benchmarks/fmm_landau.py --sizes 5 8 12 17 25 34 50 --fmm-max 0   # lattice to 10⁶
"""
import argparse
import os
import sys
import time

import numpy as np
from mpi4py import MPI

from generic_fem.kernels.fmm_sums import FMMSums
from generic_fem.kernels.lattice_sums import LatticeSums
from generic_fem.kernels.pair_summation import DistinctPositionSums
from generic_fem.kernels.pair_weights import PairWeight

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_name  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--sizes", type=int, nargs="*", default=[5, 8, 12, 17, 25, 34],
                    help="cells per axis n (N = (2n+1)^3 points)")
parser.add_argument("--tolerances", type=float, nargs="*", default=[1e-6, 1e-10])
parser.add_argument("--direct-max", type=int, default=40000, help="time the direct sums up to this N")
parser.add_argument("--fmm-max", type=int, default=400000, help="time the FMM up to this N")
parser.add_argument("--species", type=int, default=1, choices=(1, 2))
args = parser.parse_args()


weight = PairWeight.power(-3.0)
gather = lambda a: a      # noqa: E731 (one rank)
rng = np.random.default_rng(0)
print(f"3D Coulomb pair sums per evaluation, one rank ({cpu_name()}), {args.species} species")
print(f"{'N':>9} {'direct (s)':>12} {'lattice, first':>15} {'lattice (s)':>12}" + "".join(f" {'FMM ' + format(t, 'g') + ' (s)':>16}" for t in args.tolerances))
rows = []
rate = None
for n in args.sizes:
    g = np.linspace(-4.0, 4.0, 2 * n + 1)
    pts = np.array(np.meshgrid(g, g, g, indexing="ij")).reshape(3, -1).T.copy()
    N = len(pts)
    sets = [pts] if args.species == 1 else [pts, 0.5 * pts]
    k = len(sets)
    coeff = rng.uniform(0.1, 1.0, size=(k, N))
    t_vec, g_vec = rng.normal(size=(k, N, 3)), rng.normal(size=(k, N, 3))
    coupling = np.ones((k, k)) if k == 1 else np.array([[1.0, 0.7], [0.7, 2.0]])
    if N <= args.direct_max or rate is None:
        d = DistinctPositionSums(sets, weight, gather, MPI.COMM_SELF, {"pairs": 0})
        t0 = time.perf_counter()
        d.sums(t_vec, coeff, g_vec, coupling)
        td = time.perf_counter() - t0
        rate = (k * N) ** 2 / td
        direct = f"{td:12.3f}"
    else:
        td = (k * N) ** 2 / rate
        direct = f"{'~' + format(td, '.3g'):>12}"
    lat = LatticeSums(sets, weight, gather, MPI.COMM_SELF, {"pairs": 0})
    t0 = time.perf_counter()
    lat.sums(t_vec, coeff, g_vec, coupling)
    t1 = time.perf_counter()
    lat.sums(t_vec, coeff, g_vec, coupling)
    tl = time.perf_counter() - t1
    tf = []
    for tol in args.tolerances:
        if N > args.fmm_max:
            tf.append(float("nan"))
            continue
        f = FMMSums(sets, weight, gather, MPI.COMM_SELF, {"pairs": 0}, tol)
        t0f = time.perf_counter()
        f.sums(t_vec, coeff, g_vec, coupling)
        tf.append(time.perf_counter() - t0f)
    rows.append((N, td, tf, tl))
    print(f"{N:9d} {direct} {t1 - t0:15.3f} {tl:12.3f}" + "".join(f" {t:16.3f}" for t in tf), flush=True)

N = np.array([r[0] for r in rows], dtype=float)
big = N >= 1e4
if big.sum() >= 2:
    tl = np.array([r[3] for r in rows])
    slope = np.polyfit(np.log(N[big]), np.log(tl[big]), 1)[0]
    print(f"lattice: slope {slope:.2f} over N >= 1e4 (workers: {lat.workers} FFT threads)")
    for j, tol in enumerate(args.tolerances):
        tf = np.array([r[2][j] for r in rows])
        if not np.all(np.isfinite(tf[big])):
            continue
        slope = np.polyfit(np.log(N[big]), np.log(tf[big]), 1)[0]
        faster = [r[0] for r in rows if r[2][j] < r[1]]
        print(f"FMM {tol:g}: slope {slope:.2f} over N >= 1e4; faster than direct from N = "
              + (f"{min(faster)}" if faster else "nowhere in this range"))
print(f"direct: {rate:.3g} pairs/s (slope 2)")
