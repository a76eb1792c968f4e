"""Landau in axisymmetric velocity space (issue 25, first part): the half-plane mesh in
``(s = v_⊥², v_∥)``, the measure ``2π v_⊥``, the azimuthally averaged pair sums.  Mass,
parallel momentum and energy conserved, ``H`` non-increasing, a Maxwellian drifting
along ``v_∥`` steady, the same answer on 1 and 2 ranks."""
import math

import numpy as np
import pytest
import ufl
import firedrake as fd
from mpi4py import MPI

from generic_fem import run, velocity_half_plane, velocity_box, geometric_edges, Stepper
from generic_fem.core.errors import InvalidParameterError
from forms.landau import Landau


def _beams(model):
    """Two beams along ``v_∥`` with ``T_⊥ ≠ T_∥``: axisymmetric, not a Maxwellian."""
    v = model.coordinates
    return (ufl.exp(-v[0] ** 2 / 1.0 - (v[1] - 1.2) ** 2 / 0.5)
            + 0.7 * ufl.exp(-v[0] ** 2 / 1.5 - (v[1] + 1.0) ** 2 / 0.8))


def test_half_plane_measure_and_coordinates():
    """``∫ dx`` is the cylinder's volume ``π R_⊥² 2R_∥``, ``∫ v_⊥² dx`` its second moment
    ``π R_⊥⁴ R_∥`` (both in ``V_h``, exact under the nodal rule); the mesh coordinate is
    ``s = v_⊥²`` and the points of the sums are ``(v_⊥, v_∥)``; the axis nodes own weight."""
    mesh = velocity_half_plane(2.0, 3.0, 3, 4)
    model = Landau(mesh, gamma=-3.0)
    v = model.coordinates
    assert math.isclose(fd.assemble(fd.Constant(1.0) * model.dx), math.pi * 4.0 * 6.0, rel_tol=1e-14)
    assert math.isclose(fd.assemble(v[0] ** 2 * model.dx), math.pi * 16.0 * 3.0, rel_tol=1e-14)
    X = mesh.coordinates.dat.data_ro
    assert math.isclose(X[:, 0].max(), 4.0) and X[:, 0].min() == 0.0 and math.isclose(X[:, 1].min(), -3.0)
    pts = model.pairs.points[0]
    assert math.isclose(pts[:, 0].max(), 2.0) and np.all(model.pairs.weights > 0)
    assert set(model.invariant_densities()) == {"mass", "momentum_par", "energy"}


def test_half_plane_arguments_are_checked():
    with pytest.raises(InvalidParameterError, match="radii"):
        velocity_half_plane(-1.0, 2.0, 3)
    with pytest.raises(InvalidParameterError, match="perp_edges"):
        velocity_half_plane(1.0, 2.0, 3, perp_edges=[0.0, 0.5, 0.4, 1.0])
    e = geometric_edges(0.0, 4.0, 5, 1.5)
    assert e[0] == 0.0 and math.isclose(e[-1], 4.0) and np.allclose(np.diff(e)[1:] / np.diff(e)[:-1], 1.5)
    mesh = velocity_half_plane(4.0, 4.0, 5, 6, perp_edges=e)
    assert np.allclose(np.unique(np.round(np.sqrt(mesh.coordinates.dat.data_ro[:, 0]), 12)), np.round(e, 12))


@pytest.mark.parametrize("gamma", [-3.0, -2.5, -2.0, 0.0, 1.0])
def test_conservation_entropy_and_positivity(gamma):
    model = Landau(velocity_half_plane(5.0, 5.0, 4), gamma=gamma)
    h = run(model, _beams(model), t_end=0.3, dt=0.1)
    for k in ("mass", "momentum_par", "energy"):
        c = np.array(h.column(k))
        assert np.max(np.abs(c - c[0])) <= 1e-12 * max(abs(c[0]), np.array(h.column("mass"))[0]), k
    H = np.array(h.column("H"))
    assert np.all(np.diff(H) < 0)
    assert np.all(np.array(h.column("rejected")[1:]) == 0)


