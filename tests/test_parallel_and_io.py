"""Same answers on 1 and 2 ranks; outputs (history, plot, VTK) and bit-for-bit restart."""
import os

import numpy as np
import pytest
import firedrake as fd
from mpi4py import MPI

from generic_fem import run, velocity_box, load_checkpoint, restore_state, History, InvalidParameterError
from generic_fem.plot import plot_history
from forms.fokker_planck import FokkerPlanck, gaussian


def relax(comm, scheme, output=None):
    mesh = velocity_box(2, 6.0, 8, comm=comm)
    model = FokkerPlanck(mesh, temperature=1.0, drift=(0.5, 0.0))
    f0 = gaussian(model.coordinates, 1.0, [-1.0, 0.5], np.array([[0.6, 0.1], [0.1, 1.5]]))
    return run(model, f0, t_end=0.5, dt=0.1, scheme=scheme, output=output)


@pytest.mark.parallel(nprocs=2)
@pytest.mark.parametrize("scheme", ["backward-euler", "minimizing-movement", "midpoint", "discrete-gradient"])
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
    """Run 3 steps and checkpoint; resume for 3 more on a model rebuilt the same way
    (restore_state): bit-for-bit the uninterrupted 6-step run in serial (to round-off
    in parallel, where parallel MUMPS itself is not bitwise reproducible).  Reloading the mesh
    from the file (load_checkpoint) works on any rank count; Firedrake renumbers the
    mesh then, so sums agree to round-off only."""
    def build():
        model = FokkerPlanck(velocity_box(2, 6.0, 6, name="vmesh"))
        return model, gaussian(model.coordinates, 1.0, [-1.0, 0.5], np.diag([0.6, 1.5]))
    model, f0 = build()
    a = os.path.join(tmp, "a")
    run(model, f0, t_end=0.3, dt=0.1, output=a)
    path = os.path.join(a, "checkpoint.h5")
    model2, _ = build()
    restart = restore_state(path, model2)
    w, t, step = restart
    assert step == 3 and abs(t - 0.3) < 1e-15
    h_second = run(model2, w0=w, t0=t, step0=step, t_end=0.6, dt=0.1, previous=restart.previous)
    model3, f03 = build()
    h_ref = run(model3, f03, t_end=0.6, dt=0.1)
    if MPI.COMM_WORLD.size == 1:
        assert h_ref.column("H")[3:] == h_second.column("H")
        assert h_ref.column("mass")[3:] == h_second.column("mass")
        assert np.array_equal(h_ref.stepper.w.dat.data_ro, h_second.stepper.w.dat.data_ro)
    else:
        # parallel MUMPS is not bitwise reproducible from run to run (message order),
        # so two identical parallel runs agree to round-off only: so does a restart
        assert np.allclose(h_ref.column("H")[3:], h_second.column("H"), rtol=1e-12, atol=0)
        assert np.allclose(h_ref.stepper.w.dat.data_ro, h_second.stepper.w.dat.data_ro,
                           rtol=1e-10, atol=1e-12)
    # portable path: reload mesh and function from the file
    restart4 = load_checkpoint(path)
    mesh4, w4, t4, step4 = restart4
    h4 = run(FokkerPlanck(mesh4), w0=w4, t0=t4, step0=step4, t_end=0.6, dt=0.1, previous=restart4.previous)
    assert np.allclose(h4.column("H"), h_second.column("H"), rtol=1e-13, atol=0)
    # a model of another size is refused with a clear message
    with pytest.raises(InvalidParameterError, match="restore_state"):
        restore_state(path, FokkerPlanck(velocity_box(2, 6.0, 4)))


def test_checkpoint_restart_bit_for_bit(tmp_path):
    _restart_check(str(tmp_path))


@pytest.mark.parallel(nprocs=2)
def test_checkpoint_restart_bit_for_bit_parallel(tmp_path_factory):
    tmp = MPI.COMM_WORLD.bcast(str(tmp_path_factory.mktemp("ckpt")) if MPI.COMM_WORLD.rank == 0 else None)
    _restart_check(tmp)
