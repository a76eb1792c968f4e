"""Pair sums by FFT convolution on a uniform lattice (:mod:`generic_fem.kernels.lattice_sums`)
against the direct sums over the same distinct positions."""
import numpy as np
import pytest
import ufl
from mpi4py import MPI

from generic_fem import velocity_box, velocity_ball, InvalidParameterError
from generic_fem.kernels.lattice_sums import LatticeSums, uniform_lattice
from generic_fem.kernels.pair_summation import DistinctPositionSums
from generic_fem.kernels.pair_weights import PairWeight
from forms.landau import Landau
from forms.multispecies_landau import MultispeciesLandau
from helpers import random_pair_inputs


def _worst(op, seed=0):
    """The largest relative difference, lattice against direct, of Ĝ, Ĵ and the
    contractions, over the sets."""
    coeff, t, g, T = random_pair_inputs(op, seed)
    out = {}
    for method in ("direct", "lattice"):
        op.set_summation(method)
        out[method] = (op.pair_sums(t, coeff, g), op.pair_contractions(T))
    rel = lambda a, b: np.max(np.abs(a - b)) / np.max(np.abs(b))      # noqa: E731
    worst = 0.0
    for i in range(op.n_sets):
        for k in range(2):
            worst = max(worst, rel(out["lattice"][0][i][k], out["direct"][0][i][k]))
        worst = max(worst, rel(out["lattice"][1][i], out["direct"][1][i]))
    return worst


@pytest.mark.parametrize("case", ["2d-coulomb", "3d-coulomb", "2d-gamma-1", "3d-gamma-2", "two-species-2d",
                                  "two-species-3d"])
def test_lattice_sums_are_the_direct_sums(case):
    """The FFT convolution is the direct sum (coincident nodes of neighbouring cells
    merged, coincident pairs left out by both), not an approximation of it: Ĝ, Ĵ and the
    adjoint's contractions within 1e-12 relative for singular and growing kernels in 2D
    and 3D, on boxes that are not cubes, and for two species with scales 1 and 0.5 (one
    lattice holds both) and couplings c_ij."""
    dim = 3 if "3d" in case else 2
    mesh = velocity_box(dim, 4.0, 3 if dim == 3 else 5)
    if case.startswith("two-species"):
        op = MultispeciesLandau(mesh, masses=[1.0, 4.0], coupling=[[1.0, 0.7], [0.7, 2.0]], gamma=-3.0,
                                scales=[1.0, 0.5]).pairs
    else:
        gamma = {"coulomb": -3.0, "gamma-1": 1.0, "gamma-2": -2.0}[case.split("-", 1)[1]]
        op = Landau(mesh, gamma=gamma).pairs
    worst = _worst(op)
    print(f"\n{case}: lattice against direct {worst:.1e}")
    assert worst < 1e-12, worst


def test_lattice_sums_of_a_general_weight_on_a_rectangular_lattice():
    """A weight known only as UFL (screened Coulomb ``A = r e^{−r/2}``), points on a lattice
    with different spacings per axis, coincident copies and a shuffled order: the
    distinct-position sums within 1e-12."""
    rng = np.random.default_rng(3)
    gx, gy = np.linspace(-3.0, 3.0, 13), np.linspace(-2.0, 2.2, 8)
    base = np.array(np.meshgrid(gx, gy, indexing="ij")).reshape(2, -1).T
    pts = np.concatenate([base, base[::3]])[rng.permutation(len(base) + len(base[::3]))]
    weight = PairWeight(lambda r: r * ufl.exp(-r / 2), name="r e^{-r/2}")
    gather = lambda a: a      # noqa: E731 (one rank)
    coeff = rng.uniform(0.1, 1.0, size=(1, len(pts)))
    t, g = rng.normal(size=(1, len(pts), 2)), rng.normal(size=(1, len(pts), 2))
    T = rng.normal(size=(1, len(pts), 2, 2))
    T = T + np.swapaxes(T, -1, -2)
    one = np.ones((1, 1))
    direct = DistinctPositionSums([pts], weight, gather, MPI.COMM_SELF, {"pairs": 0})
    lattice = LatticeSums([pts], weight, gather, MPI.COMM_SELF, {"pairs": 0})
    assert lattice.applies(one)
    (G0, J0), = direct.sums(t, coeff, g, one)
    (G1, J1), = lattice.sums(t, coeff, g, one)
    K0, = direct.contractions(T, one)
    K1, = lattice.contractions(T, one)
    for a, b in ((G1, G0), (J1, J0), (K1, K0)):
        assert np.max(np.abs(a - b)) < 1e-12 * np.max(np.abs(b))


