r"""Compiled pair sums of projected kernels (the hot spot of two-point operators).

For targets ``(y_q, g_q)`` and sources ``(x_p, c_p, g_p)`` this computes

.. math::

   \hat G_q = \sum_{p:\,x_p \ne y_q} c_p\, a(y_q − x_p), \qquad
   \hat J_q = \sum_{p:\,x_p \ne y_q} c_p\, a(y_q − x_p)\, (g_q − g_p), \qquad
   a(z) = \frac{A(|z|)}{|z|^2} (|z|^2 I − z ⊗ z) = A(|z|)\, Π(z),

(docs/models.rst, Homogeneous Landau and Multispecies Landau; constants such as ``C_γ`` or ``c_ij`` are folded into ``c_p``) with
the weight ``A`` of a :class:`~generic_fem.kernels.pair_weights.PairWeight` (``A = r^{γ+2}``
for the power laws).  The self-pair ``x_p = y_q`` is skipped: its weight vanishes in
the limit for ``γ > −2`` and for ``γ ≤ −2`` it is the singular term that PETSc's
``DMPlexLandau`` skips too; in the flux ``Ĵ_q`` of one point set it cancels exactly.

The C code is generated for ``d = 2, 3`` and one weight (``sqrt`` forms for integer and
half-integer ``γ``, glibc's vector ``pow`` for other powers, the weight's own C
translation otherwise), compiled once with the system C compiler (``$CC``, default
``cc``; flags in :data:`~generic_fem.core.kernel_compiler.FLAGS`: ``-O3 -march=native``, SIMD, no ``-ffast-math``) into a cache
directory (``$GENERIC_FEM_CACHE/kernels``, default ``~/.cache/generic-fem/kernels``),
and loaded with :mod:`ctypes`.  The loops are blocked over sources (a block stays in
L1/L2 cache while every target visits it) and the inner loop is a SIMD reduction.
For ``A = r²`` (``γ = 0``) use :func:`moment_sums` instead: the kernel is a quadratic
polynomial and the sums reduce exactly to a few moments, ``O(N)`` work.
"""
import ctypes

import numpy as np

from ..core.kernel_compiler import compile_library, kernel_cache_dir
from .pair_weights import PairWeight

_configured = {}   # source -> its library, argument types set

__all__ = ["pair_sums", "moment_sums", "local_moments", "pair_contractions", "tensor_moments",
           "tensor_moment_contractions", "pack_symmetric", "load_pair_kernel", "weight_values", "kernel_cache_dir"]

_HEADER = r"""
#include <math.h>
%(WEIGHT)s
#define BLOCK 1024
"""

# One loop per dimension; %(C)s is "c[p] * " where the coefficient multiplies the kernel
# (plain sums: s = c_p kpow, u = g_t − g_p) and %(CA)s / %(CU)s where it multiplies the
# accumulated kernel and the target vector instead (split sums: b_p = c_p g_p is given,
# u = c_p g_t − b_p).  src: d arrays of points, c, d arrays of vectors, contiguous.
_LOOP_2D = r"""
void %(NAME)s_2d(long nt, const double *restrict y, const double *restrict yg, long ns,
                 const double *restrict src, double *restrict G, double *restrict H)
{
    /* G: nt x 3 (G00, G01, G11); H: nt x 2 */
    const double *x0 = src, *x1 = src + ns, *c = src + 2*ns, *g0 = src + 3*ns, *g1 = src + 4*ns;
    for (long t = 0; t < nt; ++t) { G[3*t] = G[3*t+1] = G[3*t+2] = 0.0; H[2*t] = H[2*t+1] = 0.0; }
    for (long b0 = 0; b0 < ns; b0 += BLOCK) {
        long b1 = b0 + BLOCK < ns ? b0 + BLOCK : ns;
        for (long t = 0; t < nt; ++t) {
            const double y0 = y[2*t], y1 = y[2*t+1], v0 = yg[2*t], v1 = yg[2*t+1];
            double a00 = 0, a01 = 0, a11 = 0, h0 = 0, h1 = 0;
            #pragma omp simd reduction(+:a00,a01,a11,h0,h1)
            for (long p = b0; p < b1; ++p) {
                const double z0 = y0 - x0[p], z1 = y1 - x1[p];
                const double r2 = z0*z0 + z1*z1;
                const double rs = r2 > 0.0 ? r2 : 1.0;
                const double s = r2 > 0.0 ? %(C)skpow(rs) : 0.0;
                /* a = s (r2 I - z z^T) = s [[z1^2, -z0 z1], [-z0 z1, z0^2]] */
                const double b00 = s*z1*z1, b01 = -s*z0*z1, b11 = s*z0*z0;
                a00 += %(CA)sb00; a01 += %(CA)sb01; a11 += %(CA)sb11;
                const double u0 = %(CU)sv0 - g0[p], u1 = %(CU)sv1 - g1[p];
                h0 += b00*u0 + b01*u1;
                h1 += b01*u0 + b11*u1;
            }
            G[3*t] += a00; G[3*t+1] += a01; G[3*t+2] += a11;
            H[2*t] += h0; H[2*t+1] += h1;
        }
    }
}
"""

