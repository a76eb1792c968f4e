r"""The Landau kernel integrated over the relative azimuth: the pair tensors of
axisymmetric velocity space ``(v_⊥, v_∥)``.

For data invariant under rotations about the ``v_∥`` axis a point of the meridian
half-plane ``q = (r, z)`` (``r = v_⊥ ≥ 0``, ``z = v_∥``) stands for the ring
``v = (r cos φ, r sin φ, z)``.  The two-point sums of the Landau operator
(:mod:`generic_fem.kernels.pair_summation`),
``∫ f_* a(v − v_*)(∇g(v) − ∇g(v_*)) dv_*`` with ``a(u) = |u|^γ (|u|² I − u ⊗ u)``, then
need, for a target ``q`` in the plane ``φ = 0`` and a source ring ``p = (r', z')``,
the averages over the source's azimuth ``φ`` of

.. math::

   S_{ab}(q, p) = ⟨e_a · a(u)\, e_b⟩_φ, \qquad C_{ab}(q, p) = ⟨e_a · a(u)\, e'_b⟩_φ,
   \qquad a, b ∈ \{⊥, ∥\},

with ``u = v − v_*(φ)``, ``e_⊥ = (1, 0, 0)``, ``e_∥ = (0, 0, 1)`` at the target and
``e'_⊥ = (cos φ, sin φ, 0)``, ``e'_∥ = e_∥`` at the source (``∇g(v_*)`` has those
components): ``S`` acts on the target's gradient, ``C`` on the source's.  The measure
``2π r' dr' dz'`` of the ring is the source's weight, so ``⟨·⟩_φ = (1/2π)∫_0^{2π} · dφ``.

**Reduction.**  With ``y = sin²(φ/2)``, ``cos φ = 1 − 2y`` and

.. math::

   |u|^2 = Q = d^2 + 4 r r' y, \qquad d^2 = (r − r')^2 + (z − z')^2,
   \qquad u ⋅ e_⊥ = (r − r') + 2 r' y, \qquad u ⋅ e'_⊥ = (r − r') − 2 r y,

the entries are, exactly (``Δz = z − z'``, ``G_m = ⟨y^m Q^{γ/2}⟩_φ``,
``G_Y = G_1 − G_2 = ⟨y(1 − y) Q^{γ/2}⟩_φ``):

.. math::

   S_{⊥⊥} &= Δz^2 G_0 + 4 r'^2 G_Y, &
   S_{⊥∥} = S_{∥⊥} &= −Δz\,((r − r') G_0 + 2 r' G_1), &
   S_{∥∥} &= (r − r')^2 G_0 + 4 r r' G_1,

   C_{⊥⊥} &= Δz^2 (G_0 − 2 G_1) + 4 r r' G_Y, &
   C_{∥⊥} &= −Δz\,((r − r') G_0 − 2 r G_1), &
   C_{⊥∥} = S_{⊥∥},\ C_{∥∥} &= S_{∥∥}.

The averages are complete elliptic-type integrals: with ``P = (r + r')² + Δz²``,
``k² = 4 r r'/P`` and ``k'² = 1 − k² = d²/P`` (computed from ``d²``, not as ``1 − k²``),
``G_m = P^{γ/2} B_m``, ``B_m = (2/π)∫_0^{π/2} \cos^{2m}θ\,(1 − k^2 \sin^2θ)^{γ/2} dθ``:

* ``γ = −3`` (Coulomb): with ``K, E`` the complete elliptic integrals of modulus ``k``
  (normalised ``K̂ = 2K/π``, ``Ê = 2E/π``), ``B_0 = Ê/k'²``, ``B_1 = (K̂ − Ê)/k²`` and
  ``B_1 − B_2 = 2 K̂ T``.  ``K, E`` come from the arithmetic–geometric mean
  ``a_{n+1} = (a_n + b_n)/2``, ``b_{n+1} = \sqrt{a_n b_n}``, ``a_0 = 1``, ``b_0 = k'``,
  ``c_{n+1} = c_n^2/(4 a_{n+1})``, ``c_0 = k``: ``K = π/(2 a_∞)``,
  ``K − E = K Σ_n 2^{n−1} c_n²`` (Abramowitz & Stegun 17.6), to round-off in a few
  iterations.  ``(K − E)/k² = K(½ + k² T)`` and ``T = k^{−4} Σ_{n≥1} 2^{n−1} c_n²``
  (every ``c_n²``, ``n ≥ 1``, carries ``k⁴``) are summed without cancellation, so the
  entries keep their accuracy as ``k → 0`` (a ring near the axis) and as ``k' → 0``
  (near-coincident points, where ``G_0 ∼ 1/d²`` and ``G_1 ∼ \log(1/k')``).
* ``γ = −2``: ``B_0 = 1/k'``, ``B_1 = 1/(1 + k')``, ``B_1 − B_2 = 1/(2(1 + k')²)``.
* ``γ = 0``: ``B_0 = 1``, ``B_1 = ½``, ``B_1 − B_2 = ⅛``.
* any other ``γ ∈ (−3, 1]`` (``ν = γ/2``): ``B_m = ((½)_m/m!)\,₂F₁(−ν, ½; m + 1; k²)``.  For
  ``k² ≤ ½`` the power series in ``k²`` (``B_m = Σ_n ((−ν)_n/n!) k^{2n} β(n, m)``,
  ``β(n, m) = (½)_n (½)_m/(n + m)!``; ``B_1 − B_2`` summed as one series, 64 terms); for
  ``k² > ½`` the connection formula to ``k'²`` (Abramowitz & Stegun 15.3.6: two series
  in ``k'² < ½`` with Gamma-function weights and the factor ``k'^{2(m + ν + ½)}`` that
  carries the singularity), and for ``ν = ±½`` (``γ = ±1``, where that formula has its
  logarithmic case) the elliptic forms ``B_0 = K̂``, ``B_1 = K̂ − (K̂ − Ê)/k²``
  (``γ = −1``) and ``B_0 = Ê``, ``B_1 = (2K̂ − (1 + k²)(K̂ − Ê)/k²)/3`` (``γ = 1``; ``B_Y``
  from ``∫Δ³``, ``∫Δ⁵`` by their recurrence).  Near a half-integer ``ν`` the two terms
  of the connection formula cancel: ``γ = −2.9`` loses about one digit (measured 5e-15),
  ``γ = −0.9999``, ``−2.9999``, ``0.9999`` about three (9e-13, 1e-12, 7e-13).
  A ring paired with itself (``k = 1``) takes the limits ``B_1 = Γ(ν + 3/2)/(\sqrt{π} Γ(ν + 2))``,
  ``B_Y = Γ(ν + 3/2)/(2\sqrt{π} Γ(ν + 3))`` (:func:`ring_limits`).  (The compiled code
  evaluates the same series as Taylor polynomials about ``¼``: :func:`_general_moments_c`.)

Coincident points (``d = 0``: the same ring) have ``G_0 = ∞`` for ``γ ≤ −1``: like
coincident points of the Cartesian sums, the pair is left out (its integrand is
integrable in 3D, not at one point of a rule).  A point on the axis (``r = 0``) is a
ring of radius 0: ``k = 0`` and the formulas hold as they stand.

Conservation rests on two identities the formulas satisfy term by term (a tested
property): ``e_∥ᵀ C(p, q) = e_∥ᵀ S(q, p)`` (parallel momentum: ``C_{∥b}(p, q)`` is
``S_{∥b}(q, p)`` written with ``p`` and ``q`` exchanged) and
``(r, z)\, S(q, p) = (r', z')\, C(p, q)`` (energy: ``a(u) u = 0``, averaged).

A reference implementation in NumPy (vectorised over pairs), against which the compiled
pair loop is checked; PETSc's ``land_tensors.h`` (``DMPlexLandau``) states the same
azimuthal integrals for ``γ = −3`` with polynomial fits of ``K, E``.
"""
import functools

