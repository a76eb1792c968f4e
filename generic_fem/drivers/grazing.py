r"""Curves as pairs ``(f, U)``: discrete grazing rates, the discrete TGRE and ``J_T^h``
(docs/checking_jt.rst; Duong–He, arXiv:2504.07666 §1.3, Definition 3.1, Theorem 3.15).

A two-point friction operator (:class:`~generic_fem.friction.two_point.TwoPointFriction`) is a
weighted Dirichlet form on the *pairs* ``(q, p)`` of its quadrature points:

.. math::

   ⟨φ, M(f) g⟩ = ½ ∑_{q,p} ω_q ω_p\, m_{qp}(f)\, ∇̃φ_{qp}·∇̃g_{qp}, \qquad
   ∇̃g_{qp} = Π(v_q − v_p)\Big(\frac{∇g(v_q)}{μ_q} − \frac{∇g(v_p)}{μ_p}\Big),

``m_qp = c κ(x_q − x_p) A(|v_q − v_p|) m(f_q) m(f_p)`` (:meth:`~generic_fem.friction.two_point.
TwoPointFriction.pair_mobility`).  A *grazing rate* ``U`` is a vector on pairs.  With
``⟨U, V⟩ = ½ Σ ω_q ω_p U_qp·V_qp/m_qp`` (``+∞`` where ``m_qp = 0 ≠ U_qp``; coincident
pairs are not pairs):

* the discrete TGRE of an interval ``[t_0, t_1]``, for all ``φ ∈ V_h``:
  ``⟨φ, f¹ − f⁰⟩/Δt − ⟨φ, L(f_*) dE(f_*)⟩ = ½ Σ ω_q ω_p ∇̃φ_qp·U_qp``   (:func:`tgre_residual`);
* the action ``A(f_*, U) = ⟨U, U⟩ = ½ Σ ω ω |U|²/m`` and the dissipation
  ``D(f_*) = ⟨m∇̃θ, m∇̃θ⟩ = ⟨θ, M(f_*) θ⟩`` (``θ`` the interval's entropy variable,
  ``log f + 1`` for the Boltzmann entropy);
* ``J_T^h = H(f_T) − H(f_0) + ½ Σ Δt D + ½ Σ Δt A``   (:func:`pair_energy_dissipation`;
  Duong–He, arXiv:2504.07666 Theorem 1.1 / 3.15).

Rates: :class:`GradientRate` ``U = c m(f_*) ∇̃g`` for a field ``g`` (any size: every
quantity is an operator evaluation, nothing of size ``N_q²`` is stored),
:class:`PairRate` (an explicit ``N × N × d`` array, small problems, or a Python function
of the two points evaluated in blocks of rows, ``O(N)`` memory per row), and their sums.
The least-action rate :func:`least_action_rate` is ``U = m ∇̃g`` with ``M(f_*) g = s``,
``s = ∂_t f − L dE``; its action is ``‖s‖²_{M⁻¹}``.

The discrete chain rule (``chain_rule="discrete-gradient"``): on each interval
``θ* = w⁰ + α*(w¹ − w⁰)`` with ``α* = (H¹ − H⁰ − ⟨w⁰, Δf⟩)/⟨Δw, Δf⟩`` so that
``H¹ − H⁰ = ⟨θ*, Δf⟩`` (under the nodal rule the discrete-gradient scheme's node-wise
``θ*``, :func:`interval_state`), and ``f_* = F(θ*)``.  Testing the TGRE with ``φ = θ*`` gives,
for every curve, the identity (exact up to round-off)

.. math::

   J_T^h = \underbrace{∑ δ_k}_{\text{chain rule}} + \underbrace{∑ Δt\,⟨θ*, L dE⟩}_{\text{transport}}
         + \underbrace{∑ Δt\, r_k(θ*)}_{\text{TGRE residual}}
         + \underbrace{¼ ∑ Δt ∑ ω ω |U + m∇̃θ*|²/m}_{\text{square} ≥ 0},

``δ_k = H¹ − H⁰ − ⟨θ, Δf⟩`` (zero for the discrete-gradient rule, ``≤ 0`` for
``chain_rule="right"``).  So on curves that satisfy the TGRE, ``J_T^h`` minus the
transport defect is ``≥ 0``, and zero exactly for ``U = −m∇̃θ*``, i.e. for the solutions
of the ``"discrete-gradient"`` scheme (:class:`~generic_fem.solvers.steppers.Stepper`).  On
curves that satisfy it only to a tolerance, the residual term (not of one sign) is
reported as well; with the discrete-gradient rule, ``J_T^h`` minus the transport and
residual terms is the square, ``≥ 0``, for every curve and rate.
"""
from dataclasses import dataclass, field
import math
import weakref

import numpy as np
import ufl
import ufl.algorithms
import firedrake as fd
from mpi4py import MPI
from firedrake.exceptions import ConvergenceError

from ..core.errors import InvalidParameterError
from ..solvers.schemes import SCHEMES, scheme_named
from ..core.history import History
from ..models.model import GenericModel
from ..friction.two_point import TwoPointFriction
from ..core.taping import refuse_annotation
from ..solvers.chain_rule import chain_rule_terms, alpha_star, node_wise_rule, NodeWiseChainRule
from ..solvers.motion_map import componentwise
from ..solvers.invariants import InvariantMoments, match_invariants
from .functional import componentwise_abs, inverse_norm_squared, compatibility_weights

__all__ = ["GrazingRate", "GradientRate", "PairRate", "PairPoints", "tgre_residual", "least_action_rate",
           "solve_tgre", "sample_curve", "perturbation_norm", "pair_energy_dissipation", "PairFunctionalResult", "interval_state"]


