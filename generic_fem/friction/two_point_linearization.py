r"""Derivatives of a two-point operator's coefficients: the exact Jacobian and the adjoint.

A two-point operator (:class:`~generic_fem.friction.two_point.TwoPointFriction`) enters the
residual through its coefficients per set, at the quadrature points,

.. math::

   \hat G_i = Σ_j c_{ij} Σ_p k_{jp} a_{qp}, \qquad
   \hat J_i = Σ_j c_{ij} Σ_p k_{jp} a_{qp} (\hat g_{iq} − \hat g_{jp}), \qquad
   k = ω m(f), \quad \hat g = G = ∇_ξ g/(σ μ) \text{ at the points},

with ``a_{qp} = κ(x_q − x_p) A(|v_q − v_p|) Π(v_q − v_p)`` (Carrillo–Hu–Wang–Wu,
arXiv:2007.11489, in the weak form of Carrillo–Delgadino–Wu, arXiv:2204.12637).  They
are linear in ``k`` and in ``ĝ`` separately, so

* their directional derivative (:class:`CoefficientLinearization`: Newton's exact
  Jacobian is the frozen-coefficient one plus the residual's derivative in the
  coefficients along it) costs two pair-sum passes, and
* their transpose (:meth:`CoefficientLinearization.adjoint`: the pull-back of the
  cotangents of ``Ĝ, ĝ, Ĵ`` to those of ``m`` and ``G`` at the points, for the adjoint of
  a taped step) costs two pair-sum passes as well, since ``a`` and ``c`` are symmetric:
  the transposed sums are sums over the same pairs.
"""
import time

import numpy as np
import ufl
import ufl.algorithms
import firedrake as fd

from ..core.assembly import compiled_interpolation

__all__ = ["CoefficientLinearization"]


class _Directions:
    """Directional derivatives ``δĜ_i, δĝ_i, δĴ_i`` of one coefficient set, and the
    interpolations of ``δm_i`` and ``δG_i`` that feed them."""

    def __init__(self, op, dm, dG):
        n = op.n_sets
        self.dG = [fd.Function(op.Qt, name=f"dG_hat_{i}") for i in range(n)]
        self.dgq = [fd.Function(op.Qv, name=f"dg_hat_{i}") for i in range(n)]
        self.dJ = [fd.Function(op.Qv, name=f"dJ_hat_{i}") for i in range(n)]
        self.dmq = [fd.Function(op.Q) for _ in range(n)]
        self.interpolations = [compiled_interpolation(dm[i], self.dmq[i]) for i in range(n)] + \
            [compiled_interpolation(dG[i], self.dgq[i]) for i in range(n)]