import numpy as np

from ..core.errors import InvalidParameterError

__all__ = ["AXISYMMETRIC_GAMMAS", "elliptic_k_t", "ring_limits", "azimuthal_moments", "azimuthal_tensors",
           "axisymmetric_pair_sums", "compiled_pair_sums"]

#: the exponents ``γ`` with an elementary or elliptic closed form (fast paths); any other
#: ``γ ∈ [−3, 1]`` goes through series and the hypergeometric connection formula
AXISYMMETRIC_GAMMAS = (-3.0, -2.0, 0.0)


def elliptic_k_t(k2, kp2, iterations=8):
    """``(K̂, T)`` for ``k² = k2`` and ``k'² = kp2 = 1 − k²`` (arrays, given separately so that
    neither is formed by cancellation): ``K̂ = 2K(k)/π`` and
    ``T = k^{−4} Σ_{n≥1} 2^{n−1} c_n²`` of the arithmetic–geometric mean (module
    docstring), so that ``(K − E)/k² = K(½ + k² T)``.  Eight iterations reach round-off
    for ``k'² ≥ 1e-60`` (measured against scipy's ``ellipkm1``: 1e-15 there, 7e-12 at
    1e-80, 3e-3 at 1e-300; the AGM needs about ``log₂ log(1/k')`` steps before it
    converges quadratically).  Pairs of a mesh are far above that: coincident points
    (``k' = 0``) are snapped together and left out."""
    k2 = np.asarray(k2, dtype=float)
    kp = np.sqrt(np.asarray(kp2, dtype=float))
    a, b = 0.5 * (1.0 + kp), np.sqrt(kp)              # a_1, b_1 (a_0 = 1, b_0 = k')
    c2 = (k2 / (2.0 * (1.0 + kp))) ** 2               # c_1² = ((1 − k')/2)²
    sigma = 0.25 / (1.0 + kp) ** 2                    # σ_1 = c_1²/k⁴
    T = sigma.copy()
    weight = 1.0                                      # 2^{n−1}
    for _ in range(iterations):
        a_next, b = 0.5 * (a + b), np.sqrt(a * b)
        factor = c2 / (16.0 * a_next ** 2)           # c_{n+1}² = c_n⁴/(16 a_{n+1}²)
        sigma = sigma * factor
        c2 = c2 * factor
        weight *= 2.0
        T = T + weight * sigma
        a = a_next
    return 1.0 / a, T