# ----------------------------------------------------------------------------- rates
class GrazingRate:
    """A grazing rate ``U`` on the pairs of a model's two-point operator (module
    docstring).  Rates add (``U + V``) and scale (``c * U``)."""

    def terms(self):
        """``[(c, rate)]``: the rate as a linear combination of elementary rates."""
        return [(1.0, self)]

    def __add__(self, other):
        return _SumRate(self.terms() + other.terms())

    def __rmul__(self, c):
        return _SumRate([(float(c) * a, r) for a, r in self.terms()])

    def __neg__(self):
        return (-1.0) * self

    def __sub__(self, other):
        return self + (-1.0) * other


class GradientRate(GrazingRate):
    """``U = m(f_*) ∇̃g`` for a field ``g`` (UFL expression on ``V_h``; ``f_*`` the
    interval's state): ``½ Σ ωω ∇̃φ·U = ⟨φ, M(f_*) g⟩`` and ``A = ⟨g, M(f_*) g⟩``.
    ``−m∇̃θ`` with ``θ`` the entropy variable is the rate of a solution of the equation."""

    def __init__(self, g):
        self.g = g


class PairRate(GrazingRate):
    """An explicit rate on pairs.

    :arg values: an array of shape ``(N, N, d)`` (``N`` = points of all sets, in the
        set-major order of :meth:`~generic_fem.friction.two_point.TwoPointFriction.pair_points`;
        the same on every rank), or a function ``U(a, b)`` of two :class:`PairPoints`
        (arrays broadcast to ``(n_a, n_b)``) returning ``(n_a, n_b, d)``: evaluated in
        blocks of rows, so no ``N²`` array is stored.
    """

    def __init__(self, values):
        if callable(values):
            self.function, self.array = values, None
        else:
            a = np.asarray(values, dtype=float)
            if a.ndim != 3 or a.shape[0] != a.shape[1]:
                raise InvalidParameterError(f"PairRate: an array of shape (N, N, d) is needed, got {a.shape}")
            if not np.all(np.isfinite(a)):
                raise InvalidParameterError("PairRate: the rate has non-finite entries")
            self.function, self.array = None, a

    def block(self, pts, rows, cols):
        """``U`` on ``rows × cols`` (``(n_r, n_c, d)``)."""
        if self.array is not None:   # (its shape is checked by _PairSums)
            return self.array[np.ix_(rows, cols)]
        u = np.asarray(self.function(PairPoints(pts, rows, None), PairPoints(pts, cols, 1)), dtype=float)
        want = (len(rows), len(cols), pts["v"].shape[1])
        if u.shape != want:
            raise InvalidParameterError(f"PairRate: the function returned shape {u.shape}, expected {want}")
        if not np.all(np.isfinite(u)):
            raise InvalidParameterError("PairRate: the function returned non-finite values")
        return u


class PairPoints:
    """One side of a block of pairs for a :class:`PairRate` function: ``v``
    (``(n_a, 1, d)`` or ``(1, n_b, d)``), ``x`` (space coordinate, or ``None``),
    ``set`` (the species index) and ``index`` (global point index), broadcastable."""

    def __init__(self, pts, idx, axis):
        def shaped(a):
            return a[idx][:, None] if axis is None else a[idx][None, :]
        idx = np.asarray(idx)
        self.index = idx[:, None] if axis is None else idx[None, :]
        self.set = shaped(pts["set"])
        self.x = None if pts["x"] is None else shaped(pts["x"])
        v = pts["v"][idx]
        self.v = v[:, None, :] if axis is None else v[None, :, :]


class _SumRate(GrazingRate):
    def __init__(self, terms):
        self._terms = terms

    def terms(self):
        return list(self._terms)


def _split(rate):
    """``(g, pairs)``: the gradient part as one field ``g`` (or ``None``) and the
    explicit part as ``[(c, PairRate)]``."""
    g, pairs = None, []
    for c, r in rate.terms():
        if isinstance(r, GradientRate):
            g = c * r.g if g is None else g + c * r.g
        elif isinstance(r, PairRate):
            pairs.append((c, r))
        else:
            raise InvalidParameterError(f"not a grazing rate: {r!r}")
    return g, pairs


# ----------------------------------------------------------------------------- pair sums
def _pair_operator(model, need=True):
    ops = model.friction_operators()
    if model.friction_auxiliary_space() is not None:
        raise InvalidParameterError(f"{type(model).__name__}: curves as pairs (f, U) need a friction operator "
                                    "without an auxiliary field")
    if not need:
        return None
    if len(ops) != 1 or not isinstance(ops[0], TwoPointFriction):
        raise InvalidParameterError(
            f"{type(model).__name__}: explicit rates on pairs need a model whose friction is one two-point "
            f"operator (it has {[type(o).__name__ for o in ops]}); use GradientRate")
    return ops[0]