_LOOP_3D = r"""
void %(NAME)s_3d(long nt, const double *restrict y, const double *restrict yg, long ns,
                 const double *restrict src, double *restrict G, double *restrict H)
{
    /* G: nt x 6 (00,01,02,11,12,22); H: nt x 3 */
    const double *x0 = src, *x1 = src + ns, *x2 = src + 2*ns, *c = src + 3*ns;
    const double *g0 = src + 4*ns, *g1 = src + 5*ns, *g2 = src + 6*ns;
    for (long t = 0; t < nt; ++t) {
        for (int k = 0; k < 6; ++k) G[6*t+k] = 0.0;
        for (int k = 0; k < 3; ++k) H[3*t+k] = 0.0;
    }
    for (long b0 = 0; b0 < ns; b0 += BLOCK) {
        long b1 = b0 + BLOCK < ns ? b0 + BLOCK : ns;
        for (long t = 0; t < nt; ++t) {
            const double y0 = y[3*t], y1 = y[3*t+1], y2 = y[3*t+2];
            const double v0 = yg[3*t], v1 = yg[3*t+1], v2 = yg[3*t+2];
            double a00 = 0, a01 = 0, a02 = 0, a11 = 0, a12 = 0, a22 = 0, h0 = 0, h1 = 0, h2 = 0;
            #pragma omp simd reduction(+:a00,a01,a02,a11,a12,a22,h0,h1,h2)
            for (long p = b0; p < b1; ++p) {
                const double z0 = y0 - x0[p], z1 = y1 - x1[p], z2 = y2 - x2[p];
                const double q0 = z0*z0, q1 = z1*z1, q2 = z2*z2;
                const double r2 = q0 + q1 + q2;
                const double rs = r2 > 0.0 ? r2 : 1.0;
                const double s = r2 > 0.0 ? %(C)skpow(rs) : 0.0;
                const double b00 = s*(q1 + q2), b11 = s*(q0 + q2), b22 = s*(q0 + q1);
                const double b01 = -s*z0*z1, b02 = -s*z0*z2, b12 = -s*z1*z2;
                a00 += %(CA)sb00; a01 += %(CA)sb01; a02 += %(CA)sb02;
                a11 += %(CA)sb11; a12 += %(CA)sb12; a22 += %(CA)sb22;
                const double u0 = %(CU)sv0 - g0[p], u1 = %(CU)sv1 - g1[p], u2 = %(CU)sv2 - g2[p];
                h0 += b00*u0 + b01*u1 + b02*u2;
                h1 += b01*u0 + b11*u1 + b12*u2;
                h2 += b02*u0 + b12*u1 + b22*u2;
            }
            G[6*t] += a00; G[6*t+1] += a01; G[6*t+2] += a02;
            G[6*t+3] += a11; G[6*t+4] += a12; G[6*t+5] += a22;
            H[3*t] += h0; H[3*t+1] += h1; H[3*t+2] += h2;
        }
    }
}
"""

# Contractions ``K_t = Σ_p a(y_t − x_p) : T_p`` with symmetric source tensors ``T_p`` (packed
# upper triangle, already weighted): ``a : T = s (r² tr T − zᵀ T z)``.  The transposed
# linearisation of the operator needs them (``generic_fem.adjoint``).
_CONTRACT_2D = r"""
void pair_contract_2d(long nt, const double *restrict y, long ns, const double *restrict src,
                      double *restrict K)
{
    const double *x0 = src, *x1 = src + ns, *t00 = src + 2*ns, *t01 = src + 3*ns, *t11 = src + 4*ns;
    for (long t = 0; t < nt; ++t) K[t] = 0.0;
    for (long b0 = 0; b0 < ns; b0 += BLOCK) {
        long b1 = b0 + BLOCK < ns ? b0 + BLOCK : ns;
        for (long t = 0; t < nt; ++t) {
            const double y0 = y[2*t], y1 = y[2*t+1];
            double k = 0;
            #pragma omp simd reduction(+:k)
            for (long p = b0; p < b1; ++p) {
                const double z0 = y0 - x0[p], z1 = y1 - x1[p];
                const double r2 = z0*z0 + z1*z1;
                const double rs = r2 > 0.0 ? r2 : 1.0;
                const double s = r2 > 0.0 ? kpow(rs) : 0.0;
                k += s * (z1*z1*t00[p] - 2.0*z0*z1*t01[p] + z0*z0*t11[p]);
            }
            K[t] += k;
        }
    }
}
"""