def _series_B(nu, k2, terms=64):
    """``(B_0, B_1, B_Y)`` by their power series in ``k²`` (``k² ≤ ½``: ratio ≤ ½):
    ``B_m = Σ_n ((−ν)_n/n!) k^{2n} β(n, m)``, ``B_Y = Σ_n ((−ν)_n/n!) k^{2n} β(n+1, 1)``,
    ``β(n, m) = (2/π)∫ sin^{2n} cos^{2m} = (½)_n (½)_m/(n+m)!``."""
    coef = np.ones_like(k2)          # (−ν)_n k^{2n}/n!
    b0, b1, bY = 1.0, 0.5, 0.125     # β(n,0), β(n,1), β(n+1,1) at n = 0
    B0, B1, BY = coef * b0, coef * b1, coef * bY
    for n in range(terms):
        coef = coef * (n - nu) / (n + 1) * k2
        b0 *= (n + 0.5) / (n + 1)
        b1 *= (n + 0.5) / (n + 2)
        bY *= (n + 1.5) / (n + 3)
        B0, B1, BY = B0 + coef * b0, B1 + coef * b1, BY + coef * bY
    return B0, B1, BY


def _hyp2f1_series(a, b, c, z, terms=64):
    """``₂F₁(a, b; c; z)`` by its series (``|z| ≤ ½``)."""
    term = np.ones_like(z)
    out = term.copy()
    for n in range(terms):
        term = term * (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        out = out + term
    return out


def _connection_B(nu, k2, kp2):
    """``B_m = ((½)_m/m!) ₂F₁(−ν, ½; m + 1; k²)`` for ``k² > ½`` by the connection formula
    to ``1 − k² = k'²`` (Abramowitz & Stegun 15.3.6; ``ν`` not a half-integer), ``m = 0, 1, 2``:
    ``(B_0, B_1, B_Y = B_1 − B_2)``."""
    from scipy.special import gamma as G, rgamma as rG
    a, b = -nu, 0.5
    B = []
    for m, cm in ((0, 1.0), (1, 0.5), (2, 0.375)):
        c = m + 1.0
        delta = c - a - b
        A1 = G(c) * G(delta) * rG(c - a) * rG(c - b)
        A2 = G(c) * G(-delta) * rG(a) * rG(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            F = A1 * _hyp2f1_series(a, b, 1.0 - delta, kp2) + A2 * kp2 ** delta * _hyp2f1_series(c - a, c - b, 1.0 + delta, kp2)
        B.append(cm * F)
    return B[0], B[1], B[1] - B[2]


def _half_integer_B(nu, K, T, k2, kp2):
    """``(B_0, B_1, B_Y)`` for ``ν = ∓½`` (``γ = ∓1``) from ``K̂, T`` (module docstring);
    for ``k² > ½`` (``B_Y`` of ``ν = ½`` divides by ``k⁴``)."""
    D = K * (0.5 + k2 * T)
    E = K - k2 * D
    if nu == -0.5:
        return K, K - D, (D - 2.0 * K * T) / 3.0
    d3 = (2.0 * (2.0 - k2) * E - kp2 * K) / 3.0        # (2/π)∫Δ³
    d5 = (4.0 * (2.0 - k2) * d3 - 3.0 * kp2 * E) / 5.0  # (2/π)∫Δ⁵
    s2 = (d3 - d5) / k2                                 # (2/π)∫ sin²θ Δ³
    return E, (2.0 * K - D - k2 * D) / 3.0, (d3 - 2.0 * s2) / (3.0 * k2)


def ring_limits(gamma):
    r"""``(B_1, B_Y)`` at ``k = 1`` (a ring paired with itself, ``γ > −3``):
    ``Γ(ν+3/2)/(\sqrt{π} Γ(ν+2))`` and ``Γ(ν+3/2)/(2\sqrt{π} Γ(ν+3))``, ``ν = γ/2``."""
    from math import gamma as G, pi, sqrt
    nu = 0.5 * float(gamma)
    return G(nu + 1.5) / (sqrt(pi) * G(nu + 2.0)), G(nu + 1.5) / (2.0 * sqrt(pi) * G(nu + 3.0))


def azimuthal_moments(gamma, r, rp, dz):
    """``(G_0, G_1, G_Y)``: the azimuthal averages ``⟨Q^{γ/2}⟩``, ``⟨y Q^{γ/2}⟩`` and
    ``⟨y(1 − y) Q^{γ/2}⟩`` for targets at radius ``r``, sources at radius ``rp`` and
    ``dz = z − z'`` (arrays; module docstring), for any ``γ ∈ [−3, 1]``.  Coincident
    points give ``inf``/``nan`` in ``G_0`` (and, for ``γ = −3``, in all three): leave them
    out or use :func:`ring_limits`."""
    gamma = float(gamma)
    if not -3.0 <= gamma <= 1.0:
        raise InvalidParameterError(f"axisymmetric Landau kernel: γ = {gamma:g} is outside [-3, 1]")
    r, rp, dz = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (r, rp, dz)))
    d2 = (r - rp) ** 2 + dz ** 2
    P = (r + rp) ** 2 + dz ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        k2 = 4.0 * r * rp / P
        kp2 = d2 / P
        if gamma == -3.0:
            K, T = elliptic_k_t(k2, kp2)
            D = K * (0.5 + k2 * T)              # (K̂ − Ê)/k²
            E = K - k2 * D
            scale = P ** -1.5
            return scale * E / kp2, scale * D, scale * 2.0 * K * T
        if gamma == -2.0:
            kp = np.sqrt(kp2)
            return 1.0 / (P * kp), 1.0 / (P * (1.0 + kp)), 0.5 / (P * (1.0 + kp) ** 2)
        if gamma == 0.0:
            one = np.ones_like(P)
            return one, 0.5 * one, 0.125 * one
        nu = 0.5 * gamma
        small = k2 <= 0.5
        B0, B1, BY = (np.empty_like(P) for _ in range(3))
        if np.any(small):
            B0[small], B1[small], BY[small] = _series_B(nu, k2[small])
        big = ~small
        if np.any(big):
            if nu in (-0.5, 0.5):
                K, T = elliptic_k_t(k2[big], kp2[big])
                B0[big], B1[big], BY[big] = _half_integer_B(nu, K, T, k2[big], kp2[big])
            else:
                B0[big], B1[big], BY[big] = _connection_B(nu, k2[big], kp2[big])
        scale = P ** nu
        return scale * B0, scale * B1, scale * BY


