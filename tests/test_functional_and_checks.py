"""J_T (docs/checking_jt.rst) and the structure checks, on the Fokker–Planck model."""
import math

import numpy as np
import pytest
import ufl
import firedrake as fd

from generic_fem import run, velocity_box, energy_dissipation_functional
from generic_fem import checks
from forms.fokker_planck import FokkerPlanck, gaussian

MEAN0, COV0 = [-1.0], np.array([[0.5]])


def model_1d(cells=32, degree=2):
    return FokkerPlanck(velocity_box(1, 7.0, cells), temperature=1.0, drift=(0.3,), degree=degree)


def test_JT_vanishes_under_refinement():
    Js, sq = [], []
    for k, (cells, dt) in enumerate([(16, 0.1), (32, 0.05), (64, 0.025)]):
        model = model_1d(cells)
        h = run(model, gaussian(model.coordinates, 1.0, MEAN0, COV0), t_end=0.5, dt=dt,
                keep_trajectory=True)
        J = energy_dissipation_functional(model, h)
        assert J.compatibility_violation < 1e-9
        # backward Euler: J_T = −(sum of convexity gaps) ≤ 0 (discrete EDI), and the
        # completed square vanishes (the scheme's own equation holds)
        assert J.total < 0
        assert abs(J.square_term) < 1e-9 * J.dissipation_term
        Js.append(abs(J.total))
    rates = [math.log2(a / b) for a, b in zip(Js, Js[1:])]
    print("|J_T|", Js, "rates", rates)
    assert rates[-1] > 0.8   # O(Δt)
    # the midpoint scheme with the same mesh and step: much smaller |J_T|
    model = model_1d(64)
    h = run(model, gaussian(model.coordinates, 1.0, MEAN0, COV0), t_end=0.5, dt=0.025,
            keep_trajectory=True, scheme="midpoint")
    Jm = energy_dissipation_functional(model, h, mobility="midpoint")
    print("midpoint |J_T|", abs(Jm.total))
    assert abs(Jm.total) < 0.1 * Js[-1]


def test_JT_of_perturbed_curves_scales_like_eps_squared():
    """∂_t f = M(f)(dS + εψ): J_T = (ε²/2) ∫ ‖ψ‖²_M dt + O(ε³) (docs/checking_jt.rst)."""
    model = model_1d(32)
    v = model.coordinates[0]
    psi = fd.Function(model.V).interpolate(ufl.sin(v))   # ψ ∈ V_h
    f0 = gaussian(model.coordinates, 1.0, MEAN0, COV0)

    def J_of(eps, scheme, dt, mobility):
        h = run(model, f0, t_end=0.5, dt=dt, keep_trajectory=True, scheme=scheme,
                forcing=eps * psi if eps else None)
        J = energy_dissipation_functional(model, h, mobility=mobility)
        pred = sum(0.5 * (t1 - t0) * fd.assemble(model.friction(model.density(w1), psi, psi))
                   for (t0, _), (t1, w1) in zip(h.trajectory, h.trajectory[1:]))
        return J, pred
    # backward Euler, right-point rule: the completed square is exactly (ε²/2)Σ Δt‖ψ‖²_M
    for eps in (0.2, 0.05):
        J, pred = J_of(eps, "backward-euler", 0.05, "right")
        assert abs(J.square_term / (eps ** 2 * pred) - 1) < 1e-8
    # the three-term J_T of accurate (midpoint, small Δt) perturbed curves, less the
    # discretization defect J_T(0) of the unperturbed one
    J0, _ = J_of(0.0, "midpoint", 0.01, "midpoint")
    ratios = []
    for eps in (0.2, 0.1, 0.05):
        J, pred = J_of(eps, "midpoint", 0.01, "midpoint")
        ratios.append((J.total - J0.total) / (eps ** 2 * pred))
    print("(J_T(eps) - J_T(0))/(eps^2 pred):", ratios, "J_T(0) =", J0.total)
    assert all(abs(r - 1) < 0.03 for r in ratios)


def test_JT_positive_on_time_rescaled_curve():
    """f^λ_t = f_{λt}: J_T(f^λ) = ((λ−1)²/(2λ)) ∫_0^{λT} D(f_s) ds (docs/checking_jt.rst)."""
    model = model_1d(48)
    f0 = gaussian(model.coordinates, 1.0, MEAN0, COV0)
    h = run(model, f0, t_end=1.0, dt=0.01, scheme="midpoint", keep_trajectory=True)
    lam = 2.0
    times = [t / lam for t, _ in h.trajectory]
    states = [model.density(w) for _, w in h.trajectory]
    J = energy_dissipation_functional(model, states, times, mobility="midpoint")
    D = [fd.assemble(model.friction(f, model.dS(f), model.dS(f))) for f in states]
    ts = [t for t, _ in h.trajectory]
    intD = sum(0.5 * (b - a) * (Da + Db) for a, b, Da, Db in zip(ts, ts[1:], D, D[1:]))
    expected = (lam - 1) ** 2 / (2 * lam) * intD
    print("J", J.total, "expected", expected)
    assert J.total > 0
    assert abs(J.total - expected) / expected < 0.02
    # and the unscaled curve has a much smaller J_T
    J1 = energy_dissipation_functional(model, states, [t for t, _ in h.trajectory], mobility="midpoint")
    assert abs(J1.total) < 0.01 * J.total


def test_JT_infinite_when_mass_not_conserved():
    model = model_1d(16)
    f0 = gaussian(model.coordinates, 1.0, MEAN0, COV0)
    J = energy_dissipation_functional(model, [f0, 1.1 * f0], [0.0, 0.1])
    assert J.action_term == math.inf and J.total == math.inf
    assert J.compatibility_violation > 0.01


def test_friction_operator_structure():
    model = FokkerPlanck(velocity_box(2, 5.0, 6), drift=(0.4, -0.2))
    f = gaussian(model.coordinates, 1.0, [0.3, -0.1], np.diag([0.7, 1.4]))
    assert checks.symmetry_defect(model, f) < 1e-13
    small, large = checks.smallest_eigenvalues(model, f, k=3)
    assert small[0] > -1e-12 * large                  # positive semidefinite
    assert abs(small[0]) < 1e-10 * large              # the constants are in the kernel
    lo, hi = checks.randomized_psd_test(model, f)
    assert lo > 0 and hi >= lo
    assert max(checks.kernel_defect(model, f).values()) < 1e-13
    assert checks.antisymmetry_defect(model, f) is None   # L = 0


def test_dissipation_balance():
    model = model_1d(32)
    h = run(model, gaussian(model.coordinates, 1.0, MEAN0, COV0), t_end=0.5, dt=0.01,
            scheme="midpoint")
    bal = checks.dissipation_balance(h)
    assert np.all(bal[:, 0] >= bal[:, 1] * (1 - 1e-10))      # −ΔH/Δt ≥ ⟨θ, Mθ⟩
    assert np.max(np.abs(bal[:, 0] - bal[:, 1]) / bal[:, 1]) < 1e-2