def test_a_drifting_maxwellian_is_steady():
    """A Maxwellian drifting along ``v_∥`` (``w`` quadratic in ``(s, v_∥)``) is a discrete
    equilibrium: its dissipation is round-off and ``H`` does not move."""
    model = Landau(velocity_half_plane(5.0, 5.0, 4), gamma=-3.0)
    M = model.maxwellian(1.0, (0.0, 0.4), 1.3)
    h = run(model, M, t_end=0.2, dt=0.1)
    assert np.max(np.abs(h.column("dissipation")[1:])) <= 1e-15
    H = np.array(h.column("H"))
    assert np.max(np.abs(H - H[0])) <= 1e-14 * abs(H[0])
    with pytest.raises(InvalidParameterError, match="drift"):
        model.maxwellian(1.0, (0.3, 0.0), 1.0)


def test_exact_jacobian_and_second_order_schemes_run():
    model = Landau(velocity_half_plane(5.0, 5.0, 4), gamma=-3.0)
    for kw in ({"nonlocal_jacobian": "exact"}, {"scheme": "midpoint"}, {"scheme": "discrete-gradient"}):
        h = run(model, _beams(model), t_end=0.2, dt=0.1, **kw)
        m = np.array(h.column("energy"))
        assert np.max(np.abs(m - m[0])) <= 1e-12 * abs(m[0]) and np.all(np.diff(h.column("H")) < 0), kw


def _ranks_case(comm):
    model = Landau(velocity_half_plane(5.0, 5.0, 4, comm=comm), gamma=-3.0)
    return run(model, _beams(model), t_end=0.2, dt=0.1)


@pytest.mark.parallel(nprocs=2)
def test_same_results_on_one_and_two_ranks():
    h2, h1 = _ranks_case(MPI.COMM_WORLD), _ranks_case(MPI.COMM_SELF)
    for col in ("H", "mass", "momentum_par", "energy", "dissipation"):
        a, b = np.array(h1.column(col)), np.array(h2.column(col))
        assert np.all(np.nan_to_num(np.abs(a - b) / np.maximum(np.abs(a), 1e-300)) <= 1e-10), (col, a, b)


def test_a_weight_without_an_azimuthal_form_is_refused():
    from generic_fem.kernels.pair_weights import PairWeight
    with pytest.raises(InvalidParameterError, match="azimuthal"):
        Landau(velocity_half_plane(5.0, 5.0, 2), weight=PairWeight(lambda r: ufl.exp(-r) / r))


def test_models_without_an_axisymmetric_form_are_refused():
    from forms.fokker_planck import FokkerPlanck
    with pytest.raises(InvalidParameterError, match="axisymmetric"):
        FokkerPlanck(velocity_half_plane(5.0, 5.0, 2))


def test_fermi_dirac_in_axisymmetric_velocity_space():
    """Landau–Fermi–Dirac on the half-plane: invariants kept, ``H`` decreasing,
    ``f < 1/ε``; its equilibrium ``M_ε`` (``d = 3``) has the datum's mass, ``u_∥`` and
    energy and is a discrete steady state."""
    from forms.landau_fermi_dirac import LandauFermiDirac
    model = LandauFermiDirac(velocity_half_plane(5.0, 5.0, 8), eps=0.5, gamma=-3.0)
    v = model.coordinates
    f0 = 0.8 * ufl.exp(-v[0] ** 2 / 1.2 - (v[1] - 0.5) ** 2 / 0.7)
    h = run(model, f0, t_end=0.3, dt=0.1)
    for k in ("mass", "momentum_par", "energy"):
        c = np.array(h.column(k))
        assert np.max(np.abs(c - c[0])) <= 1e-12 * max(1.0, abs(c[0])), k
    assert np.all(np.diff(h.column("H")) < 0)
    fmax = fd.Function(model.V).interpolate(model.density(h.stepper.w)).dat.data_ro.max()
    assert fmax * model.eps < 1
    f = model.density(h.stepper.w)
    M, (a, b, u) = model.equilibrium(f)
    for moment in (1.0, v[1], v[0] ** 2 + v[1] ** 2):
        x, y = fd.assemble(moment * f * model.dx), fd.assemble(moment * M * model.dx)
        # (the rule's error on M_ε: 2e-2, 1.2e-3, 2.4e-4 of the mass on 4, 8, 12 cells)
        assert abs(x - y) <= 3e-3 * max(abs(x), 1.0), (moment, x, y)
    hm = run(model, M, t_end=0.2, dt=0.1)
    assert np.max(np.abs(hm.column("dissipation")[1:])) <= 1e-15