def azimuthal_tensors(gamma, q, p):
    """``(S, C)``, each ``n × 2 × 2`` in the basis ``(e_⊥, e_∥)``, for target points
    ``q`` and source points ``p`` (``n × 2`` arrays of ``(v_⊥, v_∥)``, paired row by row;
    module docstring)."""
    q, p = np.atleast_2d(q).astype(float), np.atleast_2d(p).astype(float)
    r, z = q[:, 0], q[:, 1]
    rp, zp = p[:, 0], p[:, 1]
    if np.any(r < 0) or np.any(rp < 0):
        raise InvalidParameterError("axisymmetric points must have v_⊥ ≥ 0")
    dz = z - zp
    G0, G1, GY = azimuthal_moments(gamma, r, rp, dz)
    dr = r - rp
    S = np.empty((len(q), 2, 2))
    C = np.empty((len(q), 2, 2))
    S[:, 0, 0] = dz ** 2 * G0 + 4.0 * rp ** 2 * GY
    S[:, 0, 1] = S[:, 1, 0] = -dz * (dr * G0 + 2.0 * rp * G1)
    S[:, 1, 1] = dr ** 2 * G0 + 4.0 * r * rp * G1
    C[:, 0, 0] = dz ** 2 * (G0 - 2.0 * G1) + 4.0 * r * rp * GY
    C[:, 0, 1] = S[:, 0, 1]
    C[:, 1, 0] = -dz * (dr * G0 - 2.0 * r * G1)
    C[:, 1, 1] = S[:, 1, 1]
    return S, C


