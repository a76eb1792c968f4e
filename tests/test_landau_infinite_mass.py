"""Landau with scattering off infinitely heavy ions (Junné–Winter–Yoldaş, arXiv:2512.17082 (1.9)–(1.12); issue 11)."""
import numpy as np
import pytest
import ufl
import firedrake as fd

from generic_fem import run, velocity_box, checks, InvalidParameterError
from generic_fem.operators import LocalFriction
from generic_fem.two_point import TwoPointFriction
from forms.landau_infinite_mass import LandauInfiniteMass
from helpers import drift


def test_invalid_parameters_are_refused():
    mesh = velocity_box(2, 5.0, 2)
    with pytest.raises(InvalidParameterError, match="c_ei must be positive"):
        LandauInfiniteMass(mesh, c_ei=0.0)
    with pytest.raises(InvalidParameterError, match="gamma must lie"):
        LandauInfiniteMass(mesh, gamma=2.0)


def test_friction_is_the_sum_of_a_two_point_and_a_local_operator():
    model = LandauInfiniteMass(velocity_box(2, 4.0, 2), gamma=-3.0, c_ei=0.7)
    ops = model.friction_operators()
    assert isinstance(ops[0], TwoPointFriction) and isinstance(ops[1], LocalFriction)
    f = model.maxwellian(1.0, (0.4, -0.2), 1.1)
    M = checks.friction_matrix_dense(model, f)
    # the sum of the two dense matrices against the action of the summed form
    Ma = checks._dense_from_action(model, f)
    assert np.abs(M - Ma).max() <= 1e-12 * np.abs(M).max()
    assert np.linalg.norm(M - M.T) <= 1e-13 * np.linalg.norm(M)
    ev = np.linalg.eigvalsh(0.5 * (M + M.T))
    assert ev[0] >= -1e-12 * ev[-1]
    # kernel: 1 and |v|² only (momentum is not conserved any more)
    assert np.sum(ev < 1e-10 * ev[-1]) == 2
    v = model.coordinates
    for phi in (fd.Constant(1.0), ufl.dot(v, v)):
        x = fd.Function(model.V).interpolate(phi)
        assert np.abs(M @ x.dat.data_ro).max() <= 1e-12 * np.abs(M).max() * np.abs(x.dat.data_ro).max()
    x = fd.Function(model.V).interpolate(v[0])
    assert np.abs(M @ x.dat.data_ro).max() > 1e-3 * np.abs(M).max()


@pytest.mark.parametrize("gamma", [-3.0, 0.0])
def test_mass_energy_exact_momentum_decays(gamma):
    """Mass and energy to the solver tolerance, ``H`` non-increasing.  Momentum:
    ``dP/dt = −c_ei (d−1) ∫ |v|^γ v f`` (electron–electron collisions conserve it); for
    ``γ = 0`` that is ``P(t) = P(0) e^{−c_ei(d−1)t}`` (backward Euler:
    ``(1 + c_ei(d−1)Δt)^{−n}``); for a shifted Maxwellian and any ``γ`` ``|P|`` decays.
    (For other data and ``γ < 0``, ``|P|`` need not be monotone.)"""
    c_ei, dt = 0.5, 0.1
    # 12 cells: the closed form needs ∫ |v|²Π(v)∇f = (d−1)∫ v f (integration by parts)
    # to hold under the rule; its error (nodal rule) is 2.0e-3, 2.8e-4, 5.5e-5 on 6, 9, 12 cells
    model = LandauInfiniteMass(velocity_box(2, 6.0, 12), gamma=gamma, c_ei=c_ei, rule="nodal")
    f0 = model.maxwellian(1.0, (0.5, -0.2), 1.0)
    p = []
    h = run(model, f0, t_end=0.3, dt=dt, callback=lambda st, rec: p.append(model.momentum(st.density())))
    for k in ("mass", "energy"):
        assert drift(h, k) <= 1e-10, k
    p = np.array([model.momentum(f0)] + p)
    assert np.all(np.diff(np.linalg.norm(p, axis=1)) < 0)
    if gamma == 0.0:
        ref = p[0] * (1 + c_ei * dt) ** -np.arange(len(p))[:, None]
        err = np.abs(p - ref).max() / np.abs(p[0]).max()
        print(f"\nmomentum vs (1 + c_ei dt)^-n: max relative error {err:.2e}")
        assert err < 1e-4
    H = np.array(h.column("H"))
    assert np.all(np.diff(H) <= 1e-13 * np.abs(H).max())


def test_centred_maxwellian_is_steady_and_diagnostics():
    # 8 cells: I of the Maxwellian under the nodal rule is off by 0.30, 0.027, 3.4e-4 on
    # 4, 6, 8 cells (thermal speed 0.95, cells 1.25 wide at 8)
    model = LandauInfiniteMass(velocity_box(2, 5.0, 8), gamma=-3.0, c_ei=1.0, rule="nodal")
    f0 = model.maxwellian(1.0, None, 0.9)
    h = run(model, f0, t_end=0.2, dt=0.1)
    assert np.max(np.abs(h.column("dissipation")[1:])) < 1e-12
    # Maxwellian: I = d/T, J = 0, H(f|M_T°) = 0 (to the truncation of the box)
    assert abs(h.column("fisher")[0] - 2 / 0.9) < 1e-3
    assert abs(h.column("spherical_fisher")[0]) < 1e-12
    assert abs(h.column("relative_entropy")[0]) < 1e-3


def test_even_data_keep_the_fisher_information_non_increasing():
    """Junné–Winter–Yoldaş, arXiv:2512.17082 Theorem 1.2, second part (3D; here 2D): even data, ``γ = −3``."""
    model = LandauInfiniteMass(velocity_box(2, 5.0, 4), gamma=-3.0, c_ei=0.5)
    f0 = model.maxwellian(0.5, (1.0, 0.3), 0.6) + model.maxwellian(0.5, (-1.0, -0.3), 0.6)
    h = run(model, f0, t_end=0.4, dt=0.1)
    I = np.array(h.column("fisher"))
    lam = np.array(h.column("lyapunov"))
    print(f"\neven data: I = {I}, Lambda = {lam}")
    assert np.all(np.diff(I) <= 1e-10 * I[0])
    assert np.all(np.diff(lam) < 0)      # Λ = I + J + H(f|M) (a = R = 1) decays too here