def test_infinite_mass_model_in_axisymmetric_velocity_space():
    """Electron–electron Landau plus pitch-angle scattering off fixed ions, in 2.5D: mass
    and energy kept, ``u_∥`` decays, ``H`` decreasing, the centred Maxwellian steady; the
    Fisher informations are evaluated."""
    from forms.landau_infinite_mass import LandauInfiniteMass
    model = LandauInfiniteMass(velocity_half_plane(5.0, 5.0, 4), gamma=-3.0, c_ei=0.5)
    v = model.coordinates
    f0 = ufl.exp(-v[0] ** 2 / 1.0 - (v[1] - 0.8) ** 2 / 0.6)
    h = run(model, f0, t_end=0.3, dt=0.1)
    for k in ("mass", "energy"):
        c = np.array(h.column(k))
        assert np.max(np.abs(c - c[0])) <= 1e-12 * abs(c[0]), k
    assert np.all(np.diff(h.column("H")) < 0)
    p0 = model.momentum(model.density(model.state_from_density(f0)))
    p1 = model.momentum(model.density(h.stepper.w))
    assert p0[0] == 0.0 and 0 < p1[1] < p0[1]
    assert all(np.isfinite(h.column(k)[-1]) for k in ("fisher", "spherical_fisher", "lyapunov"))
    hm = run(model, model.maxwellian(1.0, None, 1.0), t_end=0.2, dt=0.1)
    assert np.max(np.abs(hm.column("dissipation")[1:])) <= 1e-15


def test_isotropisation_rate_of_maxwell_molecules_converges_to_the_exact_one():
    """``γ = 0`` in 3D: the traceless part of ``∫ v ⊗ v f`` decays like ``exp(−4 d m C t)``,
    ``d = 3`` (``anisotropic_second_moment``), so ``∫ v_∥² f − ½∫ v_⊥² f`` of an
    anisotropic Maxwellian (``T_⊥ = 0.8``, ``T_∥ = 1.4``) does.  Measured rate error
    (``R = 7``, midpoint, ``Δt = 0.01`` to ``t = 0.1``): 5.5e-2, 1.7e-2, 2.6e-3 on 6, 8, 12
    cells in ``v_⊥`` (order 3–5)."""
    errs = []
    for n in (8, 12):
        model = Landau(velocity_half_plane(7.0, 7.0, n), gamma=0.0)
        v = model.coordinates
        Tp, Tz = 0.8, 1.4
        f0 = ufl.exp(-v[0] ** 2 / (2 * Tp) - v[1] ** 2 / (2 * Tz)) / ((2 * np.pi) ** 1.5 * Tp * np.sqrt(Tz))
        h = run(model, f0, t_end=0.1, dt=0.01, scheme="midpoint", keep_trajectory=True)

        def split(w):
            f = model.density(w)
            return (0.5 * fd.assemble(v[0] ** 2 * f * model.dx), fd.assemble(v[1] ** 2 * f * model.dx),
                    fd.assemble(f * model.dx))
        a0, a1 = split(h.trajectory[0][1]), split(h.trajectory[-1][1])
        rate = np.log((a0[1] - a0[0]) / (a1[1] - a1[0])) / h.trajectory[-1][0]
        errs.append(abs(rate - 12 * a0[2]) / (12 * a0[2]))
    assert errs[1] < errs[0] / 4 and errs[1] < 5e-3, errs


