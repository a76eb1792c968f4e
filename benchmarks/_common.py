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
        op.coefficient_set(f, g).last_input = None
        count["before"] = op.stats["pairs"]
    t = min_time(lambda: op.refresh(f, g), repeat, comm, before=force)
    return t, comm.allreduce(op.stats["pairs"] - count["before"])


def picard_time(model, f0, repeat, comm):
    """The minimum time of one Picard iteration of a backward-Euler step from ``f0``
    (residual, Jacobian, factorisation, solve)."""
    from generic_fem import Stepper
    st = Stepper(model, f0, dt=0.1, solver_parameters={"snes_max_it": 1}, max_rejections=0)
    return min_time(st.step_solver.solve, repeat, comm, before=lambda: st.z_w.assign(st.w))


def benchmark_main(parse, measure, compare):
    """The benchmarks' entry point: ``--compare`` runs the benchmark on 1 and 2 ranks and
    prints ``compare(args)``; otherwise it measures and writes its rows to ``--json``."""
    args = parse()
    if args.compare:
        compare(args)
    else:
        rows = measure(args)
        from mpi4py import MPI
        write_rows(rows, args.json, MPI.COMM_WORLD)


def print_speedups(results, title, size_key, size_label):
    """The 2-rank over 1-rank table of operator times (``t_eval``) and, where both rows
    have it, of a Picard iteration (``t_picard_iteration``)."""
    print(f"\nspeed-up of 2 ranks over 1 ({title}):")
    print(f"{size_label:>8} {'t1 [ms]':>10} {'t2 [ms]':>10} {'speed-up':>9} {'Picard 1/2':>11}")
    for r1, r2 in zip(results[1], results[2]):
        p = (f"{r1['t_picard_iteration'] / r2['t_picard_iteration']:11.2f}"
             if "t_picard_iteration" in r1 and "t_picard_iteration" in r2 else f"{'-':>11}")
        print(f"{r1[size_key]:8d} {r1['t_eval'] * 1e3:10.2f} {r2['t_eval'] * 1e3:10.2f} "
              f"{r1['t_eval'] / r2['t_eval']:9.2f} {p}")


def cpu_name():
    """The CPU model (``/proc/cpuinfo``), to print beside timings."""
    import platform
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