def test_uniform_lattice_recognises_lattices_only():
    rng = np.random.default_rng(1)
    g = np.linspace(-1.0, 1.0, 9)
    grid = np.array(np.meshgrid(g, 2 * g, indexing="ij")).reshape(2, -1).T
    origin, spacing, index = uniform_lattice(grid)
    assert np.allclose(spacing, [0.25, 0.5]) and np.array_equal(index.max(axis=0), [8, 8])
    # a disc cut out of it (a subset) and rounding noise of the mesh's coordinates
    disc = grid[np.einsum("pa,pa->p", grid / [1, 2], grid / [1, 2]) <= 1.0]
    disc = disc + 1e-15 * rng.normal(size=disc.shape)
    assert uniform_lattice(disc) is not None
    assert uniform_lattice(rng.uniform(size=(50, 3))) is None                      # scattered points
    graded = np.array(np.meshgrid(np.geomspace(1e-6, 1.0, 40), g, indexing="ij")).reshape(2, -1).T
    assert uniform_lattice(graded) is None                                          # would be a huge lattice
    gauss = np.add.outer(np.arange(4.0), [0.1127, 0.5, 0.8873]).ravel()             # Gauss points per cell
    assert uniform_lattice(gauss[:, None]) is None


def test_auto_takes_the_lattice_above_its_crossover_and_refuses_where_it_does_not_apply():
    """``summation="auto"``: the lattice from ``lattice_crossover`` distinct sources on a
    uniform box, the same sums after the switch; ``"lattice"`` where the points are on no
    lattice (a ball of simplices; species with incommensurate scales) is an error naming it."""
    model = Landau(velocity_box(2, 4.0, 3), gamma=-3.0)
    op = model.pairs
    assert op.summation_method == "direct"          # 49 points: below the crossover
    op.lattice_crossover = 10
    op.set_summation("auto")
    assert op.summation_method == "lattice"
    assert Landau(velocity_box(3, 4.0, 6), gamma=-3.0).pairs.summation_method == "lattice"   # 13³ points
    with pytest.raises(InvalidParameterError, match="uniform lattice"):
        Landau(velocity_ball(2, 4.0, 1), gamma=-3.0, summation="lattice")
    with pytest.raises(InvalidParameterError, match="uniform lattice"):
        MultispeciesLandau(velocity_box(2, 4.0, 3), masses=[1.0, 2.0], gamma=-3.0,
                           scales=[1.0, 2 ** -0.5], summation="lattice")
    with pytest.raises(InvalidParameterError, match="fill 0.021 of their common lattice"):
        # commensurate (0.3 = 3/10) but on a lattice 48 times finer than the nodes' spacing
        MultispeciesLandau(velocity_box(2, 4.0, 24), masses=[1.0, 2.0], gamma=-3.0,
                           scales=[1.0, 0.3], summation="lattice")
    ball = Landau(velocity_ball(2, 4.0, 1), gamma=-3.0).pairs
    ball.lattice_crossover = 10
    ball.set_summation("auto")
    assert ball.summation_method == "direct"


