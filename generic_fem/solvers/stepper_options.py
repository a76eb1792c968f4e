r"""The Newton knobs of a :class:`~generic_fem.solvers.steppers.Stepper`, as PETSc-style options.

The knobs of the nonlinear iteration (the update limit, the convergence tests, the
safeguard, Anderson mixing, the α rounds of the second-order schemes, the invariant
projection) are options of the stepper's options prefix (default ``gfem_``), read
like PETSc's own:

* in ``solver_parameters`` under their names: ``{"max_update": 2.0, "snes_monitor": None}``;
* on the command line with the prefix: ``-gfem_max_update 2``, ``-gfem_project_invariants 0``,
  which wins over the dict (as for every PETSc option in Firedrake's solvers).

Their keyword arguments (``Stepper(..., max_update=2.0)``) are kept for one release as
aliases; a knob also given in ``solver_parameters`` or on the command line takes that
value.  Values are checked with an error naming the option.

==========================  =======  ==========================================================================
option                      default  meaning
==========================  =======  ==========================================================================
``max_update``              5        largest change of ``w`` at a node in one iteration (0: none)
``update_tol``              1e-9     tight test: last density change below this times the peak
``floor_rtol``              1e-9     a residual stalled below this times the mass is its floor
``structure_tol``           1e-12    relative tolerance of the entropy balance at the floor
``stall_window``            10       reject a solve whose residual did not halve in so many iterations (0: off)
``safeguard``               4        halvings of an update while the residual would grow tenfold (0: off)
``anderson_depth``          auto     Anderson mixing depth (5 with the Picard Jacobian, else 0)
``local_error_fraction``    1e-2     ``κ`` of the local-error test (0: tight tests only)
``alpha_tol``               1e-14    discrete gradient: accepted chain-rule defect
``alpha_rounds``            12       discrete gradient: at most so many solves for ``α``
``dg_damping_after``        -1       discrete gradient: node-wise floor of ``α`` after so many failures (-1: never)
``dg_motion_scale``         1.0      discrete gradient: ``c`` of its node-wise chain rule (0: one scalar ``α``)
``project_invariants``      true     make the invariants exact after every solve
==========================  =======  ==========================================================================

In detail (docs/theory.rst, "Convergence criterion and globalisation", says why):

``max_update``
    largest change of the entropy variable at a node in one Newton
    iteration (``0``: no limit; larger updates are clipped so that a step cannot
    overflow ``F(w)``).
``update_tol``
    a Newton iteration converges on the tight tests only when, besides
    the residual test, the last change of the density at every point of the rule is
    below ``update_tol`` times the peak density (per component).
``local_error_fraction``
    ``κ``; with the Picard iteration, a solve also stops once its last
    change of the density is
    below ``κ`` times the step's local-error estimate ``max|F(w) − F(w_pred)|`` (the
    distance from the extrapolated prediction, or from the first Picard iterate where
    there is none: ``O(Δt²)`` like the step's local truncation error), with the
    residual reduced by ``κ`` from that reference's and ``⟨w, R⟩ ≤ κ Δt ⟨w, M w⟩``
    (docs/theory.rst, "Convergence criterion").  Default 1e-2; 0: the tight tests
    only.  Only with the nodal rule and ``predictor="extrapolate"`` (the default
    there), and not in a run taped by pyadjoint (its adjoint differentiates
    the discrete equations, so a taped step is solved to the tight tests).  For the
    midpoint scheme (``θ`` for ``w``) ``α ≥ α*`` then gives ``H^{n+1} − H^n ≤
    −(1 − κ) Δt ⟨θ, M θ⟩``.  For the discrete gradient (with ``θ`` for ``w`` in the balance) the
    identity ``H^{n+1} − H^n = −Δt ⟨θ, M θ⟩`` then holds to ``2κ Δt ⟨θ, M θ⟩`` (the
    residual's share ``⟨θ, R⟩`` and the chain-rule defect, each at most
    ``κ Δt ⟨θ, M θ⟩``: a step whose defect is larger is solved on to the tight
    tests); 0 gives it to round-off.
``anderson_depth``
    depth of the Anderson acceleration of the Picard iteration
    (:class:`~generic_fem.solvers.anderson.AndersonMixing`); by default 5 with the
    Picard Jacobian, 0 (off) with ``nonlocal_jacobian="exact"`` and for the midpoint
    scheme under the Gauss rule (no floor under its ``α`` there: its stiff tail modes are
    not damped) (docs/theory.rst, "Globalisation").
``floor_rtol``
    accept a residual that stopped decreasing below ``floor_rtol``
    times the mass (its round-off floor) when the density has settled and the
    entropy balance holds.
``structure_tol``
    tolerance of that entropy-balance check (relative).
``stall_window``
    reject a solve as soon as its residual, still above the round-off
    floor, has not halved over this many iterations (an iteration that cycles or
    crawls: the halved sub-step is cheaper than the rest of ``snes_max_it``); 0: off.
``dg_motion_scale``
    ``"discrete-gradient"`` under the nodal rule: ``c`` of its node-wise chain rule
    (:mod:`~generic_fem.solvers.motion_map`): ``θ_i = w^n_i + d_i`` with
    ``w^{n+1}_i = θ_i + (1 − α)/α · d_i/√(1 + (d_i/c)²)``, so a node that moves by many
    ``c`` in a step leans to backward Euler while the chain rule stays an equality
    (``J_T^h`` measures with the same ``θ``, :func:`~generic_fem.drivers.grazing.interval_state`).
    ``0``: the scalar ``θ = w^n + αΔw`` (its stiff tail modes are amplified when
    ``α < ½``).  Measured (``benchmarks/robustness.py --sweep discrete-gradient --steps
    10``, 154 cases): ``c = 1`` 153 run (85 rejected attempts, 17.0 iterations per
    step), ``c = ½`` 153 (88, 18.3), ``c = 2`` 147, scalar 133 (172, 34.2).  With ``dg_damping_after ≥ 0`` the
    run takes the scalar ``α`` with the floor instead (the two exclude each other).
``dg_damping_after``
    ``"discrete-gradient"`` under the nodal rule: give ``α`` the node-wise floor of
    :mod:`~generic_fem.solvers.stiff_damping` once so many attempts of an ``advance()``
    have failed (``0``: from its first attempt; ``-1``, the default: never; set at
    construction: without it the step has no floor to set).  A damped
    step is no longer the exact discrete gradient (its run is not a curve with
    ``J_T^h = 0`` there, and where the chain rule has no root above ``¼`` it is taken
    with the inequality), and the adjoint holds the floor at its recorded value (its
    dependence on the controls is not differentiated): a choice for hard data, not the
    default (docs/theory.rst, "Stiff modes of the second-order schemes", has the
    measurements).
``project_invariants``
    make the invariants exact after every solve
    (``w ← w + Σ c_k ψ_k``; docs/theory.rst, "Convergence criterion").
``safeguard``
    halve a step at most this many times while the residual would grow
    more than tenfold (0: off).
``alpha_tol``
    ``"discrete-gradient"``: accept ``α`` when the chain-rule defect
    ``|H^{n+1} − H^n − ⟨θ_α, Δf⟩|`` is below ``alpha_tol ⟨Δw, Δf⟩`` or the level the
    solve determines it to (round-off of ``H``, or what the residual leaves);
    ``alpha_rounds``: at most that many solves per step for it (else the step is
    rejected).
"""
import math
import numpy as np