def test_bkw_against_the_exact_solution_with_a_measured_order():
    """BKW (``γ = 0``, radial, so axisymmetric; ``d = 3``) from ``t = 0.5`` to 1, midpoint
    ``Δt = 0.01``, ``R = 7``: relative L² errors (nodal rule) 9.3e-5, 3.1e-5, 6.3e-6, 2.0e-6
    on 6, 8, 12, 16 cells in ``v_⊥``: order 3.8–4.1."""
    from forms.landau import bkw
    from generic_fem import Stepper
    errs = []
    for n in (8, 12):
        model = Landau(velocity_half_plane(7.0, 7.0, n), gamma=0.0)
        v = model.coordinates
        st = Stepper(model, bkw(v, 0.5, dim=3), dt=0.01, t0=0.5, scheme="midpoint")
        while st.t < 1.0 - 1e-9:
            st.advance()
        g = bkw(v, 1.0, dim=3)
        errs.append(float(np.sqrt(fd.assemble((st.density() - g) ** 2 * model.dx) / fd.assemble(g ** 2 * model.dx))))
    order = np.log(errs[0] / errs[1]) / np.log(1.5)
    assert errs[1] < 1e-5 and order > 3.0, (errs, order)


def test_multispecies_temperature_relaxation_against_the_exact_ode():
    """Two species (masses 1 and 4, ``γ = 0``, zero drifts) in axisymmetric velocity space
    against ``dT_i/dt = 2(d−1) Σ_j c_ij n_j (T_j − T_i)/(m_i m_j)`` with ``d = 3``: largest
    temperature error up to ``t = 0.4`` (midpoint, ``Δt = 0.01``, ``R = 6``) 1.6e-2, 4.5e-3,
    1.35e-3, 2.3e-4 on 4, 6, 8, 12 cells in ``v_⊥``; invariants to 2e-12."""
    from forms.multispecies_landau import MultispeciesLandau, temperature_odes
    errs = []
    for n_cells in (8, 12):
        model = MultispeciesLandau(velocity_half_plane(6.0, 6.0, n_cells), masses=[1.0, 4.0],
                                   coupling=[[1.0, 0.8], [0.8, 0.5]], gamma=0.0, scales=[1.0, 0.5])
        f0 = ufl.as_vector([model.maxwellian(0, 1.0, None, 1.5), model.maxwellian(1, 0.5, None, 0.5)])
        n, _, T0 = model.moments(f0)
        Ts = []
        h = run(model, f0, t_end=0.4, dt=0.01, scheme="midpoint",
                callback=lambda st, rec: Ts.append(model.moments(st.density())[2]))
        ref = temperature_odes(model.masses, model.coupling, n, T0, np.array(h.column("t")[1:]), 3)
        errs.append(np.abs(np.array(Ts) - ref).max())
        for k in ("mass_0", "mass_1", "momentum_par", "energy"):
            c = np.array(h.column(k))
            assert np.max(np.abs(c - c[0])) <= 1e-11, k
    assert errs[1] < errs[0] / 4 and errs[1] < 5e-4, errs