class _PairSums:
    """The explicit (pair) parts of a rate at one state: their flux ``V_q`` and their
    ``⟨·,·⟩`` products, by blocks of this rank's rows (collective)."""

    block_size = 2_000_000   # pair entries per block

    def __init__(self, model, fstar, pairs):
        self.op = _pair_operator(model)
        self.pairs = pairs
        self.pts = self.op.pair_points(fstar)
        n = len(self.pts["v"])
        self.cols = np.arange(n)
        rows = self.pts["rows"]
        step = max(1, self.block_size // max(n, 1))
        self.blocks = [rows[k:k + step] for k in range(0, len(rows), step)]
        comm = self.op.comm
        # an explicit array must be the same on every rank (each rank reads its rows and
        # its columns of it): compare a checksum
        for _, r in pairs:
            if r.array is not None:
                if r.array.shape != (n, n, self.op.dim):
                    raise InvalidParameterError(
                        f"PairRate: the operator has {n} points in {self.op.dim} velocity dimensions: an array "
                        f"of shape {(n, n, self.op.dim)} is needed, got {r.array.shape}")
                c = float(np.sum(r.array * np.sin(np.arange(r.array.size).reshape(r.array.shape))))
                if comm.allreduce(c, op=MPI.MAX) != comm.allreduce(c, op=MPI.MIN):
                    raise InvalidParameterError("PairRate: the array differs between the MPI ranks (it must be "
                                                "the same global array on every rank)")

    def _blocks(self, rows_cols):
        """``U`` blocks of every pair term (validated collectively: a rank's bad block is
        an error on every rank, not a hang)."""
        err = None
        try:
            d = self.op.dim
            out = [[c * r.block(self.pts, rows, cols) if len(rows) and len(cols) else
                    np.zeros((len(rows), len(cols), d)) for c, r in self.pairs] for rows, cols in rows_cols]
        except InvalidParameterError as e:
            err, out = str(e), None
        msgs = [m for m in self.op.comm.allgather(err) if m]
        if msgs:
            raise InvalidParameterError(msgs[0])
        return out

    def _padded_blocks(self):
        """This rank's row blocks, padded with empty ones to the largest count over the
        ranks (the validation in :meth:`_blocks` is collective)."""
        n = self.op.comm.allreduce(len(self.blocks), op=MPI.MAX)
        empty = np.zeros(0, dtype=int)
        return self.blocks + [empty] * (n - len(self.blocks))

    def flux(self):
        """Per set the Quadrature Function ``V_q = ½ Σ_p ω_p Π(z_qp)(U_qp − U_pq)``."""
        op, pts = self.op, self.pts
        d, ng = op.dim, op.n_global
        Vs = [fd.Function(op.flux_space()) for _ in range(op.n_sets)]
        out = np.zeros((len(pts["rows"]), d))
        k0 = 0
        # (blocks of rows: O(block · N) memory; every rank evaluates the same number of
        # validations collectively, so a rank with fewer blocks still takes part)
        for rows in self._padded_blocks():
            qp, pq = self._blocks([(rows, self.cols), (self.cols, rows)])
            if len(rows) == 0:
                continue
            _, z, same = op.pair_mobility(pts, rows, self.cols)
            u = sum(a - b.transpose(1, 0, 2) for a, b in zip(qp, pq))
            r2 = np.einsum("qpk,qpk->qp", z, z)
            r2 = np.where(same, 1.0, r2)
            pu = u - z * (np.einsum("qpk,qpk->qp", z, u) / r2)[:, :, None]
            pu[same] = 0.0
            out[k0:k0 + len(rows)] = 0.5 * np.einsum("p,qpk->qk", pts["omega"], pu)
            k0 += len(rows)
        nloc = len(op.weights)
        for i in range(op.n_sets):
            Vs[i].dat.data_wo[:] = out[i * nloc:(i + 1) * nloc].reshape(Vs[i].dat.data_ro.shape)
        return Vs

    def products(self):
        """``⟨U_a, U_b⟩`` for the pair terms (a symmetric matrix) and whether some
        ``U ≠ 0`` sits on a pair of zero mobility (then the action is ``+∞``)."""
        op, pts = self.op, self.pts
        k = len(self.pairs)
        P = np.zeros((k, k))
        bad = 0.0
        for rows in self._padded_blocks():
            (us,) = self._blocks([(rows, self.cols)])
            if len(rows) == 0:
                continue
            m, _, same = op.pair_mobility(pts, rows, self.cols)
            w = 0.5 * pts["omega"][rows][:, None] * pts["omega"][None, :]
            pos = (m > 0) & ~same
            inv = np.where(pos, w / np.where(pos, m, 1.0), 0.0)
            for a in range(k):
                ua = np.where(same[:, :, None], 0.0, us[a])
                bad = max(bad, float(np.max(np.where(pos | same, 0.0, np.abs(ua).max(axis=2)), initial=0.0)))
                for b in range(a, k):
                    P[a, b] = P[b, a] = P[a, b] + float(np.einsum("qp,qpk,qpk->", inv, ua, us[b]))
        glob = np.empty_like(P)
        self.op.comm.Allreduce(P, glob, op=MPI.SUM)
        bad = self.op.comm.allreduce(bad, op=MPI.MAX)
        return glob, bad > 0


_BUFFERS = weakref.WeakKeyDictionary()


def _buffer(model, key):
    """A Function on ``model.V`` reused across calls: the two-point operator keeps
    coefficients per ``(f, g)`` pair of UFL objects, so fields that change from interval
    to interval are values of one Function, not new expressions."""
    d = _BUFFERS.setdefault(model, {})
    if key not in d:
        d[key] = fd.Function(model.V, name=f"grazing_{key}")
    return d[key]


class _RateAtState:
    """A rate evaluated at an interval's state ``f_*``: its flux 1-form
    ``½ Σ ωω ∇̃φ·U`` and its action ``⟨U, U⟩``."""

    def __init__(self, model, fstar, rate, key="rate"):
        self.model, self.fstar = model, fstar
        g, self.pairs = _split(rate)
        self.g = None if g is None else _buffer(model, key).interpolate(g)
        if self.g is not None and not model.mesh.comm.allreduce(bool(np.all(np.isfinite(self.g.dat.data_ro))),
                                                               op=MPI.LAND):
            raise InvalidParameterError("GradientRate: the field g has non-finite values")
        _pair_operator(model, need=False)
        self.sums = _PairSums(model, fstar, self.pairs) if self.pairs else None
        self.V = self.sums.flux() if self.sums is not None else None
        self._products = None

    def flux(self, phi):
        """``½ Σ ωω ∇̃φ·U`` as a UFL 1-form (nonlocal coefficients refreshed)."""
        out = 0
        if self.g is not None:
            out = out + self.model.apply_friction(self.fstar, self.g, phi)
        if self.V is not None:
            out = out + self.sums.op.flux_form(self.V, phi)
        return out

    def action(self):
        """``A = ⟨U, U⟩ = ½ Σ ωω |U|²/m`` (``+∞`` if ``U ≠ 0`` where ``m = 0``)."""
        value = 0.0
        if self.g is not None:
            value += float(fd.assemble(self.model.apply_friction(self.fstar, self.g, self.g)))
        if self.sums is not None:
            P, bad = self.sums.products()
            if bad:
                return math.inf
            value += float(P.sum())
            if self.g is not None:   # 2⟨m∇̃g, U_pairs⟩ = 2 · ½ Σ ωω ∇̃g·U_pairs
                value += 2 * float(fd.assemble(self.sums.op.flux_form(self.V, self.g)))
        return value


# ----------------------------------------------------------------------------- intervals
def interval_state(model, w0, w1, f0=None, f1=None, chain_rule="discrete-gradient", out=None, alpha=None,
                   motion_scale=None):
    """``(θ, f_*, α)`` of an interval: ``θ*`` with ``H(f¹) − H(f⁰) = ⟨θ*, f¹ − f⁰⟩`` and
    ``f_* = F(θ*)`` (``"discrete-gradient"``), or ``θ = w¹``, ``f_* = f¹`` (``"right"``).
    ``θ*`` is the discrete-gradient scheme's: node by node ``θ_i = w⁰_i + d_i(α)`` under
    the nodal rule (:class:`~generic_fem.solvers.motion_map.MotionMap`, ``c =
    motion_scale``, default that of the stepper option ``dg_motion_scale``), ``w⁰ + αΔw`` otherwise,
    with ``α`` the root of the chain rule (:func:`chain_rule_alpha`).  ``f0, f1`` default
    to ``F(w0), F(w1)``; ``out``: a Function to hold ``θ``; ``alpha``: use this ``α``
    (e.g. the one a discrete-gradient run recorded) instead of computing it."""
    f1_given = f1
    f0 = model.density(w0) if f0 is None else f0
    f1 = model.density(w1) if f1 is None else f1
    theta = fd.Function(model.V, name="theta_star") if out is None else out
    if chain_rule == "right":
        theta.assign(w1)
        return theta, (model.density(theta) if f1_given is None else f1_given), 1.0
    if chain_rule != "discrete-gradient":
        raise InvalidParameterError(f"chain_rule must be 'discrete-gradient' or 'right', got {chain_rule!r}")
    motion = node_wise_rule(model, motion_scale)
    if motion is not None:
        rule = NodeWiseChainRule(model, w0, w1, motion, f0, f1)
        if alpha is None:
            alpha, _ = rule.alpha()
        rule.theta(alpha, theta)
        return theta, model.density(theta), alpha
    if alpha is None:
        alpha, _ = chain_rule_alpha(model, w0, w1, f0, f1)
    theta.assign(w0 + alpha * (w1 - w0))
    return theta, model.density(theta), alpha


def chain_rule_alpha(model, w0, w1, f0=None, f1=None, motion_scale=None):
    """``(α*, status)`` of the discrete gradient's chain rule (:func:`interval_state`):
    without the node-wise rule ``α* = (H¹ − H⁰ − ⟨w⁰, Δf⟩)/⟨Δw, Δf⟩``.  ``status`` is
    ``"ok"``, ``"steady"`` (``|⟨Δw, Δf⟩|`` at the round-off level of the numerator: the
    interval hardly moves and any ``α`` satisfies the chain rule to round-off; ``α = ½``)
    or ``"clamped"`` (no root in ``[0, 1]``, which convexity excludes when ``f = F(w)``
    at the points: possible for densities given as UFL whose interpolated entropy
    variables are not ``dH(f)`` there; ``α`` is clamped and the chain-rule term shows the
    defect)."""
    motion = node_wise_rule(model, motion_scale)
    if motion is not None:
        return NodeWiseChainRule(model, w0, w1, motion, f0, f1).alpha()
    return alpha_star(*chain_rule_terms(model, w0, w1, f0, f1))


def _vector(c):
    with c.dat.vec_ro as v:
        return v.copy()


def tgre_residual(model, f0, f1, dt, rate, fstar, fL=None):
    """The residual of the discrete TGRE on one interval,
    ``r(φ) = ⟨φ, f¹ − f⁰⟩/Δt − ⟨φ, L(f_L) dE(f_L)⟩ − ½ Σ ωω ∇̃φ·U`` (the mobility of ``U``
    at ``f_*``, transport at ``f_L``, default ``f_*``), as a Cofunction on ``V_h``, and
    its relative size ``‖r‖ / (‖⟨φ,Δf⟩/Δt − ⟨φ,LdE⟩‖ + ‖½Σ∇̃φ·U‖ + 10⁻⁶ ‖⟨φ,|f⁰|+|f¹|⟩‖/Δt)`` (Euclidean norms of
    the assembled vectors, whose entries are rates of ``∫ φ_i f``; a norm weighted by
    ``M``'s diagonal, closer to ``‖r‖_{M⁻¹}``, amplifies the rounding in the tails, where
    the rows are ``~f f_*``)."""
    res, rel, _ = _residual(model, f0, f1, dt, _RateAtState(model, fstar, rate), fstar if fL is None else fL)
    return res, rel


def _residual(model, f0, f1, dt, urate, fL):
    phi = fd.TestFunction(model.V)
    s = fd.assemble(model.dissipative_rate(f0, f1, dt, fL)(phi))
    flux = urate.flux(phi)
    q = fd.assemble(flux) if not (isinstance(flux, int) and flux == 0) else None
    res = s.copy(deepcopy=True)
    if q is not None:
        res -= q
    def size(c):
        return 0.0 if c is None else _vector(c).norm()
    ns, nq, nr = size(s), size(q), size(res)
    # a floor for curves that hardly move (then s and the flux are both rounding)
    floor = 1e-6 * size(fd.assemble(ufl.inner(phi, componentwise_abs(f0) + componentwise_abs(f1)) / dt * model.dx))
    return res, nr / max(ns + nq + floor, 1e-300), q


def least_action_rate(model, f0, f1, dt, fstar, compatibility_tol=1e-8, m_inverse="auto",
                      solver_parameters=None, fL=None):
    """The rate of least action of an interval, ``U = m(f_*) ∇̃g`` with
    ``M(f_*) g = s``, ``s = (f¹ − f⁰)/Δt − L(f_L) dE(f_L)`` (Duong–He, arXiv:2504.07666 (1.13); ``f_L``
    defaults to ``f_*``); returns
    ``(rate, A, violation)``, ``A = ‖s‖²_{M⁻¹} = ⟨g, M g⟩``.  When ``s`` is not in the
    range of ``M`` (it charges the collision invariants) ``rate`` is ``None`` and ``A = ∞``."""
    phi = fd.TestFunction(model.V)
    floor = 1e-10 * _vector(fd.assemble(ufl.inner(phi, componentwise_abs(f0) + componentwise_abs(f1)) / dt * model.dx)).norm()
    value, violation, g = inverse_norm_squared(model, fstar, model.dissipative_rate(f0, f1, dt, fstar if fL is None else fL),
                                               compatibility_tol, size=compatibility_weights(model, f0, f1, dt),
                                               solver_parameters=solver_parameters, method=m_inverse,
                                               return_solution=True, rhs_floor=floor)
    if g is None:
        return None, math.inf, violation
    return GradientRate(g), value, violation


def solve_tgre(model, w0, rate, dt, chain_rule="discrete-gradient", solver_parameters=None, alpha_tol=1e-12,
               max_rounds=20):
    """The end point ``w¹`` of an interval of the discrete TGRE for a given explicit rate:
    ``⟨φ, F(w¹) − F(w⁰)⟩ = Δt (⟨φ, L(f_*) dE(f_*)⟩ + ½ Σ ωω ∇̃φ·U)`` with the interval's
    ``f_*`` (:func:`interval_state`).  ``rate`` must not depend on the state (a
    :class:`PairRate` or a combination of them).  Newton on ``w¹`` (the map
    ``w ↦ ⟨φ, F(w)⟩`` is the gradient of a strictly convex function); for the
    discrete-gradient rule with transport, an outer iteration on ``α`` (under the nodal
    rule with the node-wise chain rule of :func:`interval_state`: Newton on the ``u`` of
    ``θ = w⁰ + α(u − w⁰)``, as in the scheme's step).  Raises if the
    solve fails (e.g. a rate too large for a positive ``f¹``)."""
    g, pairs = _split(rate)
    if g is not None:
        raise InvalidParameterError("solve_tgre: the rate must be explicit (PairRate); a GradientRate's "
                                    "end point is a step of the scheme itself (Stepper)")
    V = model.V
    w1 = fd.Function(V, name="w1").assign(w0)
    phi = fd.TestFunction(V)
    alpha = fd.Constant(0.5 if chain_rule == "discrete-gradient" else 1.0)
    theta = w0 + alpha * (w1 - w0)     # (with the node-wise rule w1 holds u)
    fstar = model.density(theta)
    Lt = model.reversible_rate(fstar, phi)
    motion = node_wise_rule(model) if (Lt is not None and chain_rule == "discrete-gradient") else None
    # the end point: w1 itself, or under the node-wise chain rule w⁰ + k(α(u − w⁰)) node by node
    end = w1 if motion is None else w0 + componentwise(
        lambda a, b: motion.step(alpha * (a - b), alpha), w1, w0)
    F = ufl.inner(phi, model.density(end) - model.density(w0)) * model.dx
    if Lt is not None:
        F = F - dt * Lt
    if pairs:
        sums = _PairSums(model, model.density(w0), pairs)   # the flux of an explicit rate is state-free
        F = F - dt * sums.op.flux_form(sums.flux(), phi)
    params = {"snes_type": "newtonls", "snes_linesearch_type": "bt", "snes_rtol": 1e-14, "snes_atol": 1e-15,
              "snes_max_it": 100, "ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps",
              "snes_error_if_not_converged": False}
    params.update(solver_parameters or {})
    solver = fd.NonlinearVariationalSolver(fd.NonlinearVariationalProblem(F, w1), solver_parameters=params,
                                           options_prefix="gfem_tgre_")
    for _ in range(max_rounds if (Lt is not None and chain_rule == "discrete-gradient") else 1):
        try:
            solver.solve()
        except ConvergenceError:
            pass
        reason = solver.snes.getConvergedReason()
        finite = model.mesh.comm.allreduce(bool(np.all(np.isfinite(w1.dat.data_ro))), op=MPI.LAND)
        if reason <= 0 or not finite:
            raise RuntimeError(f"solve_tgre: the Newton solve for f¹ failed (SNES reason {reason}); the rate may "
                               "be too large for a positive end point (take a smaller dt)")
        if Lt is None or chain_rule != "discrete-gradient":
            break
        state = w1 if motion is None else fd.Function(V, name="w1").interpolate(end)
        a, _ = chain_rule_alpha(model, w0, state)
        if motion is not None:    # (the map from u is singular at α = 0)
            a = max(a, 1e-3)
        change = abs(a - float(alpha))
        if change <= alpha_tol:
            break
        alpha.assign(a)
        if motion is not None:    # the unknown of the same end point under the new α
            with w1.dat.vec_wo as v, w0.dat.vec_ro as v0, state.dat.vec_ro as vs:
                x0 = v0.getArray(readonly=True)
                v.setArray(x0 + motion.inverse_values(vs.getArray(readonly=True) - x0, a) / a)
    else:
        if Lt is not None and chain_rule == "discrete-gradient":
            raise RuntimeError(f"solve_tgre: alpha did not settle in {max_rounds} rounds (last change {change:.1e})")
    if motion is not None:
        return fd.Function(V, name="w1").interpolate(end)
    return w1


def sample_curve(model, densities, tol=1e-14, max_it=20):
    """Entropy variables ``w_k ∈ V_h`` of a sampled curve ``f(t_k)`` (UFL densities) whose
    discrete invariants are exactly those of the first sample:
    ``w_k = I_h(−dS(f_k)) + Σ_j c_j ψ_j`` with ``c`` from Newton on
    ``∫ ψ_i F(w_k) = ∫ ψ_i F(w_0)`` (``ψ_i`` the invariant densities, e.g. ``1, v, |v|²``).
    A smooth curve sampled at the quadrature points conserves them only up to the
    quadrature error, and then no rate satisfies the discrete TGRE (its ``J_T^h`` is
    ``+∞``); these samples are the curve's discretisation with ``f_k = F(w_k)``."""
    psi = [fd.Function(model.V).interpolate(p) for p in model.invariant_densities().values()]
    ws = [model.state_from_density(f, what=f"sample {k} of the curve") for k, f in enumerate(densities)]
    if not psi:
        return ws
    first = InvariantMoments(model, psi, ws[0])
    target, scale = first.values(), first.absolute()
    for k, w in enumerate(ws[1:], start=1):
        ok, rel = match_invariants(InvariantMoments(model, psi, w), target, scale, tol, max_it)
        if not ok:
            raise RuntimeError(f"sample_curve: the invariants of sample {k} could not be matched "
                               f"(residual {rel:.1e})")
    return ws


def perturbation_norm(model, history, psi):
    """``½ Σ_k Δt ⟨ψ, M(f_*) ψ⟩`` along a run's trajectory (``f_*`` the discrete-gradient
    state of each interval): ``ε²`` times it is ``J_T^h`` of the discrete-gradient solution
    of ``∂_t f = L dE + M(dS + εψ)`` (``ψ ∈ V_h``; docs "Checking J_T", identity 5), and
    of the unperturbed run it is the limit of ``J_T^h/ε²``."""
    total = 0.0
    theta = _buffer(model, "theta")
    # a discrete-gradient run's own chain rule: its c and recorded α
    scale = history.metadata.get("dg_motion_scale")
    own = history.metadata.get("scheme") == "discrete-gradient"
    for k, ((t0, w0), (t1, w1)) in enumerate(zip(history.trajectory[:-1], history.trajectory[1:])):
        alpha = float(history.records[k + 1]["alpha"]) if own else None
        _, fstar, _ = interval_state(model, w0, w1, out=theta, alpha=alpha, motion_scale=scale)
        total += 0.5 * (t1 - t0) * float(fd.assemble(model.apply_friction(fstar, psi, psi)))
    return total


# ----------------------------------------------------------------------------- J_T^h
@dataclass
class PairFunctionalResult:
    """Terms of ``J_T^h(f, U)`` (floats; ``action_term`` and ``total`` may be ``inf``)
    and the parts of its identity (module docstring)."""
    entropy_term: float        # H(f_T) − H(f_0)
    dissipation_term: float    # ½ Σ Δt D
    action_term: float         # ½ Σ Δt A
    chain_rule_term: float     # Σ (H¹ − H⁰ − ⟨θ, Δf⟩)
    transport_term: float      # Σ Δt ⟨θ, L dE⟩
    residual_term: float       # Σ Δt r(θ)
    square_term: float         # ¼ Σ Δt Σ ωω |U + m∇̃θ|²/m  (≥ 0)
    tgre_residual: float       # max relative TGRE residual over the intervals
    compatibility_violation: float = 0.0
    intervals: list = field(default_factory=list)
    action_error: float = 0.0  # estimate of the error of action_term (inexact M⁻¹ solves)

    #: what :attr:`total` is guaranteed to satisfy (module docstring): the completed
    #: square is ``≥ 0`` for every curve and every rate
    sign_guarantee = ("J_T^h = chain rule + transport + TGRE residual + square, square >= 0: "
                      "J_T^h >= chain rule + transport + TGRE residual (the chain-rule term is 0 "
                      "to round-off with chain_rule='discrete-gradient'; transport is 0 when L = 0)")

    @property
    def lower_bound(self):
        """``chain rule + transport + residual``: :attr:`total` is at least this (up to
        :attr:`action_error` and round-off), whatever the curve and its rates."""
        return self.chain_rule_term + self.transport_term + self.residual_term

    @property
    def total(self):
        """``J_T^h = H(f_T) − H(f_0) + ½ Σ Δt D + ½ Σ Δt A``."""
        return self.entropy_term + self.dissipation_term + self.action_term

    @property
    def identity_error(self):
        """``J_T^h − (chain rule + transport + residual + square)``: round-off (``nan``
        when a term is ``+∞``)."""
        return self.total - (self.chain_rule_term + self.transport_term + self.residual_term + self.square_term)

    def __str__(self):
        err = f" +- {self.action_error:.1e}" if self.action_error else ""
        return (f"J_T^h = {self.total:.6e}{err}  [H(f_T)-H(f_0) = {self.entropy_term:.6e}, "
                f"1/2 int D = {self.dissipation_term:.6e}, 1/2 int A = {self.action_term:.6e}]; "
                f"= chain rule {self.chain_rule_term:.3e} + transport {self.transport_term:.3e} + "
                f"TGRE residual {self.residual_term:.3e} + square {self.square_term:.6e} "
                f"(identity error {self.identity_error:.1e}; max relative TGRE residual {self.tgre_residual:.1e})")


def _curve(model, curve, times):
    if isinstance(curve, History):
        if not curve.trajectory:
            raise InvalidParameterError("history has no trajectory: run(..., keep_trajectory=True)")
        times = [t for t, _ in curve.trajectory]
        ws = [w for _, w in curve.trajectory]
        return list(times), ws, [model.density(w) for w in ws], [False] * len(ws)
    if times is None or len(times) != len(curve):
        raise InvalidParameterError("give one time per state")
    ws, fs, given = [], [], []
    for k, c in enumerate(curve):
        if isinstance(c, fd.Function) and c.function_space() == model.V:
            ws.append(c)                       # an entropy variable
            fs.append(model.density(c))
            given.append(False)
        else:
            ws.append(model.state_from_density(c, what=f"state {k} of the curve"))
            fs.append(c)
            given.append(True)
    return list(times), ws, fs, given


def _transport_rule(curve, transport, n):
    if transport is None:
        transport = "scheme" if isinstance(curve, History) else "chain-rule"
    if transport == "scheme":
        if not isinstance(curve, History):
            raise InvalidParameterError("transport='scheme' needs a History")
        name = curve.metadata.get("scheme")
        if name not in SCHEMES:
            raise InvalidParameterError(f"transport='scheme': unknown scheme {name!r} in the history")
        if scheme_named(name).solves_alpha:   # F(θ) of the run's own (node-wise) θ
            return ("discrete-gradient", [float(r["alpha"]) for r in curve.records[1:n + 1]],
                    curve.metadata.get("dg_motion_scale"))
        if scheme_named(name).uses_alpha:
            return [float(r["alpha"]) for r in curve.records[1:n + 1]]
        return "right"
    if isinstance(transport, str):
        if transport not in ("chain-rule", "right", "left", "trapezoid"):
            raise InvalidParameterError("transport must be 'chain-rule', 'right', 'left', 'trapezoid', 'scheme' "
                                        f"or a list of alpha, got {transport!r}")
        return transport
    alphas = [float(a) for a in transport]
    if len(alphas) != n:
        raise InvalidParameterError(f"transport: give one alpha per interval ({n}), got {len(alphas)}")
    return alphas


def _transport_state(model, rule, k, ws, f0, f1, fstar):
    if type(model).poisson is GenericModel.poisson or rule == "chain-rule":
        return fstar
    if rule == "right":
        return f1
    if rule == "left":
        return f0
    if rule == "trapezoid":
        return 0.5 * (f0 + f1)
    if isinstance(rule, tuple):     # a discrete-gradient run's θ: its chain rule, recorded α
        _, alphas, scale = rule
        th, _, _ = interval_state(model, ws[k], ws[k + 1], f0, f1, out=_buffer(model, "theta_L"),
                                  alpha=alphas[k], motion_scale=scale)
        return model.density(th)
    th = _buffer(model, "theta_L").assign(ws[k] + rule[k] * (ws[k + 1] - ws[k]))
    return model.density(th)


def pair_energy_dissipation(model, curve, times=None, rates=None, chain_rule="discrete-gradient",
                            transport=None, tgre_tol=1e-8, compatibility_tol=1e-8, m_inverse="auto",
                            solver_parameters=None, motion_scale=None):
    """``J_T^h(f, U)`` of a discrete curve of pairs, term by term (Duong–He, arXiv:2504.07666 Theorem 1.1), and
    the parts of its identity (module docstring).

    :arg curve: a :class:`~generic_fem.core.history.History` recorded with
        ``keep_trajectory=True``, or a list of states: entropy variables (Functions on
        ``model.V``) or densities (UFL; their entropy variables are interpolated).
    :arg times: the times (for a list).
    :arg rates: one :class:`GrazingRate` per interval, or ``None``: the least-action
        rates (:func:`least_action_rate`; then ``½ Σ Δt A`` is the ``M⁻¹`` action term,
        the one :func:`~generic_fem.drivers.functional.energy_dissipation_functional` gives when its
        mobility state is the same ``f_*``).
    :arg chain_rule: ``"discrete-gradient"`` (``θ*``: exact chain rule, node-wise under
        the nodal rule, :func:`interval_state`; ``J_T^h −`` transport ``−`` residual
        terms ``≥ 0`` on every curve; for a discrete-gradient History its recorded ``α``)
        or ``"right"``.
    :arg motion_scale: ``c`` of the node-wise chain rule (default: a discrete-gradient
        History's own ``dg_motion_scale``, else the stepper option's default; ``0``: the
        scalar ``θ* = w⁰ + α*Δw``).
    :arg transport: the state ``f_L`` of the transport term ``⟨φ, L(f_L) dE(f_L)⟩`` of
        each interval (models with ``L ≠ 0``): ``"chain-rule"`` (``f_*``, the default for a
        list), ``"right"``, ``"left"``, ``"trapezoid"`` (``(f⁰ + f¹)/2``), a list of
        ``α_k`` (``F(w⁰ + α_k Δw)``), or ``"scheme"`` (the default for a History: the
        scheme's own, ``f¹`` for backward Euler and the minimizing movement, the recorded
        ``α`` for the midpoint scheme, the recorded ``α`` and the run's node-wise chain rule for
        the discrete gradient; the midpoint scheme's node-wise
        floor of ``α`` in damped tails is not recorded).  A curve satisfies the
        discrete TGRE only with the transport state it was computed with (the local
        conservation laws of transport are not those of another state).
    :arg tgre_tol: the relative TGRE residual (:func:`tgre_residual`) above which an
        interval's rate does not solve the TGRE.  A given rate (``rates``) that does not
        is incompatible with the curve: its action, and ``J_T^h``, is ``+∞``.  The
        least-action rate (``rates=None``) is computed here: a residual above
        ``tgre_tol`` means its ``M⁻¹`` solve was inexact, and the action is reported with
        the first-order error estimate ``Σ Δt |⟨g, r⟩|`` (``action_error``) and a
        warning.  ``+∞`` then only comes from a curve whose increments charge the
        collision invariants (``compatibility_violation`` above ``compatibility_tol``:
        mass, momentum or energy not conserved by the curve).
    :returns: :class:`PairFunctionalResult`, with :attr:`~PairFunctionalResult.sign_guarantee`
        and :attr:`~PairFunctionalResult.lower_bound`.

    This is the entry point for ``J_T`` of a curve: its sign is known for every curve
    (``J_T^h ≥ chain rule + transport + residual``, each reported).
    :func:`~generic_fem.drivers.functional.energy_dissipation_functional` is a variant (the
    right-point / midpoint ``M⁻¹`` form of the functional, with no such bound).
    """
    refuse_annotation("J_T^h")
    times, ws, fs, given = _curve(model, curve, times)
    if len(fs) < 2:
        raise InvalidParameterError("a curve needs at least two states")
    if rates is not None and len(rates) != len(fs) - 1:
        raise InvalidParameterError(f"give one rate per interval: {len(fs) - 1} intervals, {len(rates)} rates")
    if not all(math.isfinite(t) for t in times):
        raise InvalidParameterError(f"times must be finite, got {list(times)}")
    for a, b in zip(times[:-1], times[1:]):
        if not b > a:
            raise InvalidParameterError("times must be strictly increasing")
    _pair_operator(model, need=False)
    transport = _transport_rule(curve, transport, len(fs) - 1)
    # a discrete-gradient run's own α (its chain rule holds to round-off; recomputing α*
    # on an interval that hardly moves divides rounding by rounding)
    recorded = None
    if isinstance(curve, History) and chain_rule == "discrete-gradient" and \
            curve.metadata.get("scheme") == "discrete-gradient":
        recorded = [float(r["alpha"]) for r in curve.records[1:len(fs)]]
    # a discrete-gradient run's own node-wise chain rule (its dg_motion_scale)
    if motion_scale is None and isinstance(curve, History):
        motion_scale = curve.metadata.get("dg_motion_scale")
    H = [-float(fd.assemble(model.S(f))) for f in fs]
    terms = dict(dissipation=0.0, action=0.0, chain=0.0, transport=0.0, residual=0.0, square=0.0)
    worst = violation = action_error = 0.0
    inexact = []
    intervals = []
    for k in range(len(fs) - 1):
        dt = times[k + 1] - times[k]
        f0, f1 = fs[k], fs[k + 1]
        status = "recorded" if recorded is not None else None
        alpha = None if recorded is None else recorded[k]
        if recorded is None and chain_rule == "discrete-gradient":
            alpha, status = chain_rule_alpha(model, ws[k], ws[k + 1], f0, f1, motion_scale)
        theta, fstar, alpha = interval_state(model, ws[k], ws[k + 1], f0, f1 if given[k + 1] else None, chain_rule,
                                             out=_buffer(model, "theta"), alpha=alpha,
                                             motion_scale=motion_scale)
        fL = _transport_state(model, transport, k, ws, f0, f1, fstar)
        if rates is None:
            rate, _, viol = least_action_rate(model, f0, f1, dt, fstar, compatibility_tol, m_inverse,
                                              solver_parameters, fL=fL)
            violation = max(violation, viol)
        else:
            rate = rates[k]
        D = float(fd.assemble(model.apply_friction(fstar, theta, theta)))
        Lt = model.reversible_rate(fL, theta)
        T = 0.0 if Lt is None else float(fd.assemble(Lt))
        chain = H[k + 1] - H[k] - float(fd.assemble(ufl.inner(theta, f1 - f0) * model.dx))
        if rate is None:      # incompatible: no rate satisfies the TGRE
            A, rel, rtheta, square = math.inf, math.inf, math.nan, math.inf
        else:
            u = _RateAtState(model, fstar, rate)
            res, rel, _ = _residual(model, f0, f1, dt, u, fL)
            with res.dat.vec_ro as rv, theta.dat.vec_ro as tv:
                rtheta = rv.dot(tv)
            A = u.action()
            square = 0.5 * _RateAtState(model, fstar, rate + GradientRate(theta), key="square").action()
            if rel > tgre_tol and rates is None:
                # the least-action rate solves M g = s only to the accuracy of the M⁻¹ solve:
                # A = ‖s + r‖²_{M⁻¹} = ‖s‖²_{M⁻¹} + 2⟨g, r⟩ + O(r²); report A with that error
                with res.dat.vec_ro as rv, fd.Function(model.V).interpolate(rate.g).dat.vec_ro as gv:
                    err = abs(rv.dot(gv))
                action_error += dt * err
                inexact.append((times[k], rel))
            elif rel > tgre_tol:   # a given rate that does not solve the TGRE
                A = square = math.inf
        worst = max(worst, rel)
        terms["dissipation"] += 0.5 * dt * D
        terms["action"] += 0.5 * dt * A
        terms["chain"] += chain
        terms["transport"] += dt * T
        terms["residual"] += dt * rtheta if math.isfinite(rtheta) else 0.0
        terms["square"] += dt * square
        intervals.append({"t0": times[k], "t1": times[k + 1], "alpha": alpha, "alpha_status": status,
                          "action": A, "dissipation": D,
                          "chain_rule": chain, "transport": T, "residual": rel, "square": square})
    if inexact and model.mesh.comm.rank == 0:
        import warnings
        t, rel = max(inexact, key=lambda x: x[1])
        warnings.warn(f"pair_energy_dissipation: the least-action rate solves its TGRE only to {rel:.1e} "
                      f"(relative; tgre_tol {tgre_tol:g}) on {len(inexact)} interval(s), the worst from "
                      f"t = {t:.4g}: the action term carries an estimated error of {action_error:.2e} "
                      "(action_error); tighten the M^-1 solve (solver_parameters) or refine the mesh", stacklevel=2)
    return PairFunctionalResult(H[-1] - H[0], terms["dissipation"], terms["action"], terms["chain"],
                                terms["transport"], terms["residual"], terms["square"], worst, violation,
                                intervals, action_error)