_CONTRACT_3D = r"""
void pair_contract_3d(long nt, const double *restrict y, long ns, const double *restrict src,
                      double *restrict K)
{
    const double *x0 = src, *x1 = src + ns, *x2 = src + 2*ns;
    const double *t00 = src + 3*ns, *t01 = src + 4*ns, *t02 = src + 5*ns;
    const double *t11 = src + 6*ns, *t12 = src + 7*ns, *t22 = src + 8*ns;
    for (long t = 0; t < nt; ++t) K[t] = 0.0;
    for (long b0 = 0; b0 < ns; b0 += BLOCK) {
        long b1 = b0 + BLOCK < ns ? b0 + BLOCK : ns;
        for (long t = 0; t < nt; ++t) {
            const double y0 = y[3*t], y1 = y[3*t+1], y2 = y[3*t+2];
            double k = 0;
            #pragma omp simd reduction(+:k)
            for (long p = b0; p < b1; ++p) {
                const double z0 = y0 - x0[p], z1 = y1 - x1[p], z2 = y2 - x2[p];
                const double q0 = z0*z0, q1 = z1*z1, q2 = z2*z2;
                const double r2 = q0 + q1 + q2;
                const double rs = r2 > 0.0 ? r2 : 1.0;
                const double s = r2 > 0.0 ? kpow(rs) : 0.0;
                k += s * ((q1 + q2)*t00[p] + (q0 + q2)*t11[p] + (q0 + q1)*t22[p]
                          - 2.0*(z0*z1*t01[p] + z0*z2*t02[p] + z1*z2*t12[p]));
            }
            K[t] += k;
        }
    }
}
"""

#: the two variants: plain sums ``Σ c_p a (g_t − g_p)`` and split sums ``Σ a (c_p g_t − b_p)``
_VARIANTS = {"pair_sums": {"C": "c[p] * ", "CA": "", "CU": ""},
             "pair_sums_split": {"C": "", "CA": "c[p]*", "CU": "c[p]*"}}

def as_weight(kernel):
    """A :class:`~generic_fem.kernels.pair_weights.PairWeight` from a weight or an exponent ``γ``
    (``A = r^{γ+2}``)."""
    return kernel if isinstance(kernel, PairWeight) else PairWeight.power(kernel)


def _source(weight):
    loops = "".join(loop % dict(v, NAME=name) for name, v in _VARIANTS.items() for loop in (_LOOP_2D, _LOOP_3D))
    return _HEADER % {"WEIGHT": weight.c_source()} + loops + _CONTRACT_2D + _CONTRACT_3D


def load_pair_kernel(kernel):
    """The compiled library for a :class:`~generic_fem.kernels.pair_weights.PairWeight` (or an
    exponent ``γ``), compiled on first use and cached on disk
    (:func:`~generic_fem.core.kernel_compiler.compile_library`)."""
    weight = as_weight(kernel)
    src = _source(weight)
    if src in _configured:
        return _configured[src]
    so = compile_library(src, f"the pair kernel {weight}")
    for name in ("pair_sums_2d", "pair_sums_3d", "pair_sums_split_2d", "pair_sums_split_3d"):
        fn = getattr(so, name)
        fn.restype = None
        fn.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long,
                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    for name in ("pair_contract_2d", "pair_contract_3d"):
        fn = getattr(so, name)
        fn.restype = None
        fn.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    _configured[src] = so
    return so


def weight_values(kernel, r):
    """``A(r)`` by the weight's compiled code (``r > 0``; :meth:`PairWeight.values
    <generic_fem.kernels.pair_weights.PairWeight.values>`)."""
    return as_weight(kernel).values(r)


