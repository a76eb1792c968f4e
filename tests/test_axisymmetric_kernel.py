"""The azimuthally integrated Landau kernel of axisymmetric velocity space
(generic_fem.kernels.axisymmetric): its closed forms against a brute-force
high-precision quadrature of the 3D kernel over the relative azimuth, at random pairs
of points (near the axis, on it, near-coincident), and the two identities that make
the axisymmetric operator conserve parallel momentum and energy."""
import numpy as np
import pytest

from generic_fem.core.errors import InvalidParameterError
from generic_fem.kernels.axisymmetric import azimuthal_tensors, elliptic_k_t

mp = pytest.importorskip("mpmath")   # (Firedrake's sympy brings it)


def _brute(gamma, q, p):
    """``S_⊥⊥, S_⊥∥, S_∥∥, C_⊥⊥, C_∥⊥`` by tanh-sinh quadrature in 30 digits of the 3D
    kernel ``|u|^γ (|u|² I − u ⊗ u)`` over the source's azimuth."""
    r, z = (mp.mpf(float(x)) for x in q)
    rp, zp = (mp.mpf(float(x)) for x in p)

    def entry(phi, x, which):
        c, s = mp.cos(phi), mp.sin(phi)
        u = (r - rp * c, -rp * s, z - zp)
        Q = u[0] ** 2 + u[1] ** 2 + u[2] ** 2
        y = (c, s, 0) if which == "source" else (0, 0, 1) if which == "par" else (1, 0, 0)
        dot = lambda a, b: a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
        return Q ** (mp.mpf(gamma) / 2) * (Q * dot(x, y) - dot(x, u) * dot(y, u))

    er, ez = (1, 0, 0), (0, 0, 1)
    # (the integrands are even in φ; the near-singular point is φ = 0)
    avg = lambda f: float(mp.quad(f, [0, mp.pi / 16, mp.pi / 2, mp.pi]) / mp.pi)
    return np.array([avg(lambda t: entry(t, er, "perp")), avg(lambda t: entry(t, er, "par")),
                     avg(lambda t: entry(t, ez, "par")), avg(lambda t: entry(t, er, "source")),
                     avg(lambda t: entry(t, ez, "source"))])


def _pairs(rng, n):
    q = rng.uniform([0.0, -3.0], [3.0, 3.0], (n, 2))
    p = rng.uniform([0.0, -3.0], [3.0, 3.0], (n, 2))
    p[0] = q[0] + [1e-3, -2e-3]     # near-coincident (k' ~ 1e-3)
    q[1, 0] = 0.0                   # a target on the axis
    p[2, 0] = 1e-9                  # a source next to the axis (k ~ 1e-5)
    p[3] = [q[3, 0], q[3, 1] + 1e-6]   # the same radius, nearly the same v_∥
    return q, p


GAMMAS = [-3.0, -2.9, -2.5, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0]


@pytest.mark.parametrize("gamma", GAMMAS)
def test_kernel_matches_brute_force_azimuthal_quadrature(gamma):
    mp.mp.dps = 30
    q, p = _pairs(np.random.default_rng(7), 10)
    S, C = azimuthal_tensors(gamma, q, p)
    for i in range(len(q)):
        ref = _brute(gamma, q[i], p[i])
        mine = np.array([S[i, 0, 0], S[i, 0, 1], S[i, 1, 1], C[i, 0, 0], C[i, 1, 0]])
        assert np.max(np.abs(mine - ref)) <= 1e-12 * np.max(np.abs(ref)), (q[i], p[i], mine, ref)
    assert np.array_equal(S[:, 0, 1], S[:, 1, 0]) and np.array_equal(C[:, 0, 1], S[:, 0, 1])


