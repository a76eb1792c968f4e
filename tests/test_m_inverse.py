"""Matrix-free ``‖s‖²_{M⁻¹}`` for two-point operators (issue 13 §3): CG on the operator's
action with the kernel as null space, against the dense path."""
import numpy as np
import pytest
import ufl
import firedrake as fd
from mpi4py import MPI

from generic_fem import run, energy_dissipation_functional
from generic_fem.functional import inverse_norm_squared
from helpers import landau_case, multispecies_case, fuzzy_case


def landau(comm=None):
    return landau_case(comm, cells=4)


multispecies, fuzzy = multispecies_case, fuzzy_case


@pytest.mark.parametrize("make", [landau, multispecies, fuzzy], ids=["landau", "multispecies", "fuzzy"])
def test_krylov_matches_dense_and_the_exact_value(make):
    """``s = M ψ`` for a random ``ψ``: ``‖s‖²_{M⁻¹} = ⟨ψ, Mψ⟩`` exactly; both paths give it."""
    model, f = make()
    psi = fd.Function(model.V)
    psi.dat.data[:] = np.random.default_rng(0).standard_normal(psi.dat.data_ro.shape)
    exact = float(fd.assemble(model.apply_friction(f, psi, psi)))

    def s_of(phi):
        return model.apply_friction(f, psi, phi)
    dense, _ = inverse_norm_squared(model, f, s_of, method="dense")
    krylov, _ = inverse_norm_squared(model, f, s_of, method="krylov")
    print(f"\n{type(model).__name__}: exact {exact:.15g}, dense {dense:.15g}, krylov {krylov:.15g}")
    assert abs(krylov - dense) <= 1e-8 * abs(dense)
    assert abs(krylov - exact) <= 1e-8 * abs(exact)


def test_incompatible_functional_is_infinite():
    model, f = landau()
    v = model.coordinates
    val, viol = inverse_norm_squared(model, f, lambda phi: phi * v[0] ** 2 * model.dx, method="krylov")
    assert val == float("inf") and viol > 1e-3


def test_energy_dissipation_functional_of_a_multispecies_run_both_ways():
    model, f0 = multispecies()
    h = run(model, f0, t_end=0.2, dt=0.1, keep_trajectory=True)
    rd = energy_dissipation_functional(model, h, m_inverse="dense")
    rk = energy_dissipation_functional(model, h, m_inverse="krylov")
    print(f"\ndense: {rd}\nkrylov: {rk}")
    assert abs(rk.action_term - rd.action_term) <= 1e-8 * abs(rd.action_term)
    assert abs(rk.total - rd.total) <= 1e-8 * abs(rd.dissipation_term)


@pytest.mark.parallel(nprocs=2)
def test_krylov_on_two_ranks():
    vals = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        model, f = fuzzy(comm)
        V = model.V
        psi = fd.Function(V).interpolate(ufl.sin(model.x) * model.v[0] ** 2 + ufl.cos(model.v[1]))
        vals.append(inverse_norm_squared(model, f, lambda phi: model.apply_friction(f, psi, phi),
                                         method="krylov")[0])
    assert np.isfinite(vals[0]) and abs(vals[0] - vals[1]) <= 1e-10 * abs(vals[1])
