"""Test configuration.

mpi-pytest runs ``@pytest.mark.parallel(nprocs=N)`` tests of a serial ``pytest`` run
in a subprocess ``mpiexec -n 1 -x FLAG=1 pytest ... : -n N-1 pytest ...``.  With
Open MPI, ``-x`` sets the flag in the first application context only, so ranks ≥ 1
would believe they are an outer parallel run and collect differently.  Share the
flag across all ranks (a collective at import time, on every rank alike).
"""
import os
import sys

import pytest
from mpi4py import MPI

_FLAG = "_PYTEST_MPI_CHILD_PROCESS"
if MPI.COMM_WORLD.size > 1:
    if MPI.COMM_WORLD.allreduce(_FLAG in os.environ, op=MPI.LOR):
        os.environ[_FLAG] = "1"

# In forking mode the serial pytest process is an MPI singleton: MPI_Init has put
# Open MPI's job variables into the C-level environment, which a nested `mpiexec`
# inherits and then fails on (exit status 1, no output).  Give mpi-pytest's
# subprocess Python's own copy of the environment, which does not hold them.
import subprocess as _subprocess  # noqa: E402
import types as _types  # noqa: E402

import pytest_mpi.plugin as _plugin  # noqa: E402


def _run_with_clean_env(cmd, *args, **kwargs):
    kwargs.setdefault("env", dict(os.environ))
    return _subprocess.run(cmd, *args, **kwargs)


_plugin.subprocess = _types.SimpleNamespace(run=_run_with_clean_env)


# A parallel child process ends without PETSc's finalisation.  PetscFinalize cleans
# PETSc's deferred garbage (objects Python's collector freed on a parallel
# communicator) communicator by communicator, collectively; the collector frees in a
# different order on each rank, so one rank could wait in that clean-up on a
# communicator the other had no garbage on, while the other sat in MPI_Finalize: a
# deadlock at exit after the test had passed (seen in
# test_grazing.py::test_multispecies_pair_rates_on_two_ranks, gdb: rank 1 in
# PetscFinalize -> PetscGarbageCleanup -> MPI_Allreduce, rank 0 in MPI_Finalize).  The
# process is about to exit, so nothing needs freeing: agree on the exit status,
# finalise MPI and leave.
_exit_status = [0]


def pytest_sessionfinish(session, exitstatus):
    _exit_status[0] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if os.environ.get(_FLAG) and MPI.COMM_WORLD.size > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        status = MPI.COMM_WORLD.allreduce(_exit_status[0], op=MPI.MAX)
        MPI.Finalize()
        os._exit(status)


def pytest_configure(config):
    """pytest's own flags (``-q``, ``-x``, ``-k``) are in PETSc's options database
    (petsc4py reads the command line): remove them, or PETSc lists them as unused at
    exit in a process that builds no stepper (the parent of the parallel tests)."""
    from generic_fem import discard_foreign_options
    discard_foreign_options()