def test_electron_deuterium_demo_runs(tmp_path):
    """The 2.5D demo on a coarse mesh for a few steps: it conserves, plots, and says so."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, os.path.join(root, "demos", "axisymmetric_electron_deuterium.py"),
                        "--cells", "4", "--t-end", "1.0", "--output", str(tmp_path)],
                       capture_output=True, text=True, cwd=root, env=dict(os.environ))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "H decreasing every step: True" in r.stdout and (tmp_path / "relaxation.png").exists()
    drifts = [float(line.split()[-1]) for line in r.stdout.splitlines() if "drift (relative" in line]
    assert len(drifts) == 4 and max(drifts) < 1e-10


def test_coulomb_isotropisation_rate_for_small_anisotropy():
    """The anisotropy ``τ = ½∫v_⊥² f/n − ∫v_∥² f/n`` of a nearly isotropic Maxwellian decays
    at the linearised rate ``λ = (C n/(5T²)) ⟨|z|^{γ+4}⟩``, ``z ~`` the Maxwellian of
    temperature ``2T`` (docs/axisymmetric.rst; ``12 C n`` at ``γ = 0``,
    ``4 C n/(5\\sqrt{π} T^{3/2})`` at ``γ = −3``).  Measured (``T_⊥ = 1.02``,
    ``T_∥ = 0.96``, ``R = 6``, midpoint ``Δt = 0.02`` to ``t = 0.2``), relative rate error:
    8.4e-2, 2.6e-2, 5.1e-3, 1.6e-3 on 6, 8, 12, 16 cells."""
    import math
    from generic_fem import Stepper
    errs = []
    for n in (8, 12):
        model = Landau(velocity_half_plane(6.0, 6.0, n), gamma=-3.0)
        v = model.coordinates
        f0 = (ufl.exp(-v[0] ** 2 / (2 * 1.02) - v[1] ** 2 / (2 * 0.96))
              / ((2 * np.pi) ** 1.5 * 1.02 * np.sqrt(0.96)))
        st = Stepper(model, f0, dt=0.02, scheme="midpoint")

        def anisotropy():
            f = st.density()
            m, ep, ez = (fd.assemble(a * f * model.dx) for a in (1.0, v[0] ** 2, v[1] ** 2))
            return ep / (2 * m) - ez / m, m, (ep + ez) / (3 * m)
        a0, dens, T = anisotropy()
        for _ in range(10):
            st.advance()
        rate = math.log(a0 / anisotropy()[0]) / st.t
        lam = dens / (5 * T ** 2) * (4 * T) ** 0.5 * math.gamma(2.0) / math.gamma(1.5)
        errs.append(abs(rate / lam - 1))
    assert errs[1] < errs[0] / 3 and errs[1] < 1e-2, errs


def test_multispecies_common_equilibrium_is_steady():
    """Two species (masses 1 and 4, Coulomb) at one drift ``u_∥`` and one temperature:
    the multispecies equilibrium is a discrete steady state in 2.5D."""
    from forms.multispecies_landau import MultispeciesLandau
    model = MultispeciesLandau(velocity_half_plane(5.0, 5.0, 4), masses=[1.0, 4.0], coupling=[[1.0, 0.6], [0.6, 0.8]],
                               gamma=-3.0, scales=[1.0, 0.5])
    f0 = ufl.as_vector([model.maxwellian(0, 1.0, (0.0, 0.3), 0.8), model.maxwellian(1, 0.7, (0.0, 0.3), 0.8)])
    h = run(model, f0, t_end=0.2, dt=0.1)
    assert np.max(np.abs(h.column("dissipation")[1:])) <= 1e-15
    H = np.array(h.column("H"))
    assert np.max(np.abs(H - H[0])) <= 1e-14 * abs(H[0])


def test_describe_names_the_axisymmetric_velocity():
    assert "dim=2.5 (axisymmetric)" in Landau(velocity_half_plane(5.0, 5.0, 2), gamma=-3.0).describe()


def test_vtk_output_is_in_velocity_coordinates(tmp_path):
    """The VTK files of a 2.5D run are written on ``(v_⊥, v_∥)``, not on ``(s, v_∥)``
    (for each species in its physical velocity)."""
    from generic_fem.core.output import VTKOutput
    from forms.multispecies_landau import MultispeciesLandau
    model = Landau(velocity_half_plane(2.0, 3.0, 2), gamma=-3.0)
    h = run(model, model.maxwellian(), t_end=0.1, dt=0.1, output=str(tmp_path), vtk_every=1)
    assert (tmp_path / "f.pvd").exists() and len(h) == 2
    X = VTKOutput(model, str(tmp_path)).output_mesh().coordinates.dat.data_ro
    assert math.isclose(X[:, 0].max(), 2.0) and math.isclose(X[:, 1].max(), 3.0)
    ms = MultispeciesLandau(velocity_half_plane(2.0, 3.0, 2), masses=[1.0, 4.0], scales=[1.0, 0.5])
    X = VTKOutput(ms, str(tmp_path)).output_mesh(0.5).coordinates.dat.data_ro
    assert math.isclose(X[:, 0].max(), 1.0) and math.isclose(X[:, 1].min(), -1.5)


def test_a_loaded_checkpoint_keeps_the_axisymmetric_velocity(tmp_path):
    """``load_checkpoint`` of a 2.5D run gives a mesh the models treat as axisymmetric
    again (the mesh is in ``(s, v_∥)``: as Cartesian it would be silently wrong)."""
    from generic_fem.drivers.run import load_checkpoint
    from generic_fem.core.velocity import velocity_coordinates
    model = Landau(velocity_half_plane(4.0, 4.0, 2), gamma=-3.0)
    run(model, model.maxwellian(1.0, (0.0, 0.2), 1.0), t_end=0.1, dt=0.1, output=str(tmp_path), checkpoint_every=1)
    restart = load_checkpoint(str(tmp_path / "checkpoint.h5"))
    mesh = restart[0]
    assert velocity_coordinates(mesh).kind == "axisymmetric"
    assert "momentum_par" in Landau(mesh, gamma=-3.0).invariant_densities()


def test_structure_checks_on_the_half_plane():
    """``M dE = 0`` and ``M ψ = 0`` for the invariants hold on the half-plane: ``|v|²`` is
    ``s + v_∥²`` there, whose gradient has no ``1/√s`` on the axis (``(√s)²`` would give
    NaN at the axis points)."""
    from generic_fem import checks
    model = Landau(velocity_half_plane(4.0, 4.0, 3), gamma=-3.0)
    f = model.density(model.state_from_density(_beams(model)))
    deg = checks.degeneracy_norms(model, f)
    assert np.isfinite(deg["M_dE"]) and deg["M_dE"] < 1e-12
    assert max(checks.kernel_defect(model, f).values()) < 1e-12


def test_the_box_edge_warning_sees_the_axis_corners():
    """A datum that the box cuts at the axis end ``(0, R_∥)`` (narrow in ``v_⊥``) is
    reported: the axis is no edge, its two ends are."""
    model = Landau(velocity_half_plane(4.0, 4.0, 4), gamma=-3.0)
    v = model.coordinates
    with pytest.warns(UserWarning, match="box edge"):
        model.state_from_density(ufl.exp(-(model.speed2 - v[1] ** 2) / 0.01 - (v[1] - 4.0) ** 2) + 1e-30)


def _beam_moments(axisymmetric, cells, radius=5.0, dt=0.05, steps=10):
    """Two beams along ``v_∥`` with ``T_⊥ ≠ T_∥`` (benchmarks/axisymmetric_vs_3d.py), Coulomb,
    backward Euler: ``(u_∥, T_⊥, T_∥)`` at ``t = steps·dt`` in 2.5D or on a 3D box."""
    mesh = velocity_half_plane(radius, radius, cells) if axisymmetric else velocity_box(3, radius, cells)
    model = Landau(mesh, gamma=-3.0)
    v = model.coordinates
    vp2, vz = (v[0] ** 2, v[1]) if axisymmetric else (v[0] ** 2 + v[1] ** 2, v[2])
    f0 = ufl.exp(-vp2 / 1.0 - (vz - 1.2) ** 2 / 0.5) + 0.7 * ufl.exp(-vp2 / 1.5 - (vz + 1.0) ** 2 / 0.8)
    st = Stepper(model, f0, dt=dt)
    for _ in range(steps):
        st.advance()
    f = st.density()
    rho, p, e_par, e_perp = (fd.assemble(a * f * model.dx) for a in (1, vz, vz ** 2, vp2))
    u = p / rho
    return np.array([u, e_perp / (2 * rho), e_par / rho - u * u])


def test_the_same_physics_as_3d():
    """Axisymmetric data run on 3D boxes approach the 2.5D run as the box is refined
    (the 2.5D run on 16 cells in ``v_⊥`` as the reference; largest difference of
    ``u_∥, T_⊥, T_∥`` at ``t = 0.5``: measured 6.0e-2 and 1.5e-2 on 6 and 8 cells;
    docs/axisymmetric.rst, "Against 3D", has the longer table)."""
    ref = _beam_moments(True, 16)
    d6, d8 = (np.max(np.abs(_beam_moments(False, n) - ref)) for n in (6, 8))
    print(f"\n3D against 2.5D at t = 0.5: 6 cells {d6:.2e}, 8 cells {d8:.2e}")
    assert d8 < 0.5 * d6 and d8 < 3e-2
