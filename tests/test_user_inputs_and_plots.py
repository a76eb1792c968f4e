"""What a user meets first (issue 24): arguments checked where they are made, the
history records why an attempt was rejected, and the history plot works on the
history of every scheme and of a run with callback columns."""
import os

import numpy as np
import pytest
import ufl

from generic_fem import run, velocity_box, History, InvalidParameterError, SCHEMES
from generic_fem.plot import main as plot_main, plot_history
from forms.fokker_planck import FokkerPlanck, gaussian
from forms.landau import Landau
from forms.multispecies_landau import MultispeciesLandau


@pytest.fixture(scope="module")
def fp():
    model = FokkerPlanck(velocity_box(2, 6.0, 4))
    return model, gaussian(model.coordinates, 1.0, [-1.0, 0.5], np.diag([0.6, 1.5]))


def test_run_arguments_are_checked(fp):
    model, f0 = fp
    with pytest.raises(InvalidParameterError, match="t_end = 0.5 is before the initial time t0 = 1"):
        run(model, f0, t_end=0.5, t0=1.0)
    with pytest.raises(InvalidParameterError, match="t_end must be finite"):
        run(model, f0, t_end=float("nan"))
    with pytest.raises(InvalidParameterError, match="dt must be positive"):
        run(model, f0, t_end=1.0, dt=-0.1)
    with pytest.raises(TypeError, match=r"run\(\) got unexpected keyword argument.*'max_updat'.*did you mean 'max_update'"):
        run(model, f0, t_end=1.0, max_updat=2.0)


def test_density_of_the_wrong_shape_is_named():
    mesh = velocity_box(2, 5.0, 2)
    two = MultispeciesLandau(mesh, masses=[1.0, 2.0])
    with pytest.raises(InvalidParameterError, match="expects a density with 2 components.*got a scalar density"):
        run(two, two.maxwellian(0), t_end=0.1)
    three = ufl.as_vector([two.maxwellian(0), two.maxwellian(1), two.maxwellian(0)])
    with pytest.raises(InvalidParameterError, match="expects a density with 2 components.*got a density with 3"):
        run(two, three, t_end=0.1)
    one = Landau(mesh)
    with pytest.raises(InvalidParameterError, match="expects a scalar density, got a density with 2 components"):
        run(one, ufl.as_vector([one.maxwellian(1.0, (0, 0), 1.0)] * 2), t_end=0.1)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_history_plot_for_every_scheme_and_callback_columns(fp, scheme, tmp_path):
    model, f0 = fp
    out = str(tmp_path / scheme)

    def callback(stepper, record):
        record["peak"] = float(stepper.w.dat.data_ro.max())
        record["spread"] = np.ptp(stepper.w.dat.data_ro)     # a NumPy float, as callbacks write them
        record["note"] = "text"

    h = run(model, f0, t_end=0.2, dt=0.1, scheme=scheme, output=out, callback=callback)
    csv = os.path.join(out, "history.csv")
    back = History.read_csv(csv)
    assert back.metadata["invariants"] == list(model.invariant_densities())
    assert back.invariant_columns() == list(model.invariant_densities())
    assert np.isnan(back.column("peak")[0]) and back.column("peak")[1:] == h.column("peak")[1:]
    assert "note" not in back.numeric_columns() and "rejections" not in back.numeric_columns()
    png = os.path.join(out, "h.png")
    assert back.column("spread")[1:] == pytest.approx(h.column("spread")[1:], rel=0, abs=0)
    plot_main([csv, "-o", png, "--columns", "peak", "spread", "dissipation"])
    assert os.path.getsize(png) > 1000
    with pytest.raises(ValueError, match="no numeric column"):
        plot_history(back, png, columns=["note"])


def test_rejected_attempts_are_recorded_with_their_reason(fp):
    model, f0 = fp
    # five Newton iterations are too few for the whole step (6 are needed, with the
    # local-error test and Anderson mixing; 8 without the mixing): it is covered by sub-steps
    h = run(model, f0, t_end=0.2, dt=0.2, solver_parameters={"snes_max_it": 5})
    rejected = h.column("rejected")[1:]
    reasons = h.column("rejections")[1:]
    assert sum(rejected) > 0
    for n, text in zip(rejected, reasons):
        assert len([x for x in text.split("; ") if x]) == n
        if n:
            assert text.startswith("dt=0.2 DIVERGED_MAX_IT its=5 res=")


def test_a_datum_the_mesh_does_not_resolve_is_warned_about():
    model = Landau(velocity_box(2, 6.0, 2))
    with pytest.warns(UserWarning, match=r"initial data: the discrete state holds \d+\.\d+ of the datum's mass"):
        model.state_from_density(model.maxwellian(1.0, (0.3, 0.0), 0.1))
    fine = Landau(velocity_box(2, 6.0, 12))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # the main demo's datum on its mesh: resolved
        fine.state_from_density(fine.maxwellian(1.0, (1.0, 0.0), 0.5) + fine.maxwellian(0.5, (-1.0, 0.5), 0.8))


def _truncation_warnings(model, f):
    import warnings
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        model.state_from_density(f)
    return [str(w.message) for w in ws if "truncates" in str(w.message)]


