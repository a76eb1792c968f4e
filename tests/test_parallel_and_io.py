"""Same answers on 1 and 2 ranks; outputs (history, plot, VTK) and bit-for-bit restart."""
import os

import numpy as np
import pytest
import firedrake as fd
from mpi4py import MPI

from generic_fem import run, velocity_box, load_checkpoint, History
from generic_fem.plot import plot_history
from forms.fokker_planck import FokkerPlanck, gaussian


def relax(comm, scheme, output=None):
    mesh = velocity_box(2, 6.0, 8, comm=comm)
    model = FokkerPlanck(mesh, temperature=1.0, drift=(0.5, 0.0))
    f0 = gaussian(model.coordinates, 1.0, [-1.0, 0.5], np.array([[0.6, 0.1], [0.1, 1.5]]))
    return run(model, f0, t_end=0.5, dt=0.1, scheme=scheme, output=output)


@pytest.mark.parallel(nprocs=2)
@pytest.mark.parametrize("scheme", ["backward-euler", "minimizing-movement", "midpoint"])
def test_same_results_on_one_and_two_ranks(scheme):
    h2 = relax(MPI.COMM_WORLD, scheme)
    h1 = relax(MPI.COMM_SELF, scheme)
    for col in ("H", "S", "mass", "dissipation"):
        a, b = np.array(h1.column(col)), np.array(h2.column(col))
        ok = np.nan_to_num(np.abs(a - b) / np.maximum(np.abs(a), 1e-300)) <= 1e-10
        assert np.all(ok), (col, a, b)


def test_outputs_written(tmp_path):
    out = str(tmp_path / "run")
    mesh = velocity_box(2, 6.0, 6)
    model = FokkerPlanck(mesh)
    f0 = gaussian(model.coordinates, 1.0, [-1.0, 0.5], np.diag([0.6, 1.5]))
    h = run(model, f0, t_end=0.3, dt=0.1, output=out, vtk_every=1, progress=True)
    back = History.read_csv(os.path.join(out, "history.csv"))
    assert len(back) == len(h) == 4
    assert np.allclose(back.column("H"), h.column("H"), rtol=1e-15)
    assert os.path.exists(os.path.join(out, "history.json"))
    assert os.path.exists(os.path.join(out, "f.pvd"))
    png = plot_history(os.path.join(out, "history.csv"), os.path.join(out, "h.png"))
    assert os.path.getsize(png) > 1000


def _restart_check(tmp):
    """Run 6 steps straight, and 3 + checkpoint + 3 from the checkpoint: bit-for-bit."""
    comm = MPI.COMM_WORLD
    mesh = velocity_box(2, 6.0, 6, name="vmesh")
    model = FokkerPlanck(mesh)
    f0 = gaussian(model.coordinates, 1.0, [-1.0, 0.5], np.diag([0.6, 1.5]))
    a = os.path.join(tmp, "a")
    h_first = run(model, f0, t_end=0.3, dt=0.1, output=a)
    mesh2, w, t, step = load_checkpoint(os.path.join(a, "checkpoint.h5"))
    assert step == 3 and abs(t - 0.3) < 1e-15
    model2 = FokkerPlanck(mesh2)
    h_second = run(model2, w0=w, t0=t, step0=step, t_end=0.6, dt=0.1)
    # the uninterrupted reference, on the mesh as loaded from the checkpoint file
    mesh3, _, _, _ = load_checkpoint(os.path.join(a, "checkpoint.h5"))
    model3 = FokkerPlanck(mesh3)
    f03 = gaussian(model3.coordinates, 1.0, [-1.0, 0.5], np.diag([0.6, 1.5]))
    h_ref = run(model3, f03, t_end=0.6, dt=0.1)
    assert h_ref.column("H")[3:] == h_second.column("H")
    assert h_ref.column("mass")[3:] == h_second.column("mass")
    assert np.array_equal(h_ref.stepper.w.dat.data_ro, h_second.stepper.w.dat.data_ro)
    assert h_first.column("H") == h_ref.column("H")[:4]


def test_checkpoint_restart_bit_for_bit(tmp_path):
    _restart_check(str(tmp_path))


@pytest.mark.parallel(nprocs=2)
def test_checkpoint_restart_bit_for_bit_parallel(tmp_path_factory):
    tmp = MPI.COMM_WORLD.bcast(str(tmp_path_factory.mktemp("ckpt")) if MPI.COMM_WORLD.rank == 0 else None)
    _restart_check(tmp)
