"""Fast-multipole pair sums for 3D Coulomb collisions (:mod:`generic_fem.kernels.fmm_sums`)
against the direct sums over the same distinct positions."""
import numpy as np
import pytest
from mpi4py import MPI

from generic_fem import velocity_box, InvalidParameterError
from forms.landau import Landau
from forms.multispecies_landau import MultispeciesLandau
from helpers import random_pair_inputs


def _both(op, tolerance=1e-12, seed=0):
    coeff, t, g, T = random_pair_inputs(op, seed)
    out = {}
    for method in ("direct", "fmm"):
        op.set_summation(method, tolerance)
        out[method] = (op.pair_sums(t, coeff, g), op.pair_contractions(T))
    return out


def _relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("species", [1, 2])
def test_fmm_sums_match_the_direct_sums(species):
    """Ĝ, Ĵ and the adjoint's contractions by the FMM (tolerance 1e-12) against the direct
    sums over the same distinct positions (coincident nodes of neighbouring cells left
    out by both), 3D Coulomb on a 3-cell Q2 box, one species and two (scales 1 and 0.5,
    couplings c_ij): within 1e-9 relative."""
    mesh = velocity_box(3, 4.0, 3)
    if species == 1:
        op = Landau(mesh, gamma=-3.0).pairs
    else:
        op = MultispeciesLandau(mesh, masses=[1.0, 4.0], coupling=[[1.0, 0.7], [0.7, 2.0]], gamma=-3.0,
                                scales=[1.0, 0.5]).pairs
    out = _both(op)
    for i in range(species):
        for k in range(2):
            err = _relative(out["fmm"][0][i][k], out["direct"][0][i][k])
            assert err < 1e-9, (i, k, err)
        err = _relative(out["fmm"][1][i], out["direct"][1][i])
        assert err < 1e-9, (i, "contraction", err)


def test_fmm_tolerance_controls_the_error():
    """The error follows the tolerance: 1e-4 and 1e-8 against the direct sums (measured 4.2e-7 and 3.6e-11), on a box
    of 6859 points (FMM3D sums up to about a thousand points per leaf directly: smaller
    boxes do not use the expansions at tight tolerances)."""
    op = Landau(velocity_box(3, 4.0, 9), gamma=-3.0).pairs
    errs = []
    for tol in (1e-4, 1e-8):
        out = _both(op, tol)
        errs.append(max(_relative(out["fmm"][0][0][k], out["direct"][0][0][k]) for k in range(2)))
    print(f"\nFMM errors at tolerances 1e-4, 1e-8: {errs}")
    assert 1e-10 < errs[0] < 1e-3 and 1e-15 < errs[1] < 1e-6 and errs[1] < 1e-2 * errs[0], errs


def test_auto_takes_the_fmm_above_the_crossover():
    """``summation="auto"``: the FMM from ``fmm_crossover`` distinct sources (here lowered
    on the instance), the same sums as the direct ones after the switch (no stale
    coefficients), and the tolerance kept across switches."""
    model = Landau(velocity_box(3, 4.0, 3), gamma=-3.0)
    op = model.pairs
    assert op.summation_method == "direct"
    op.set_summation("fmm", 1e-6)
    op.set_summation("direct")
    op.fmm_crossover = 10
    op.set_summation("auto")
    assert op.summation_method == "fmm" and op.fmm_tolerance == 1e-6


def test_fmm_is_refused_where_it_does_not_apply():
    with pytest.raises(InvalidParameterError, match="3D Coulomb"):
        Landau(velocity_box(2, 4.0, 3), gamma=-3.0, summation="fmm")
    with pytest.raises(InvalidParameterError, match="3D Coulomb"):
        Landau(velocity_box(3, 4.0, 2), gamma=-2.0, summation="fmm")
    with pytest.raises(InvalidParameterError, match="summation must be"):
        Landau(velocity_box(3, 4.0, 2), gamma=-3.0, summation="multipole")
    with pytest.raises(InvalidParameterError, match="tolerance"):
        Landau(velocity_box(3, 4.0, 2), gamma=-3.0).pairs.set_summation("fmm", 0.0)
    # auto: direct below the crossover, and wherever the FMM does not apply
    assert Landau(velocity_box(3, 4.0, 2), gamma=-3.0).pairs.summation_method == "direct"
    assert Landau(velocity_box(3, 4.0, 2), gamma=-2.0).pairs.summation_method == "direct"


@pytest.mark.parallel(nprocs=2)
def test_fmm_sums_on_two_ranks():
    """Targets split over the ranks, sources gathered: on 2 ranks the FMM sums match the
    direct sums (themselves the same on 1 and 2 ranks: ``tests/test_landau.py``) within 1e-9."""
    op = Landau(velocity_box(3, 4.0, 3), gamma=-3.0).pairs
    out = _both(op)
    local = max(max(_relative(out["fmm"][0][0][k], out["direct"][0][0][k]) for k in range(2)),
                _relative(out["fmm"][1][0], out["direct"][1][0]))
    assert MPI.COMM_WORLD.allreduce(local, op=MPI.MAX) < 1e-9


def test_fmm_sums_vanish_on_the_collision_invariants():
    """For vectors along the gradients of the collision invariants, ``t = g = β + γ v`` at
    every point, ``Ĵ_q = Σ_p k_p a(v_q − v_p)(t_q − g_p) = 0`` (``a(z) z = 0``): the direct
    sums give it pair by pair; the FMM sums take the invariant part out before the
    expansions (:func:`~generic_fem.kernels.fmm_sums.invariant_fit`), so they give it to
    round-off at any tolerance (before: the tolerance relative to ``Ĝ t``, which left
    ``⟨ψ, M ψ⟩ < 0`` on the energy direction).  6859 points, where the expansions are
    used; and for vectors near an invariant the error is the tolerance relative to the
    deviation."""
    op = Landau(velocity_box(3, 4.0, 9), gamma=-3.0).pairs
    v = op.points[0]
    rng = np.random.default_rng(2)
    coeff = (rng.uniform(0.1, 1.0, size=len(v)) * op.weights)[None, :]
    psi = (np.array([0.3, -0.2, 0.5]) - 0.7 * v)[None, :, :]
    scale = None
    for method in ("direct", "fmm"):
        op.set_summation(method, 1e-4)
        G, J = op.pair_sums(psi, coeff, psi)[0]
        scale = np.max(np.abs(np.einsum("qab,qb->qa", G, psi[0])))
        rel = np.max(np.abs(J)) / scale
        print(f"\n{method}: max |J| / max |G t| = {rel:.1e}")
        assert rel < 1e-12, (method, rel)
    # near an invariant: the error scales with the deviation, not with the invariant part
    dev = 1e-6 * rng.normal(size=psi.shape)
    out = {}
    for method in ("direct", "fmm"):
        op.set_summation(method, 1e-4)
        out[method] = op.pair_sums(psi + dev, coeff, psi + dev)[0][1]
    err = np.max(np.abs(out["fmm"] - out["direct"])) / np.max(np.abs(out["direct"]))
    print(f"near the invariant (deviation 1e-6): relative error of J at tolerance 1e-4: {err:.1e}")
    assert err < 1e-2, err