from ..core.errors import InvalidParameterError
from .motion_map import MotionMap

__all__ = ["KNOBS", "checked", "read_knobs"]


class Knob:
    """One option: its ``name``, ``kind`` (``float``, ``int`` or ``bool``), smallest value
    ``low`` (excluded if ``strict``) and ``default``."""

    def __init__(self, name, kind, default, low=0.0, strict=False):
        self.name, self.kind, self.default, self.low, self.strict = name, kind, default, low, strict

    def check(self, value):
        """``value`` as this knob's kind (module docstring), or an error naming it."""
        return checked(self.name, value, self.kind, self.low, self.strict)

    def parse(self, text):
        """The value of a PETSc-style option string (``"5"``, ``"1e-3"``, ``"true"``)."""
        if self.kind is bool:
            word = str(text).strip().lower()
            if word in ("", "1", "true", "yes", "on"):
                return True
            if word in ("0", "false", "no", "off"):
                return False
            raise InvalidParameterError(f"option {self.name} must be true or false, got {text!r}")
        try:
            number = float(text)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"option {self.name} must be a number, got {text!r}") from None
        return self.check(number)


#: the knobs, in the order of the module docstring's table
KNOBS = {k.name: k for k in (
    Knob("max_update", float, 5.0),
    Knob("update_tol", float, 1e-9, strict=True),
    Knob("floor_rtol", float, 1e-9),
    Knob("structure_tol", float, 1e-12),
    Knob("stall_window", int, 10),
    Knob("safeguard", int, 4),
    Knob("anderson_depth", int, None),
    Knob("local_error_fraction", float, 1e-2),
    Knob("alpha_tol", float, 1e-14),
    Knob("alpha_rounds", int, 12, low=1),
    Knob("dg_damping_after", int, -1, low=-1),
    Knob("dg_motion_scale", float, MotionMap.default_scale),
    Knob("project_invariants", bool, True),
)}


def checked(name, value, kind=float, low=0.0, strict=False):
    """``kind(value)`` for the option ``name``, or an
    :class:`~generic_fem.core.errors.InvalidParameterError` naming it when ``value`` is
    not a finite number of that kind at least ``low`` (above it if ``strict``); a
    ``bool`` option takes ``True``/``False`` only."""
    if kind is bool:
        if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
            return bool(value)
        raise InvalidParameterError(f"{name} must be True or False (or 1, 0), got {value!r}")
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok and kind is int:
        ok = float(value).is_integer()
    if ok:
        v = kind(value)
        ok = math.isfinite(v) and (v > low if strict else v >= low)
    if not ok:
        what = "an integer" if kind is int else "a finite number"
        raise InvalidParameterError(f"{name} must be {what} {'>' if strict else '>='} {low:g}, got {value!r}")
    return v


def read_knobs(solver_parameters, prefix, keywords):
    """``(petsc_parameters, knobs)``: ``solver_parameters`` without the knobs, and every
    knob's value (a dict by name; ``anderson_depth`` may be ``None``: the scheme's
    default).  Precedence: the command line (``-<prefix><name>``), then
    ``solver_parameters[name]``, then the keyword alias in ``keywords``, then the
    default."""
    from petsc4py import PETSc
    unknown = sorted(set(keywords) - set(KNOBS))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {unknown}; the stepper's knobs are {sorted(KNOBS)}")
    params = dict(solver_parameters or {})
    prefix = prefix or ""
    db = PETSc.Options()
    knobs = {}
    for name, knob in KNOBS.items():
        in_dict = name in params
        given = params.pop(name, None)
        if db.hasName(prefix + name):
            knobs[name] = knob.parse(db.getString(prefix + name, ""))
        elif in_dict:     # (a value, or None: a PETSc flag, "true" for a boolean)
            knobs[name] = knob.parse("" if given is None else given) if given is None or isinstance(given, str) \
                else knob.check(given)
        elif keywords.get(name) is not None:
            knobs[name] = knob.check(keywords[name])
        else:
            knobs[name] = knob.default
    return params, knobs