def _ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def pair_sums(kernel, targets, target_vectors, points, coeffs, vectors, split=False):
    """``(Ĝ, Ĵ)`` at ``targets`` (``(n, d)``) with vectors ``g_q`` (``(n, d)``) from sources
    ``points`` (``(N, d)``), coefficients ``c_p`` (``(N,)``) and vectors ``g_p``
    (``(N, d)``); compiled code.  ``Ĵ_q = Σ_p c_p a(y_q − x_p)(g_q − g_p) = Ĝ_q g_q − ĥ_q``
    is summed pair by pair: near equilibrium (``g_q − g_p ∥ y_q − x_p``) each term
    vanishes on its own instead of two large sums cancelling.

    ``split=True``: the source vectors are ``b_p`` (already weighted) and
    ``Ĵ_q = Σ_p a(y_q − x_p)(c_p g_q − b_p)``; for aggregated sources (a spatial
    convolution ``c = κ * (ωm)``, ``b = κ * (ωm g)``) and signed ``c`` (linearisations).

    Returns ``Ĝ`` of shape ``(n, d, d)`` and ``Ĵ`` of shape ``(n, d)``."""
    y = np.ascontiguousarray(targets, dtype=float)
    yg = np.ascontiguousarray(target_vectors, dtype=float)
    n, d = y.shape
    if d not in (2, 3):
        raise ValueError(f"pair_sums: dimension must be 2 or 3, got {d}")
    N = points.shape[0]
    src = np.empty((2 * d + 1, N))
    src[:d] = np.asarray(points, dtype=float).T
    src[d] = coeffs
    src[d + 1:] = np.asarray(vectors, dtype=float).T
    lib = load_pair_kernel(kernel)
    prefix = "pair_sums_split_" if split else "pair_sums_"
    if d == 2:
        Gp, H = np.empty((n, 3)), np.empty((n, 2))
        getattr(lib, prefix + "2d")(n, _ptr(y), _ptr(yg), N, _ptr(src), _ptr(Gp), _ptr(H))
        G = np.empty((n, 2, 2))
        G[:, 0, 0], G[:, 0, 1], G[:, 1, 1] = Gp[:, 0], Gp[:, 1], Gp[:, 2]
        G[:, 1, 0] = Gp[:, 1]
    else:
        Gp, H = np.empty((n, 6)), np.empty((n, 3))
        getattr(lib, prefix + "3d")(n, _ptr(y), _ptr(yg), N, _ptr(src), _ptr(Gp), _ptr(H))
        G = np.empty((n, 3, 3))
        for k, (i, j) in enumerate(((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))):
            G[:, i, j] = G[:, j, i] = Gp[:, k]
    return G, H


def local_moments(points, coeffs, vectors, split=False):
    """The moments of the sources that the ``γ = 0`` sums need (summed over this rank's
    sources; add them over ranks), packed in one array:
    ``M0 = Σc, M1 = Σc x, M2 = Σc x⊗x, A1 = Σc g, A2 = Σc g⊗x, A3 = Σc |x|² g,
    B0 = Σc x·g, B2 = Σc x (x·g)``.  ``split=True``: ``vectors`` are ``b = c g`` (signed or
    aggregated coefficients, :func:`pair_sums` with ``split=True``)."""
    x = np.asarray(points, float)
    c = np.asarray(coeffs, float)
    b = np.asarray(vectors, float) if split else c[:, None] * np.asarray(vectors, float)   # c g
    xb = np.einsum("pi,pi->p", x, b)
    parts = [np.array([c.sum()]), c @ x, np.einsum("p,pi,pj->ij", c, x, x).ravel(),
             b.sum(axis=0), np.einsum("pi,pj->ij", b, x).ravel(), np.einsum("pi,pi->p", x, x) @ b,
             np.array([xb.sum()]), xb @ x]
    return np.concatenate(parts)