def test_a_datum_the_box_truncates_is_warned_about():
    """A bump near the edge (far above the Maxwellian with the same moments) and a
    Maxwellian on a box too small for its temperature are named; the same Maxwellian
    on a box that holds it, and a phase-space mesh, are not."""
    model = Landau(velocity_box(2, 5.0, 6))
    f = model.maxwellian(1.0, (0.0, 0.0), 1.0) + 0.01 * model.maxwellian(1.0, (4.5, 0.0), 0.3)
    msgs = _truncation_warnings(model, f)
    assert len(msgs) == 1 and "(5, 0)" in msgs[0] and "times the Gaussian" in msgs[0], msgs
    small = Landau(velocity_box(2, 4.0, 6))
    assert len(_truncation_warnings(small, small.maxwellian(1.0, (0.0, 0.0), 1.0))) == 1
    wide = Landau(velocity_box(2, 6.0, 6))
    assert _truncation_warnings(wide, wide.maxwellian(1.0, (0.3, 0.0), 1.0)) == []
    # an anisotropic Gaussian is compared with its own covariance: not warned on a box
    # that holds it (an isotropic reference would be 2000 times below it at (7, 0))
    aniso = Landau(velocity_box(2, 7.0, 6))
    v = aniso.coordinates
    g = ufl.exp(-v[0] ** 2 / 4.0 - v[1] ** 2 / 1.0) / (2 * np.pi)
    assert _truncation_warnings(aniso, g) == []
    # per species, in the reference coordinates of a multispecies model (3D here)
    ms = MultispeciesLandau(velocity_box(3, 4.0, 2), masses=[1.0, 4.0])
    hot = ufl.as_vector([ms.maxwellian(0, 1.0, (0.0, 0.0, 0.0), 1.0), ms.maxwellian(1, 1.0, (0.0, 0.0, 0.0), 8.0)])
    msgs = _truncation_warnings(ms, hot)
    assert any("(component 1)" in m for m in msgs), msgs


@pytest.mark.parallel(nprocs=2)
def test_the_truncation_warning_on_two_ranks():
    model = Landau(velocity_box(2, 5.0, 6))
    f = model.maxwellian(1.0, (0.0, 0.0), 1.0) + 0.01 * model.maxwellian(1.0, (4.5, 0.0), 0.3)
    msgs = _truncation_warnings(model, f)
    assert len(msgs) == (1 if model.mesh.comm.rank == 0 else 0)


def test_vtk_output_one_named_field_per_species_in_physical_velocity(tmp_path):
    """Multispecies output: ``f_0.pvd``, ``f_1.pvd`` (each on the mesh scaled to its
    species' velocity ``v = σ_k ξ``, per ``dv``), ``w_k`` on request; a scalar model
    writes ``f.pvd``; unknown fields are refused."""
    import glob
    import firedrake as fd
    ms = MultispeciesLandau(velocity_box(2, 5.0, 3), masses=[1.0, 4.0], scales=[1.0, 0.5])
    f0 = ufl.as_vector([ms.maxwellian(0, 1.0, (0.3, 0.0), 1.0), ms.maxwellian(1, 1.0, (0.0, 0.0), 1.0)])
    out = tmp_path / "ms"
    run(ms, f0, t_end=0.1, dt=0.1, output=str(out), vtk_every=1, vtk_fields=("f", "w"))
    names = sorted(os.path.basename(p) for p in glob.glob(str(out / "*.pvd")))
    assert names == ["f_0.pvd", "f_1.pvd", "w_0.pvd", "w_1.pvd"], names
    # species 1 in physical velocity: coordinates scaled by 1/2, density per dv (mass 1)
    vtus = sorted(glob.glob(str(out / "f_1" / "*.vtu")))
    assert len(vtus) == 2
    from generic_fem.output import VTKOutput
    vo = VTKOutput(ms, str(tmp_path / "check"))
    vo.write(ms.state_from_density(f0), 0.0)
    g = vo._out["f_1"]
    assert np.isclose(np.abs(g.function_space().mesh().coordinates.dat.data_ro).max(), 2.5)
    # ∫ f_1 dv on the scaled mesh = ∫ f_1 dξ on the reference mesh (the same interpolant)
    ref = fd.Function(vo.P).interpolate(ms.density(ms.state_from_density(f0))[1])
    assert abs(fd.assemble(g * fd.dx(degree=8)) - fd.assemble(ref * fd.dx(degree=8))) < 1e-12
    fp = FokkerPlanck(velocity_box(2, 5.0, 3))
    run(fp, gaussian(fp.coordinates, 1.0, [0.0, 0.0], np.eye(2)), t_end=0.1, dt=0.1, output=str(tmp_path / "fp"),
        vtk_every=1)
    assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "fp" / "*.pvd"))) == ["f.pvd"]
    with pytest.raises(InvalidParameterError, match="vtk_fields"):
        run(fp, gaussian(fp.coordinates, 1.0, [0.0, 0.0], np.eye(2)), t_end=0.1, dt=0.1, vtk_fields=("density",))


def test_an_unknown_scheme_is_named_with_the_choices(fp):
    model, f0 = fp
    with pytest.raises(InvalidParameterError, match=r"unknown scheme 'crank-nicolson'; choose one of .*'midpoint'"):
        run(model, f0, t_end=0.1, dt=0.1, scheme="crank-nicolson")


def test_the_schemes_as_data():
    """What differs between the schemes (generic_fem.schemes), as the steppers read it."""
    from generic_fem.schemes import SCHEMES, scheme_named
    assert SCHEMES == ("backward-euler", "minimizing-movement", "midpoint", "discrete-gradient")
    table = {name: (s.order, s.uses_alpha, s.solves_alpha, s.bounds_alpha, s.frozen_mobility)
             for name, s in ((n, scheme_named(n)) for n in SCHEMES)}
    assert table == {"backward-euler": (1, False, False, False, False),
                     "minimizing-movement": (1, False, False, False, True),
                     "midpoint": (2, True, False, True, False),
                     "discrete-gradient": (2, True, True, False, False)}
