r"""Node-wise damping of the second-order schemes' stiff modes: a floor under ``α``.

The midpoint scheme takes ``θ = w^n + α (w^{n+1} − w^n)``.  On a mode of rate ``λ``
(``ẇ = −λ (w − w_eq)``) the ``θ``-method multiplies the distance to equilibrium by

.. math::  R(λΔt) = \frac{1 − (1 − α) λΔt}{1 + α λΔt},

which tends to ``−1`` for ``α = ½`` as ``λΔt → ∞``: a stiff mode is not damped, it
changes sign.  In entropy variables that is the failure seen in under-resolved tails:
a nearly empty node next to a fuller one relaxes at a rate far above ``1/Δt``, and
``w^{n+1} = 2θ − w^n`` sends it down by tens or hundreds of units of ``w`` (its
density towards underflow), which the Newton iteration can only approach in clipped
updates.  ``R ≥ 0`` (no change of sign) holds iff ``α ≥ 1 − 1/(λΔt)``.

:class:`StiffModeDamping` gives every node ``i`` the floor

.. math::

   a_i = ½ + \bigl(s_i − ½\bigr)\, m_i, \qquad
   s_i = \max\bigl(½,\ 1 − \tfrac{1}{λ_i Δt}\bigr), \qquad
   m_i = \max\bigl(0,\ 1 − \tfrac{2}{Δt |ẇ_i|}\bigr),

   θ_i = w^n_i + \max(α, a_i)\,(w^{n+1}_i − w^n_i),

with, at ``w^n``, ``λ_i`` the diagonal rate of the step's Jacobian (the friction's and
the reversible part's diagonal over the time-derivative term's: ``λ_i Δt =
(J_{ii}(α = 1) − J_{ii}(α = 0)) / J_{ii}(α = 0)``) and ``ẇ_i`` the rate of the node's
entropy variable (the residual at ``w^{n+1} = w^n`` over ``Δt J_{ii}(α = 0)``).  A node is
damped only where it is stiff (``λ_i Δt > 2``) *and* moves fast (an explicit step would
change its density by more than a factor ``e²``): the tails of a coarse mesh far from
their equilibrium.  As ``Δt → 0`` at a fixed state ``Δt |ẇ_i| → 0``, every floor is
``½`` and the step is the midpoint scheme (second order); ``a_i`` is a continuous
function of the state and of ``Δt``.  In unresolved tails the nodes' rates are large
(a node next to one ``e^7`` times denser relaxes thousands of times per unit time), so
there the floor stays above ``½`` down to small ``Δt``: measured on Landau ``γ = 1``,
two Gaussians, the 8-cell ``R = 6`` box, ``Δt = 10⁻³``: 55 of 289 nodes, all below
1e-6 of the peak density.  Measured once per step: one refresh of the
nonlocal coefficients at ``w^n``, one residual and two Jacobian assemblies.  Under the
nodal rule only (each unknown owns its point).

For the discrete gradient, whose ``α`` may go below ``½`` (the chain rule with
equality, :mod:`~generic_fem.solvers.alpha_rounds`; its floor only on request, the
stepper option ``dg_damping_after``), the floor is the same where ``λ_iΔt > 2`` (so
``α_i ≥ ½`` there: ``|R| ≤ 1``, and ``R ≥ 0`` as the node is damped, ``m_i → 1``) and
``max(0, 1 − 1/(λ_iΔt))`` below (``0 ≤ R ≤ 1``): no mode is amplified whatever ``α``
the chain rule asks, and as ``Δt → 0`` every floor vanishes (the scalar ``α*`` alone).
Without it the discrete gradient's ``α`` fell below ``½`` on the steps whose damped
nodes took more than their share of the chain rule, and its stiff nodes (undamped
there) then stalled the Newton iteration.

How the floor enters the equations (:class:`~generic_fem.solvers.step_problem.StepProblem`):
the unknown is ``u``, with ``θ = w^n + α(u − w^n)`` in ``V_h`` (scalar ``α``) and
``w^{n+1} = w^n + r(u − w^n)``, ``r_i = α / max(α, a_i)``, node by node (it enters
only ``F(w^{n+1})`` at the nodes): so ``θ_i = w^n_i + max(α, a_i) Δw_i`` and ``θ ∈ V_h``.
Written with ``w^{n+1}`` as the unknown and ``θ = w^n + max(α, a)Δw`` as an expression,
``θ`` would not be in ``V_h`` (its gradient would carry the product-rule term
``Δw ∇a``) and the equations tested with ``θ`` would give ``⟨Iθ, M θ⟩`` in place of the
dissipation: measured on near-saturated Fermi–Dirac data, a midpoint step had
``⟨Iθ, M θ⟩ = 0.79`` against ``⟨θ, M θ⟩ = 1.59``, and a discrete-gradient step with
floors on that form let ``H`` grow.

Conservation does not depend on ``θ`` (``⟨ψ, M(f_*) θ⟩ = 0`` for every ``θ`` when
``Mψ = 0``), and the entropy inequality neither: convexity of ``H`` node by node gives
``H^{n+1} − H^n ≤ ⟨θ, f^{n+1} − f^n⟩`` as soon as ``Σ_i ω_i (α_i − α^*_i) Δw_i Δf_i ≥ 0``,
which the scalar test ``α ≥ α^*`` of :class:`~generic_fem.solvers.alpha_rounds.AlphaRounds`
implies (``α_i ≥ α`` and ``Δw_i Δf_i ≥ 0``).
"""
import numpy as np
import firedrake as fd