@pytest.mark.parametrize("gamma", GAMMAS)
def test_momentum_and_energy_identities(gamma):
    """``e_∥ᵀ C(p, q) = e_∥ᵀ S(q, p)`` and ``(r, z) S(q, p) = (r', z') C(p, q)`` to
    round-off of the tensors' size, for 2000 random pairs (what makes the sums conserve
    parallel momentum and energy)."""
    rng = np.random.default_rng(3)
    q = rng.uniform([0.0, -4.0], [4.0, 4.0], (2000, 2))
    p = rng.uniform([0.0, -4.0], [4.0, 4.0], (2000, 2))
    Sqp, _ = azimuthal_tensors(gamma, q, p)
    _, Cpq = azimuthal_tensors(gamma, p, q)
    size = np.max(np.abs(Sqp), axis=(1, 2))
    assert np.all(np.abs(Cpq[:, 1, :] - Sqp[:, 1, :]).max(axis=1) <= 1e-14 * size)
    vq = np.einsum("na,nab->nb", q, Sqp)
    vp = np.einsum("na,nab->nb", p, Cpq)
    scale = size * np.maximum(np.linalg.norm(q, axis=1), np.linalg.norm(p, axis=1))
    assert np.all(np.abs(vq - vp).max(axis=1) <= 1e-13 * scale)


def test_elliptic_integrals_to_round_off():
    """``K`` and ``E`` of the arithmetic–geometric mean against scipy's, from ``k² = 1e-12``
    to ``k'² = 1e-12``; the stable ``(K − E)/k²`` against its series at small ``k``."""
    from scipy.special import ellipk, ellipe
    k2 = np.array([1e-12, 1e-6, 0.1, 0.5, 0.9, 0.999, 1 - 1e-9])
    kp2 = 1.0 - k2
    K, T = elliptic_k_t(k2, kp2)
    D = K * (0.5 + k2 * T)
    assert np.allclose(K * np.pi / 2, ellipk(k2), rtol=2e-15, atol=0)
    assert np.allclose((K - k2 * D) * np.pi / 2, ellipe(k2), rtol=4e-15, atol=0)
    small = k2[0]
    assert abs(D[0] - (0.5 + 3 * small / 16)) <= 1e-15      # (K̂ − Ê)/k² = ½ + 3k²/16 + …


def test_ring_limits_and_refusals():
    """A ring paired with itself takes the ``k = 1`` limits (finite for ``γ > −3``): the
    moments just off it approach them; ``γ`` outside ``[−3, 1]`` and negative radii are
    refused."""
    from generic_fem.kernels.axisymmetric import azimuthal_moments, ring_limits
    for gamma in (-1.0, 0.5, 1.0):
        _, G1, GY = azimuthal_moments(gamma, 1.0, 1.0, 1e-9)
        L1, LY = ring_limits(gamma)
        assert abs(G1 - 2.0 ** gamma * L1) <= 1e-6 * abs(G1) and abs(GY - 2.0 ** gamma * LY) <= 1e-6 * abs(GY)
    # γ = −2.5: the limit is approached like k'^{2(ν + 3/2)} = k'^{0.5}
    L1 = 2.0 ** -2.5 * ring_limits(-2.5)[0]
    off = [abs(azimuthal_moments(-2.5, 1.0, 1.0, dz)[1] - L1) / L1 for dz in (1e-3, 1e-6, 1e-9, 1e-12)]
    assert off[0] > off[1] > off[2] > off[3] and off[3] < 1e-6, off
    with pytest.raises(InvalidParameterError, match="outside"):
        azimuthal_tensors(1.5, [[1.0, 0.0]], [[2.0, 1.0]])
    with pytest.raises(InvalidParameterError, match="v_⊥ ≥ 0"):
        azimuthal_tensors(-3.0, [[-1.0, 0.0]], [[2.0, 1.0]])