def axisymmetric_pair_sums(gamma, targets, target_vectors, points, coeffs, vectors, block_pairs=2 ** 20):
    r"""``(Ĝ, Ĵ)`` at the targets: ``Ĝ_q = Σ_p c_p S(q, p)`` (``n × 2 × 2``) and
    ``Ĵ_q = Σ_p c_p (S(q, p) t_q − C(q, p) g_p)`` (``n × 2``) for targets ``q`` with vectors
    ``t_q`` and sources ``p`` with coefficients ``c_p`` and vectors ``g_p`` (points as
    ``(v_⊥, v_∥)``; NumPy, blocked over targets).  A pair of the same point (the same
    ring) is kept where its tensors are finite, ``γ > −3`` (the ring's interaction with
    itself over the relative azimuth: its ``G_0`` terms carry ``d² = 0``), and left out
    for ``γ = −3``, where it diverges logarithmically (as the 3D kernel's self-pair is
    left out by the Cartesian sums), and for a point on the axis (a ring of radius 0:
    the 3D self-pair)."""
    targets = np.asarray(targets, dtype=float)
    t = np.asarray(target_vectors, dtype=float)
    x = np.asarray(points, dtype=float)
    c = np.asarray(coeffs, dtype=float)
    g = np.asarray(vectors, dtype=float)
    nt, ns = len(targets), len(x)
    G = np.zeros((nt, 2, 2))
    H = np.zeros((nt, 2))
    if ns == 0 or nt == 0:
        return G, H
    rp, zp = x[None, :, 0], x[None, :, 1]
    step = max(1, block_pairs // ns)
    for b0 in range(0, nt, step):
        q = targets[b0:b0 + step]
        r, z = q[:, 0:1], q[:, 1:2]
        dz, dr = z - zp, r - rp
        same = (dz == 0) & (dr == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            G0, G1, GY = azimuthal_moments(gamma, r, rp, dz)
        G0 = np.where(same, 0.0, G0)           # (multiplied by d² = 0 there)
        if gamma > -3.0:                       # the ring with itself: the k = 1 limits
            L1, LY = ring_limits(gamma)
            with np.errstate(divide="ignore"):
                scale = np.where(same, (2.0 * r) ** gamma, 0.0)     # P^{γ/2}, P = 4r²
            G1 = np.where(same, scale * L1, G1)
            GY = np.where(same, scale * LY, GY)
        # left out: the same ring for γ = −3, and a point on the axis with itself (a
        # ring of radius 0: the 3D self-pair)
        dead = same & ((gamma == -3.0) | (r == 0))
        G1 = np.where(dead, 0.0, G1)
        GY = np.where(dead, 0.0, GY)
        S00 = dz ** 2 * G0 + 4.0 * rp ** 2 * GY
        S01 = -dz * (dr * G0 + 2.0 * rp * G1)
        S11 = dr ** 2 * G0 + 4.0 * r * rp * G1
        C00 = dz ** 2 * (G0 - 2.0 * G1) + 4.0 * r * rp * GY
        C10 = -dz * (dr * G0 - 2.0 * r * G1)
        tb = t[b0:b0 + step]
        G[b0:b0 + step, 0, 0] = S00 @ c
        G[b0:b0 + step, 0, 1] = G[b0:b0 + step, 1, 0] = S01 @ c
        G[b0:b0 + step, 1, 1] = S11 @ c
        # pairwise: S t_q − C g_p (the C_{·∥} column is S's)
        H[b0:b0 + step, 0] = ((S00 * tb[:, 0:1] - C00 * g[None, :, 0]) * c).sum(axis=1) \
            + (S01 * (tb[:, 1:2] - g[None, :, 1]) * c).sum(axis=1)
        H[b0:b0 + step, 1] = ((S01 * tb[:, 0:1] - C10 * g[None, :, 0]) * c).sum(axis=1) \
            + (S11 * (tb[:, 1:2] - g[None, :, 1]) * c).sum(axis=1)
    return G, H


# ------------------------------------------------------------------ compiled sums
# The pair loops' shared C: the ring pair (r, z) ← (rp, zp) with dz, dr, d² and P, the
# moments G0, G1, GY (%(MOMENTS)s, per γ; ok = 0 for a pair left out), and the tensors
# S (on the target's gradient) and C (on the source's) of the ordered pair.
_PAIR_C = """            const double rp = xr[p], dz = z - xz[p], dr = r - rp;
            const double d2 = dr*dr + dz*dz, P = (r + rp)*(r + rp) + dz*dz;
            double G0, G1, GY, ok = 1.0;
%(MOMENTS)s
            if (d2 == 0.0) G0 = 0.0;          /* (multiplied by d² = 0) */"""
_TENSORS_C = """            const double S00 = ok*(dz*dz*G0 + 4.0*rp*rp*GY);
            const double S01 = -ok*dz*(dr*G0 + 2.0*rp*G1);
            const double S11 = ok*(dr*dr*G0 + 4.0*r*rp*G1);
            const double C00 = ok*(dz*dz*(G0 - 2.0*G1) + 4.0*r*rp*GY);
            const double C10 = -ok*dz*(dr*G0 - 2.0*r*G1);"""


def _loop_source(template, gamma):
    """A pair loop's C source for ``γ`` (its ``%(PAIR)s`` and ``%(TENSORS)s`` filled in)."""
    return template % {"PAIR": _PAIR_C % {"MOMENTS": _moments_c(gamma)}, "TENSORS": _TENSORS_C}


# The split sums Ĝ_q = Σ_p c_p S(q, p), Ĵ_q = Σ_p (S(q, p) c_p t_q − C(q, p) b_p) (b_p = c_p g_p,
# or merged over coincident sources), per target; sources (r', z', c, b0, b1) as arrays.
# %(MOMENTS)s sets G0, G1, GY (and ok = 0 for a pair left out) from r, rp, dz, d2, P.
_AXI_LOOP = r"""
#include <math.h>
#define BLOCK 512
void axi_sums(long nt, const double *restrict y, const double *restrict yt, long ns,
              const double *restrict src, double *restrict G, double *restrict H)
{
    const double *xr = src, *xz = src + ns, *c = src + 2*ns, *b0 = src + 3*ns, *b1 = src + 4*ns;
    for (long t = 0; t < nt; ++t) { G[3*t] = G[3*t+1] = G[3*t+2] = 0.0; H[2*t] = H[2*t+1] = 0.0; }
    for (long s0 = 0; s0 < ns; s0 += BLOCK) {
        long s1 = s0 + BLOCK < ns ? s0 + BLOCK : ns;
        for (long t = 0; t < nt; ++t) {
            const double r = y[2*t], z = y[2*t+1], t0 = yt[2*t], t1 = yt[2*t+1];
            double a00 = 0, a01 = 0, a11 = 0, h0 = 0, h1 = 0;
            #pragma omp simd reduction(+:a00,a01,a11,h0,h1)
            for (long p = s0; p < s1; ++p) {
%(PAIR)s
%(TENSORS)s
                const double cp = c[p], u1 = cp*t1 - b1[p];
                a00 += cp*S00; a01 += cp*S01; a11 += cp*S11;
                h0 += S00*cp*t0 - C00*b0[p] + S01*u1;
                h1 += S01*cp*t0 - C10*b0[p] + S11*u1;
            }
            G[3*t] += a00; G[3*t+1] += a01; G[3*t+2] += a11;
            H[2*t] += h0; H[2*t+1] += h1;
        }
    }
}
"""

# The same sums over the unordered pairs of one point set (targets = sources): the
# moments G0, G1, GY are symmetric in the two rings, so one evaluation serves both
# orientations.  For the source i and target p the tensors are those of (p, i) with
# r ↔ r', dz, dr → −dz, −dr: S'00 = dz² G0 + 4r² GY, S'01 = C10, S'11 = S11,
# C'00 = C00, C'10 = S01.  Rows i (given) against p ≥ i; out (5 × n, accumulated):
# Ĝ00, Ĝ01, Ĝ11, E0 = Σ C00 b0 + S01 b1, E1 = Σ C10 b0 + S11 b1.
_AXI_SYM_LOOP = r"""
#include <math.h>
void axi_sym(long n, const double *restrict xr, const double *restrict xz, const double *restrict c,
             const double *restrict b0, const double *restrict b1, long nrows, const long *restrict rows,
             double *restrict out)
{
    double *g00 = out, *g01 = out + n, *g11 = out + 2*n, *e0 = out + 3*n, *e1 = out + 4*n;
    for (long k = 0; k < nrows; ++k) {
        const long i = rows[k];
        const double r = xr[i], z = xz[i], ci = c[i], bi0 = b0[i], bi1 = b1[i];
        double a00 = 0, a01 = 0, a11 = 0, s0 = 0, s1 = 0;
        #pragma omp simd reduction(+:a00,a01,a11,s0,s1)
        for (long p = i; p < n; ++p) {
%(PAIR)s
%(TENSORS)s
            const double cp = c[p], m = (p == i) ? 0.0 : 1.0, ws = m*ci;
            a00 += cp*S00; a01 += cp*S01; a11 += cp*S11;
            s0 += C00*b0[p] + S01*b1[p];
            s1 += C10*b0[p] + S11*b1[p];
            /* (every p: a branch here would cost the vectorisation) */
            g00[p] += ws*ok*(dz*dz*G0 + 4.0*r*r*GY); g01[p] += ws*C10; g11[p] += ws*S11;
            e0[p] += m*(C00*bi0 + C10*bi1);
            e1[p] += m*(S01*bi0 + S11*bi1);
        }
        g00[i] += a00; g01[i] += a01; g11[i] += a11; e0[i] += s0; e1[i] += s1;
    }
}
"""

# The contractions the adjoint needs: K_t = Σ_s S(s, t) : T_s, the derivative of
# Σ_s T_s : Ĝ_s in the coefficient c_t of the source t (S(s, t): target s, source t).
# In the variables of the target t (r, z its ring, dz = z − z_s, dr = r − r_s) its
# entries are S(s, t)_00 = dz² G0 + 4r² GY, S(s, t)_01 = C10, S(s, t)_11 = S11 (the
# reversed pair above); T as (T00, T01, T11), the off-diagonal counted twice.
_AXI_CONTRACT_LOOP = r"""
#include <math.h>
void axi_contract(long nt, const double *restrict y, long ns, const double *restrict src,
                  double *restrict out)
{
    const double *xr = src, *xz = src + ns, *T00 = src + 2*ns, *T01 = src + 3*ns, *T11 = src + 4*ns;
    for (long t = 0; t < nt; ++t) {
        const double r = y[2*t], z = y[2*t+1];
        double acc = 0.0;
        #pragma omp simd reduction(+:acc)
        for (long p = 0; p < ns; ++p) {
%(PAIR)s
            const double A00 = ok*(dz*dz*G0 + 4.0*r*r*GY);
            const double A01 = -ok*dz*(dr*G0 - 2.0*r*G1);
            const double A11 = ok*(dr*dr*G0 + 4.0*r*rp*G1);
            acc += A00*T00[p] + 2.0*A01*T01[p] + A11*T11[p];
        }
        out[t] = acc;
    }
}
"""

# K̂, T of the arithmetic–geometric mean (elliptic_k_t) from kp, k2; sets K, T, D, E
_AGM_C = r"""
                double a = 0.5*(1.0 + kp), b = sqrt(kp);
                double c2 = k2/(2.0*(1.0 + kp)); c2 *= c2;
                double sigma = 0.25/((1.0 + kp)*(1.0 + kp)), T = sigma, w = 1.0;
                for (int it = 0; it < 8; ++it) {
                    const double an = 0.5*(a + b);
                    b = sqrt(a*b);
                    const double f = c2/(16.0*an*an);
                    sigma *= f; c2 *= f; w *= 2.0; T += w*sigma; a = an;
                }
                const double K = 1.0/a, D = K*(0.5 + k2*T), E = K - k2*D;"""

_MOMENTS_C = {
    # Coulomb: K̂, T of the AGM (elliptic_k_t); the same ring (d² = 0) and a ring of
    # radius 0 with itself (P = 0) are left out
    -3.0: r"""
                if (d2 == 0.0 || P == 0.0) ok = 0.0;
                const double Ps = ok > 0.0 ? P : 1.0, k2 = ok > 0.0 ? 4.0*r*rp/Ps : 0.0;
                const double kp2 = ok > 0.0 ? d2/Ps : 1.0, kp = sqrt(kp2);""" + _AGM_C + r"""
                const double scale = 1.0/(Ps*sqrt(Ps));
                G0 = scale*E/kp2; G1 = scale*D; GY = scale*2.0*K*T;""",
    -2.0: r"""
                if (P == 0.0) ok = 0.0;
                const double Ps = ok > 0.0 ? P : 1.0, kp = sqrt(d2/Ps);
                G0 = kp > 0.0 ? 1.0/(Ps*kp) : 0.0; G1 = 1.0/(Ps*(1.0 + kp)); GY = 0.5/(Ps*(1.0 + kp)*(1.0 + kp));""",
    0.0: r"""
                G0 = 1.0; G1 = 0.5; GY = 0.125;""",
}





def _horner(name, coeffs, z):
    """C: ``name = Σ_n coeffs[n] z^n`` (Horner; the coefficients as literals)."""
    body = f"double {name} = {coeffs[-1]!r};"
    for c in coeffs[-2::-1]:
        body += f" {name} = {name}*{z} + {c!r};"
    return body


def _taylor_2f1(a, b, c, z0, terms):
    """The Taylor coefficients of ``₂F₁(a, b; c; z)`` about ``z0``:
    ``(a)_n (b)_n/((c)_n n!) ₂F₁(a + n, b + n; c + n; z0)`` (mpmath, 30 digits)."""
    import mpmath as mp
    with mp.workdps(30):
        a, b, c, z0 = (mp.mpf(x) for x in (a, b, c, z0))
        out, lead = [], mp.mpf(1)
        for n in range(terms):
            out.append(float(lead * mp.hyp2f1(a + n, b + n, c + n, z0)))
            lead = lead * (a + n) * (b + n) / ((c + n) * (n + 1))
    return out


def _general_moments_c(gamma, terms=40, centre=0.25):
    """The C moments for any ``γ ∈ (−3, 1]`` (``ν = γ/2``): for ``k² ≤ ½``,
    ``B_0 = ₂F₁(−ν, ½; 1; k²)``, ``B_1 = ½ ₂F₁(−ν, ½; 2; k²)``, ``B_Y = ⅛ ₂F₁(−ν, 3/2; 3; k²)``;
    above it the elliptic forms (``ν = ±½``) or the connection formula with its two
    series in ``k'²`` (the formulas of :func:`azimuthal_moments`).  Every series is a
    Taylor polynomial about ``¼`` (the middle of its interval ``[0, ½]``, a third of the
    way to the singularity at 1: 40 terms reach round-off, where the series about 0
    needs 64), its coefficients computed here in 30 digits and written into the code;
    ``k'^{2δ_m}`` is one ``pow`` for ``m = 0, 1, 2``."""
    from scipy.special import gamma as G, rgamma as rG
    nu = 0.5 * float(gamma)
    small = [[x * w for x in _taylor_2f1(-nu, b, c, centre, terms)]
             for b, c, w in ((0.5, 1.0, 1.0), (0.5, 2.0, 0.5), (1.5, 3.0, 0.125))]
    L1, LY = ring_limits(gamma)
    code = [f"""
                if (P == 0.0) ok = 0.0;
                const double Ps = ok > 0.0 ? P : 1.0, k2 = 4.0*r*rp/Ps, kp2 = d2/Ps;
                const double scale = pow(Ps, {nu!r});
                double B0, B1, BY;
                if (d2 == 0.0) {{ B0 = 0.0; B1 = {L1!r}; BY = {LY!r}; }}
                else if (k2 <= 0.5) {{
                    const double x = k2 - {centre!r};
                    {_horner("s0", small[0], "x")}
                    {_horner("s1", small[1], "x")}
                    {_horner("sY", small[2], "x")}
                    B0 = s0; B1 = s1; BY = sY;
                }} else {{"""]
    if nu in (-0.5, 0.5):
        code.append("                const double kp = sqrt(kp2);" + _AGM_C)
        if nu == -0.5:
            code.append("                B0 = K; B1 = K - D; BY = (D - 2.0*K*T)/3.0;")
        else:
            code.append("""
                const double d3 = (2.0*(2.0 - k2)*E - kp2*K)/3.0, d5 = (4.0*(2.0 - k2)*d3 - 3.0*kp2*E)/5.0;
                B0 = E; B1 = (2.0*K - D - k2*D)/3.0; BY = (d3 - 2.0*(d3 - d5)/k2)/(3.0*k2);""")
    else:
        a, b = -nu, 0.5
        delta0 = 1.0 - a - b
        parts = [f"""
                    const double z = kp2 - {centre!r}, q0 = pow(kp2, {float(delta0)!r}), q1 = q0*kp2, q2 = q1*kp2;"""]
        for m, cm in ((0, 1.0), (1, 0.5), (2, 0.375)):
            c = m + 1.0
            delta = c - a - b
            A1 = cm * G(c) * G(delta) * rG(c - a) * rG(c - b)
            A2 = cm * G(c) * G(-delta) * rG(a) * rG(b)
            t1 = _taylor_2f1(a, b, 1.0 - delta, centre, terms)
            t2 = _taylor_2f1(c - a, c - b, 1.0 + delta, centre, terms)
            parts.append(f"""
                    {_horner(f"u{m}", t1, "z")}
                    {_horner(f"v{m}", t2, "z")}
                    const double F{m} = {float(A1)!r}*u{m} + {float(A2)!r}*q{m}*v{m};""")
        code.append("".join(parts))
        code.append("                B0 = F0; B1 = F1; BY = F1 - F2;")
    code.append("""                }
                G0 = scale*B0; G1 = scale*B1; GY = scale*BY;""")
    return "\n".join(code)


def _moments_c(gamma):
    return _MOMENTS_C[gamma] if gamma in _MOMENTS_C else _general_moments_c(gamma)


@functools.lru_cache(maxsize=None)
def _load(gamma):
    """The compiled sums for ``γ`` (generated, compiled and loaded once per process: the
    series coefficients of a general ``γ`` take mpmath some 30 ms)."""
    import ctypes
    from ..core.kernel_compiler import compile_library
    src = _loop_source(_AXI_LOOP, gamma)
    so = compile_library(src, f"the axisymmetric pair kernel (γ = {gamma:g})", prefix="axi")
    fn = so.axi_sums
    if fn.argtypes is None:
        fn.restype = None
        fn.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long,
                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    return fn


@functools.lru_cache(maxsize=None)
def _load_symmetric(gamma):
    """The compiled unordered-pair sums for ``γ`` (:data:`_AXI_SYM_LOOP`)."""
    import ctypes
    from ..core.kernel_compiler import compile_library
    src = _loop_source(_AXI_SYM_LOOP, gamma)
    so = compile_library(src, f"the symmetric axisymmetric pair kernel (γ = {gamma:g})", prefix="axisym")
    fn = so.axi_sym
    if fn.argtypes is None:
        fn.restype = None
        fn.argtypes = [ctypes.c_long] + [ctypes.c_void_p] * 5 + [ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    return fn


def symmetric_pair_sums(gamma, points, coeffs, weighted_vectors, rows):
    r"""``(Ĝ, E)`` at every point of one set from the unordered pairs ``(i, p)``,
    ``p ≥ i``, of the given ``rows`` ``i`` (a rank's share; the shares of all ranks add up
    to the full sums ``Ĝ_q = Σ_p c_p S(q, p)``, ``E_q = Σ_p C(q, p) b_p``, with which
    ``Ĵ_q = Ĝ_q t_q − E_q``): one evaluation of the azimuthal moments per unordered pair,
    half those of :func:`compiled_pair_sums`.  ``Ĝ`` as ``n × 2 × 2``, ``E`` as ``n × 2``."""
    import ctypes
    gamma = float(gamma)
    if not -3.0 <= gamma <= 1.0:
        raise InvalidParameterError(f"axisymmetric Landau kernel: γ = {gamma:g} is outside [-3, 1]")
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    cols = [np.ascontiguousarray(a, dtype=float) for a in
            (pts[:, 0], pts[:, 1], coeffs, weighted_vectors[:, 0], weighted_vectors[:, 1])]
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    out = np.zeros((5, n))
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)
    _load_symmetric(gamma)(n, *(ptr(a) for a in cols), len(rows), ptr(rows), ptr(out))
    G = np.empty((n, 2, 2))
    G[:, 0, 0], G[:, 0, 1], G[:, 1, 0], G[:, 1, 1] = out[0], out[1], out[1], out[2]
    return G, out[3:].T.copy()


@functools.lru_cache(maxsize=None)
def _load_contract(gamma):
    """The compiled contractions for ``γ`` (:data:`_AXI_CONTRACT_LOOP`)."""
    import ctypes
    from ..core.kernel_compiler import compile_library
    src = _loop_source(_AXI_CONTRACT_LOOP, gamma)
    so = compile_library(src, f"the axisymmetric contraction kernel (γ = {gamma:g})", prefix="axicon")
    fn = so.axi_contract
    if fn.argtypes is None:
        fn.restype = None
        fn.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    return fn


def compiled_pair_contractions(gamma, targets, points, tensors):
    r"""``K_t = Σ_s S(s, t) : T_s`` for symmetric meridian tensors ``T_s`` (``(N, 2, 2)``,
    weights included) at the sources ``points``: the derivative of ``Σ_s T_s : Ĝ_s`` in
    the coefficient of the source at each target (the pair sum the adjoint of the
    axisymmetric operator needs; ``S(s, t) ≠ S(t, s)``: the ring radii enter unequally).
    Pairs left out as in :func:`compiled_pair_sums`."""
    import ctypes
    gamma = float(gamma)
    if not -3.0 <= gamma <= 1.0:
        raise InvalidParameterError(f"axisymmetric Landau kernel: γ = {gamma:g} is outside [-3, 1]")
    y = np.ascontiguousarray(targets, dtype=float)
    T = np.asarray(tensors, dtype=float)
    N = len(points)
    src = np.empty((5, N))
    src[:2] = np.asarray(points, dtype=float).T
    src[2], src[3], src[4] = T[:, 0, 0], 0.5 * (T[:, 0, 1] + T[:, 1, 0]), T[:, 1, 1]
    out = np.empty(len(y))
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)
    _load_contract(gamma)(len(y), ptr(y), N, ptr(src), ptr(out))
    return out


def compiled_pair_sums(gamma, targets, target_vectors, points, coeffs, weighted_vectors):
    r"""The split sums ``Ĝ_q = Σ_p c_p S(q, p)``, ``Ĵ_q = Σ_p (c_p S(q, p) t_q − C(q, p) b_p)``
    (``b_p = c_p g_p``, or summed over coincident sources) in compiled code (the system C
    compiler, cached like the Cartesian pair kernels: :mod:`generic_fem.kernels.pair_kernels`);
    pairs left out as in :func:`axisymmetric_pair_sums`."""
    import ctypes
    gamma = float(gamma)
    if not -3.0 <= gamma <= 1.0:
        raise InvalidParameterError(f"axisymmetric Landau kernel: γ = {gamma:g} is outside [-3, 1]")
    y = np.ascontiguousarray(targets, dtype=float)
    yt = np.ascontiguousarray(target_vectors, dtype=float)
    n, N = len(y), len(points)
    src = np.empty((5, N))
    src[:2] = np.asarray(points, dtype=float).T
    src[2] = coeffs
    src[3:] = np.asarray(weighted_vectors, dtype=float).T
    Gp, H = np.empty((n, 3)), np.empty((n, 2))
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)
    _load(gamma)(n, ptr(y), ptr(yt), N, ptr(src), ptr(Gp), ptr(H))
    G = np.empty((n, 2, 2))
    G[:, 0, 0], G[:, 0, 1], G[:, 1, 0], G[:, 1, 1] = Gp[:, 0], Gp[:, 1], Gp[:, 1], Gp[:, 2]
    return G, H