def moment_sums(targets, target_vectors, moments):
    """``(Ĝ, Ĵ = Ĝ g_q − ĥ)`` for ``γ = 0`` from the (global) moments of :func:`local_moments`:
    with ``a(z) = |z|² I − z⊗z`` and ``z = y − x_p``,

    ``Ĝ(y) = (M0|y|² − 2y·M1 + tr M2) I − (M0 y⊗y − y⊗M1 − M1⊗y + M2)``,
    ``ĥ(y) = |y|² A1 − 2 A2 y + A3 − y (y·A1) + B0 y + A2ᵀ y − B2``.

    Exact (the self-pair contributes ``a(0) = 0``); ``O(n)`` work."""
    y = np.asarray(targets, float)
    n, d = y.shape
    k = 0

    def take(size, shape=None):
        nonlocal k
        out = moments[k:k + size]
        k += size
        return out if shape is None else out.reshape(shape)
    M0 = take(1)[0]
    M1 = take(d)
    M2 = take(d * d, (d, d))
    A1 = take(d)
    A2 = take(d * d, (d, d))
    A3 = take(d)
    B0 = take(1)[0]
    B2 = take(d)
    yy = np.einsum("qi,qi->q", y, y)
    I = np.eye(d)
    tr = M0 * yy - 2 * y @ M1 + np.trace(M2)
    outer = (M0 * np.einsum("qi,qj->qij", y, y) - np.einsum("qi,j->qij", y, M1)
             - np.einsum("i,qj->qij", M1, y) + M2)
    G = tr[:, None, None] * I - outer
    H = (yy[:, None] * A1 - 2 * y @ A2.T + A3 - y * (y @ A1)[:, None] + B0 * y + y @ A2 - B2)
    return G, np.einsum("qij,qj->qi", G, np.asarray(target_vectors, float)) - H


def pack_symmetric(T):
    """The upper triangle of symmetric ``(n, d, d)`` tensors, ``(n, d(d+1)/2)``, in the order
    ``00, 01, 11`` (``d = 2``) or ``00, 01, 02, 11, 12, 22`` (``d = 3``)."""
    T = np.asarray(T, float)
    d = T.shape[-1]
    iu = np.triu_indices(d)
    return 0.5 * (T + np.swapaxes(T, -1, -2))[:, iu[0], iu[1]]


def pair_contractions(kernel, targets, points, tensors):
    r"""``K_t = Σ_{p: x_p ≠ y_t} a(y_t − x_p) : T_p`` for symmetric source tensors ``T_p``
    (``(N, d, d)``, weights included), compiled code; ``a : T = A(r)/r² (r² tr T − zᵀTz)``.
    The pair sum that the transposed linearisation of a two-point operator needs
    (:meth:`~generic_fem.friction.two_point.TwoPointFriction.coefficient_adjoint`)."""
    y = np.ascontiguousarray(targets, dtype=float)
    n, d = y.shape
    if d not in (2, 3):
        raise ValueError(f"pair_contractions: dimension must be 2 or 3, got {d}")
    N = points.shape[0]
    tp = pack_symmetric(tensors)
    src = np.empty((d + tp.shape[1], N))
    src[:d] = np.asarray(points, dtype=float).T
    src[d:] = tp.T
    out = np.empty(n)
    getattr(load_pair_kernel(kernel), f"pair_contract_{d}d")(n, _ptr(y), N, _ptr(src), _ptr(out))
    return out


def tensor_moments(points, tensors):
    """The moments of the sources that the ``γ = 0`` contractions need (summed over this
    rank's sources; add them over ranks): ``S0 = Σ tr T, S1 = Σ tr T x, S2 = Σ tr T |x|²,
    T0 = Σ T, T1 = Σ T x, T2 = Σ x·T x``, packed in one array."""
    x = np.asarray(points, float)
    T = 0.5 * (np.asarray(tensors, float) + np.swapaxes(np.asarray(tensors, float), -1, -2))
    tr = np.einsum("pii->p", T)
    Tx = np.einsum("pij,pj->pi", T, x)
    return np.concatenate([[tr.sum()], tr @ x, [tr @ np.einsum("pi,pi->p", x, x)], T.sum(axis=0).ravel(),
                           Tx.sum(axis=0), [np.einsum("pi,pi->", x, Tx)]])


def tensor_moment_contractions(targets, moments):
    """``K(y) = Σ_p a(y − x_p) : T_p`` for ``A = r²`` from :func:`tensor_moments`:
    ``a(z) : T = |z|² tr T − zᵀTz``, so ``K = |y|² S0 − 2y·S1 + S2 − (yᵀT0 y − 2y·T1 + T2)``
    (exact; the self-pair contributes ``a(0) = 0``)."""
    y = np.asarray(targets, float)
    d = y.shape[1]
    S0, S1, S2 = moments[0], moments[1:1 + d], moments[1 + d]
    k = 2 + d
    T0 = moments[k:k + d * d].reshape(d, d)
    T1 = moments[k + d * d:k + d * d + d]
    T2 = moments[k + d * d + d]
    yy = np.einsum("qi,qi->q", y, y)
    return yy * S0 - 2 * y @ S1 + S2 - (np.einsum("qi,ij,qj->q", y, T0, y) - 2 * y @ T1 + T2)