@pytest.mark.parametrize("gamma", GAMMAS)
def test_compiled_sums_match_the_reference(gamma):
    """The compiled split sums against the NumPy reference, with coincident rings, rings
    on the axis and an axis point paired with itself among the pairs."""
    from generic_fem.kernels.axisymmetric import axisymmetric_pair_sums, compiled_pair_sums
    rng = np.random.default_rng(11)
    q = rng.uniform([0.0, -3.0], [3.0, 3.0], (120, 2))
    p = rng.uniform([0.0, -3.0], [3.0, 3.0], (200, 2))
    p[:20] = q[:20]
    p[20:30, 0] = 0.0
    q[30:40, 0] = 0.0
    p[30:40] = q[30:40]
    c = rng.uniform(0.1, 1.0, 200)
    g = rng.normal(size=(200, 2))
    t = rng.normal(size=(120, 2))
    G1, H1 = axisymmetric_pair_sums(gamma, q, t, p, c, g)
    G2, H2 = compiled_pair_sums(gamma, q, t, p, c, c[:, None] * g)
    assert np.all(np.isfinite(G2)) and np.all(np.isfinite(H2))
    assert np.abs(G1 - G2).max() <= 1e-14 * np.abs(G1).max()
    assert np.abs(H1 - H2).max() <= 1e-14 * np.abs(H1).max()


@pytest.mark.parametrize("gamma", [-3.0, -2.5, -2.0, 0.0, 1.0])
def test_unordered_pair_sums_match_the_ordered_ones(gamma):
    """The sums of one point set over itself from the unordered pairs (one evaluation of
    the moments per pair, both orientations) equal the ordered sums to round-off, with
    points on the axis and coincident positions; the rows may be shared among ranks in
    any split (here two interleaved halves) and add up."""
    from generic_fem.kernels.axisymmetric import symmetric_pair_sums, compiled_pair_sums
    rng = np.random.default_rng(3)
    n = 120
    pts = np.column_stack([rng.uniform(0, 3, n), rng.uniform(-3, 3, n)])
    pts[:4, 0] = 0.0
    c, b, t = rng.uniform(0.1, 1, n), rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    G1, H1 = compiled_pair_sums(gamma, pts, t, pts, c, b)
    G2, E2 = symmetric_pair_sums(gamma, pts, c, b, np.arange(n))
    H2 = np.einsum("qab,qb->qa", G2, t) - E2
    assert np.max(np.abs(G2 - G1)) <= 1e-13 * np.max(np.abs(G1))
    assert np.max(np.abs(H2 - H1)) <= 1e-13 * np.max(np.abs(H1))
    Ga, Ea = symmetric_pair_sums(gamma, pts, c, b, np.arange(0, n, 2))
    Gb, Eb = symmetric_pair_sums(gamma, pts, c, b, np.arange(1, n, 2))
    assert np.max(np.abs(Ga + Gb - G2)) <= 1e-13 * np.max(np.abs(G2))
    assert np.max(np.abs(Ea + Eb - E2)) <= 1e-13 * np.max(np.abs(E2))


@pytest.mark.parametrize("gamma", [-3.0, -2.5, 0.0, 1.0])
def test_contractions_are_the_derivative_of_the_sums(gamma):
    """The adjoint's pair sums ``K_t = Σ_s S(s, t) : T_s`` equal the derivative of
    ``Σ_s T_s : Ĝ_s`` in each source coefficient (computed column by column with the
    forward sums), with axis points and a source on a target, to round-off."""
    from generic_fem.kernels.axisymmetric import compiled_pair_sums, compiled_pair_contractions
    rng = np.random.default_rng(1)
    n, m = 30, 40
    tg = np.column_stack([rng.uniform(0, 3, n), rng.uniform(-3, 3, n)])
    tg[:3, 0] = 0.0
    src = np.column_stack([rng.uniform(0, 3, m), rng.uniform(-3, 3, m)])
    src[:2] = tg[:2]
    T = rng.normal(size=(n, 2, 2))
    T = 0.5 * (T + T.transpose(0, 2, 1))
    K = compiled_pair_contractions(gamma, src, tg, T)
    ref = np.empty(m)
    for p in range(m):
        c = np.zeros(m)
        c[p] = 1.0
        G, _ = compiled_pair_sums(gamma, tg, np.zeros((n, 2)), src, c, np.zeros((m, 2)))
        ref[p] = np.einsum("sij,sij->", T, G)
    assert np.max(np.abs(K - ref)) <= 1e-13 * np.max(np.abs(ref))