__all__ = ["StiffModeDamping"]


class StiffModeDamping:
    """The floor ``a_i`` of ``α`` of the midpoint and discrete-gradient schemes (module docstring).

    :arg problem: the :class:`~generic_fem.solvers.step_problem.StepProblem` (its
        ``alpha_floor``, a Function on the unknown's entropy-variable space).
    :arg step_solver: the :class:`~generic_fem.solvers.step_solver.StepSolver` (its
        Jacobian and the refresh before it).
    """

    #: ``Δt |ẇ_i|`` below which a node is not damped (``m_i = 0``): the midpoint rule's
    #: sign change is harmless on a node whose density moves by less than ``e²``.
    #: Measured: 1 doubled the error at ``Δt = 0.1`` of the linear Fokker–Planck
    #: order test (2.3e-4 → 5.0e-4); 2 leaves it, and the Vlasov–LBD one, unchanged to
    #: 1e-2 relative, and runs the robustness matrix's midpoint cases in 4–7
    #: iterations per step; 4 and 10 took up to 48 in a step (``γ = 1``)
    moving = 2.0

    def __init__(self, problem, step_solver):
        self.problem, self.step_solver = problem, step_solver
        self.floor = problem.alpha_floor
        self._rates = None
        self._diag = fd.Function(problem.z.function_space())

    def new_step(self):
        """Forget the rates of the last step (``w^n`` changes)."""
        self._rates = None

    def clear(self):
        """No floor (``θ`` with the scalar ``α`` alone)."""
        self.floor.assign(0.0)

    def set(self, values):
        """Set the floor to ``values`` (owned nodes, flat; a replay's recorded floor)."""
        with self.floor.dat.vec_wo as v:
            v.setArray(np.asarray(values).reshape(-1))

    def values(self):
        """The floor at the owned nodes (flat copy)."""
        with self.floor.dat.vec_ro as v:
            return v.getArray(readonly=True).copy()

    def apply(self, dt):
        """Set the floor for a step of size ``dt`` from ``w^n`` (the rates are measured at
        the first call of a step)."""
        if self._rates is None:
            self._rates = self._measure()
        lam, speed = self._rates
        lam_dt, change = lam * float(dt), speed * float(dt)
        moving = self.moving
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            stiff = np.where(lam_dt > 2.0, 1.0 - 1.0 / lam_dt, 0.5)
            stiff = np.where(np.isfinite(stiff), stiff, 1.0)
            weight = np.where(np.isfinite(change), np.maximum(1.0 - moving / change, 0.0), 1.0)
        floor = 0.5 + (stiff - 0.5) * weight
        if not self.problem.method.bounds_alpha:
            # discrete gradient: below λΔt = 2 only the bound R ≥ 0 (α ≥ 1 − 1/(λΔt))
            with np.errstate(divide="ignore"):
                floor = np.where(lam_dt > 2.0, floor, np.maximum(1.0 - 1.0 / lam_dt, 0.0))
        self.set(floor)

    def active(self, alpha):
        """Whether some node's floor is above ``alpha`` (collective)."""
        return self.problem.floor_top() > alpha

    @property
    def damped(self):
        """How many owned nodes have a floor above ``½`` (this rank)."""
        return int(np.count_nonzero(self.values() > 0.5))

    def _owned(self, func):
        with func.dat.vec_ro as v:      # (no floor with an auxiliary field: func is on V)
            return v.getArray(readonly=True).copy()

    def _diagonal(self):
        return self._owned(self.step_solver.jacobian_diagonal(self._diag))

    def _measure(self):
        """``(λ_i, |ẇ_i|)`` at ``w^n`` (per unit time): the Jacobian's diagonal at
        ``z = w^n`` with ``α = 1`` and with ``α = 0`` (then ``θ = w^n`` does not depend on
        the unknown and the Jacobian is the time-derivative term alone), and the residual
        there (``Δt`` times the rate: ``|ẇ_i| = |R_i| / (Δt J_{ii}(α = 0))``)."""
        p = self.problem
        alpha, z = float(p.alpha), fd.Function(p.z.function_space()).assign(p.z)
        try:
            self.clear()
            p.z_w.assign(p.w_old)
            p.alpha.assign(1.0)
            full = self._diagonal()     # (refreshes the coefficients at w^n: θ = w^n)
            residual = self._owned(fd.assemble(p.residual))
            p.alpha.assign(0.0)
            mass = self._diagonal()
        finally:
            p.alpha.assign(alpha)
            p.z.assign(z)
        dt = float(p.dt)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(mass > 0, (full - mass) / (mass * dt), np.inf)
            speed = np.where(mass > 0, np.abs(residual) / (mass * dt), np.inf)
        return (np.maximum(np.nan_to_num(rate, nan=np.inf), 0.0),
                np.nan_to_num(speed, nan=np.inf))