class CoefficientLinearization:
    """The linearisation and its transpose of the coefficients of a two-point operator
    ``op`` (module docstring); the operator's ``linearization``,
    ``refresh_linearization`` and ``coefficient_adjoint`` are these."""

    def __init__(self, op):
        self.op = op

    def register(self, f, g, df, dg):
        """The pairs ``(c, δc)`` for the coefficients of ``(f, g)`` in the directions
        ``df, dg`` (UFL expressions linear in one direction Function), which
        :meth:`refresh` fills:

        ``δĜ_i = Σ_j c_ij Σ_p δk_jp a``, ``δĝ_i = δG_i`` at the points,
        ``δĴ_i = Σ_j c_ij Σ_p [δk_jp a (ĝ_i − ĝ_jp) + k_jp a (δĝ_i − δĝ_jp)]``,
        ``δk = ω m'(f) δf``."""
        op = self.op
        e = op.coefficient_set(f, g)
        fv = ufl.variable(f)
        dmdf = ufl.algorithms.expand_derivatives(ufl.diff(op.mobility(fv), fv))
        shape = ufl.as_ufl(f).ufl_shape
        dm = ufl.algorithms.expand_derivatives(dmdf * df if shape == () else ufl.dot(dmdf, df))
        dms = [dm if ufl.as_ufl(dm).ufl_shape == () else dm[i] for i in range(op.n_sets)]
        L = e.linearization = _Directions(op, dms, op.scaled_gradients(dg))
        out = []
        for i in range(op.n_sets):
            out += [(e.G[i], L.dG[i]), (e.gq[i], L.dgq[i]), (e.J[i], L.dJ[i])]
        return out

    def refresh(self, f, g):
        """Fill ``δĜ, δĝ, δĴ`` for the current direction, at the state of the last
        refresh of the coefficients of ``(f, g)`` (two pair-sum passes; collective)."""
        op = self.op
        started = time.perf_counter()
        e = op.coefficient_set(f, g)
        L = e.linearization
        for interpolate in L.interpolations:
            interpolate()
        ghat = e.last_input[1]
        dgloc = np.array([np.asarray(x.dat.data_ro).reshape(-1, op.dim) for x in L.dgq])
        dcoeff = op.weights[None, :] * np.array([np.asarray(x.dat.data_ro) for x in L.dmq])
        A = op.pair_sums(ghat, dcoeff, ghat)
        B = op.pair_sums(dgloc, e.coeff, dgloc)
        for i in range(op.n_sets):
            L.dG[i].dat.data_wo[:] = A[i][0].reshape(L.dG[i].dat.data_ro.shape)
            L.dJ[i].dat.data_wo[:] = (A[i][1] + B[i][1]).reshape(L.dJ[i].dat.data_ro.shape)
        op.stats["linearized"] += 1
        op.stats["seconds"] += time.perf_counter() - started

    def adjoint(self, f, g, seeds, parameters=()):
        r"""The transposed linearisation of the coefficients of ``(f, g)`` at the state of
        their last refresh (two pair-sum passes; collective).

        Given the cotangents (seeds) ``Ḡ_i, ḡ_i, J̄_i`` of the coefficients ``Ĝ_i, ĝ_i, Ĵ_i``
        (numpy arrays over this rank's points, shapes ``(N, n, d, d)``, ``(N, n, d)``,
        ``(N, n, d)``), return the cotangents of the point values ``m_i`` and ``G_i`` that
        feed them, and of the ``parameters`` (``Constant`` s of the operator's
        ``parameters()``):

        .. math::

           \bar k_{jp} = K_{jp}[\operatorname{sym}(\bar G + \bar J ⊗ G)] − G_{jp} · h_{jp}[\bar J],
           \qquad \bar m = ω \bar k, \qquad
           \bar G_{iq}^{pts} = \bar g_{iq} + \hat G_{iq} \bar J_{iq} − k_{iq} h_{iq}[\bar J],

        with ``h_{jp}[Y] = Σ_i c_ij Σ_q κ a_pq Y_iq`` (a pair sum) and
        ``K_{jp}[T] = Σ_i c_ij Σ_q κ a_pq : T_iq``
        (:func:`~generic_fem.kernels.pair_kernels.pair_contractions`).  A parameter ``p``
        of ``c`` or ``κ`` gets ``Σ_iq Ḡ_iq : Ĝ'_iq + J̄_iq · Ĵ'_iq``, the sums with ``c`` or
        ``κ`` replaced by their derivative in ``p`` (the sums are linear in both): one
        more pass per parameter.

        :returns: ``(m̄, Ḡ, {p: value})`` (the parameter values summed over ranks)."""
        op = self.op
        e = op.coefficient_set(f, g)
        if e.last_input is None:
            raise RuntimeError("coefficient_adjoint: the coefficients of this pair were never refreshed")
        n, d = op.n_sets, op.dim
        ghat, k = e.last_input[1], e.coeff
        Gs = 0.5 * (seeds["G"] + np.swapaxes(seeds["G"], -1, -2))
        Jb = seeds["J"]
        h = [-H for _, H in op.pair_sums(np.zeros_like(Jb), np.ones_like(k), Jb)]
        T = Gs + 0.5 * (Jb[..., :, None] * ghat[..., None, :] + ghat[..., :, None] * Jb[..., None, :])
        K = op.pair_contractions(T)
        Ghat = np.array([np.asarray(x.dat.data_ro).reshape(-1, d, d) for x in e.G])
        mbar = np.empty_like(k)
        Gbar = np.empty_like(ghat)
        for i in range(n):
            kbar = K[i] - np.einsum("qk,qk->q", ghat[i], h[i])
            mbar[i] = op.weights * kbar
            Gbar[i] = seeds["g"][i] + np.einsum("qkl,ql->qk", Ghat[i], Jb[i]) - k[i][:, None] * h[i]
        pbar = {}
        for p in parameters:
            total = 0.0
            for kw in op.parameter_derivatives(p):
                for i, (G1, J1) in enumerate(op.pair_sums(ghat, k, ghat, **kw)):
                    total += float(np.einsum("qkl,qkl->", Gs[i], G1) + np.einsum("qk,qk->", Jb[i], J1))
            pbar[p] = op.comm.allreduce(total)
        return mbar, Gbar, pbar