def test_lattice_sums_vanish_on_the_collision_invariants():
    """For ``t = g = β + γ v`` (gradients of the collision invariants) ``Ĵ = 0``: the FFT
    convolution's round-off is relative to its largest terms, so the invariant part is
    taken out first (:func:`~generic_fem.kernels.fmm_sums.invariant_fit`) and ``Ĵ`` is
    zero to round-off relative to ``Ĝ t``, and near an invariant the difference from the
    direct sums is round-off relative to the deviation."""
    op = Landau(velocity_box(3, 4.0, 6), gamma=-3.0).pairs
    v = op.points[0]
    rng = np.random.default_rng(2)
    coeff = (rng.uniform(0.1, 1.0, size=len(v)) * op.weights)[None, :]
    psi = (np.array([0.3, -0.2, 0.5]) - 0.7 * v)[None, :, :]
    op.set_summation("lattice")
    G, J = op.pair_sums(psi, coeff, psi)[0]
    rel = np.max(np.abs(J)) / np.max(np.abs(np.einsum("qab,qb->qa", G, psi[0])))
    print(f"\nlattice: max |J| / max |G t| = {rel:.1e}")
    assert rel < 1e-13, rel
    dev = 1e-8 * rng.normal(size=psi.shape)
    out = {}
    for method in ("direct", "lattice"):
        op.set_summation(method)
        out[method] = op.pair_sums(psi + dev, coeff, psi + dev)[0][1]
    err = np.max(np.abs(out["lattice"] - out["direct"])) / np.max(np.abs(out["direct"]))
    print(f"near the invariant (deviation 1e-8): relative difference of J {err:.1e}")
    assert err < 1e-6, err


@pytest.mark.parallel(nprocs=2)
def test_lattice_sums_on_two_ranks():
    """Targets split over the ranks, sources gathered, the whole lattice transformed on
    each: the direct sums within 1e-12 on 2 ranks, one species and two."""
    mesh = velocity_box(3, 4.0, 3)
    local = _worst(Landau(mesh, gamma=-3.0).pairs)
    local = max(local, _worst(MultispeciesLandau(mesh, masses=[1.0, 4.0], gamma=-3.0, scales=[1.0, 0.5]).pairs))
    assert MPI.COMM_WORLD.allreduce(local, op=MPI.MAX) < 1e-12


def test_sets_on_no_common_lattice_fall_back_to_the_pairs():
    """Two species with incommensurate scales (``1`` and ``1/√2``), each on its own
    lattice: uncoupled, each set's sums are convolutions on its lattice; a coupling
    pattern across them (the derivative with respect to ``c_12`` of the adjoint, or a
    parameter that becomes nonzero) falls back to the pairs of distinct positions
    instead of stopping the run; both within 1e-12 of the direct sums."""
    rng = np.random.default_rng(4)
    g = np.linspace(-2.0, 2.0, 9)
    base = np.array(np.meshgrid(g, g, indexing="ij")).reshape(2, -1).T
    sets = [base, np.round(2 ** -0.5 * base, 14)]
    weight = PairWeight.power(-3.0)
    gather = lambda a: a      # noqa: E731 (one rank)
    n = len(base)
    coeff = rng.uniform(0.1, 1.0, size=(2, n))
    t, gv = rng.normal(size=(2, n, 2)), rng.normal(size=(2, n, 2))
    T = rng.normal(size=(2, n, 2, 2))
    T = T + np.swapaxes(T, -1, -2)
    direct = DistinctPositionSums(sets, weight, gather, MPI.COMM_SELF, {"pairs": 0})
    lattice = LatticeSums(sets, weight, gather, MPI.COMM_SELF, {"pairs": 0})
    for coupling, on_lattice in ((np.diag([1.0, 2.0]), True), (np.array([[0.0, 1.0], [1.0, 0.0]]), False),
                                 (np.array([[1.0, 0.5], [0.5, 2.0]]), False)):
        assert lattice.applies(coupling) == on_lattice
        for (G0, J0), (G1, J1) in zip(direct.sums(t, coeff, gv, coupling), lattice.sums(t, coeff, gv, coupling)):
            assert np.max(np.abs(G1 - G0)) < 1e-12 * np.max(np.abs(G0))
            assert np.max(np.abs(J1 - J0)) < 1e-12 * np.max(np.abs(J0))
        for K0, K1 in zip(direct.contractions(T, coupling), lattice.contractions(T, coupling)):
            assert np.max(np.abs(K1 - K0)) < 1e-12 * np.max(np.abs(K0))
