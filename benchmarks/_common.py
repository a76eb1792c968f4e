"""Helpers shared by the benchmarks: timing on all ranks, and running a benchmark on 1 and
2 ranks to compare."""
import json
import os
import subprocess
import sys
import time


def min_time(fn, repeat, comm, before=None):
    """The minimum over ``repeat`` runs of ``fn()`` (between barriers, so the slowest rank
    counts); ``before()`` runs untimed ahead of each one."""
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        comm.Barrier()
        t = time.perf_counter()
        fn()
        comm.Barrier()
        times.append(time.perf_counter() - t)
    return min(times)


def rows_on_ranks(script, ranks=(1, 2)):
    """``{n: rows}``: ``script`` (this benchmark) run with ``mpiexec -n n`` and the current
    arguments less ``--compare``, its rows read back from ``--json``."""
    argv = [a for a in sys.argv[1:] if a != "--compare"]
    results = {}
    for n in ranks:
        out = os.path.join("/tmp", f"{os.path.basename(script)}_{os.getpid()}_{n}.json")
        subprocess.run(["mpiexec", "-n", str(n), sys.executable, os.path.abspath(script), *argv, "--json", out],
                       check=True)
        with open(out) as fh:
            results[n] = json.load(fh)
        os.remove(out)
    return results


def write_rows(rows, path, comm):
    """Rank 0 writes ``rows`` as JSON to ``path`` (if given)."""
    if path and comm.rank == 0:
        with open(path, "w") as fh:
            json.dump(rows, fh)


def operator_time(op, f, g, repeat, comm):
    """``(t, pairs)``: the minimum time of one full evaluation of the two-point operator
    ``op`` at ``(f, g)`` (the skip of an unchanged input defeated) and the pair
    interactions it did, summed over ranks."""
    op.refresh(f, g)        # compile / build everything once
    count = {}

    def force():
        op._entry(f, g).last_input = None
        count["before"] = op.stats["pairs"]
    t = min_time(lambda: op.refresh(f, g), repeat, comm, before=force)
    return t, comm.allreduce(op.stats["pairs"] - count["before"])


def picard_time(model, f0, repeat, comm):
    """The minimum time of one Picard iteration of a backward-Euler step from ``f0``
    (residual, Jacobian, factorisation, solve)."""
    from generic_fem import Stepper
    st = Stepper(model, f0, dt=0.1, solver_parameters={"snes_max_it": 1}, max_rejections=0)
    return min_time(st._solve_once, repeat, comm, before=lambda: st.z_w.assign(st.w))
