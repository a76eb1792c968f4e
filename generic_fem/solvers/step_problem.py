r"""The discrete equations of one time step, in UFL: what a scheme asks the solver to solve.

For a model (``E, S, L, M``; :class:`~generic_fem.models.model.GenericModel`) and a scheme
(:class:`~generic_fem.solvers.schemes.Scheme`) a step from ``w^n`` solves for
``w^{n+1} ∈ V_h`` (and, for a friction operator with an auxiliary field, ``q``)

.. math::

   R(w^{n+1}; φ) = ⟨φ, F(w^{n+1}) − F(w^n)⟩ − Δt ⟨φ, L(f_L) dE(f_L)⟩
                   + Δt ⟨φ, M(f_*) (θ − ψ)⟩ = 0   \quad ∀ φ ∈ V_h,

with ``θ``, ``f_*`` and ``f_L`` the scheme's (``θ = w^{n+1}`` or ``w^n + α(w^{n+1} − w^n)``,
node by node ``w^n_i + max(α, a_i)(w^{n+1}_i − w^n_i)`` under a floor ``a`` of ``α``, and
``w^n_i + d_i`` with ``w^{n+1}_i = w^n_i + k(d_i)`` under the discrete gradient's node-wise
chain rule: the unknown is then ``u`` with ``θ = w^n + α(u − w^n) ∈ V_h``, see
:attr:`StepProblem.alpha_floor` and :attr:`StepProblem.motion`;
Öttinger's GENERIC form, the schemes of Jüngel–Stefanelli–Trussardi, arXiv:1806.05563,
in entropy variables) and ``ψ`` an optional forcing.  The residual is ``Δt`` times the
rate form, so its entries are increments of ``∫ φ_i f`` and ``snes_atol`` bounds the
conservation error directly.

:class:`StepProblem` holds these forms and the Functions they live on (the unknown, ``w^n``,
``Δt``, ``α``), the Picard Jacobian with the mobility lagged, the forms of the step's
diagnostics (the dissipation ``⟨θ, M (θ − ψ)⟩`` and the chain-rule defect) and the
correction that makes the Jacobian exact for two-point operators.  It solves nothing:
the :class:`~generic_fem.solvers.steppers.Stepper` owns the nonlinear solver, the
convergence test and the step control.
"""
import numpy as np
import ufl
import ufl.algorithms
import firedrake as fd
from mpi4py import MPI

from ..core.errors import InvalidParameterError
from .chain_rule import chain_rule_defect_form, node_wise_rule
from .motion_map import MotionMap, componentwise

__all__ = ["StepProblem"]


def _floor_ratio(alpha, floor):
    """``r = α / max(α, a)`` (UFL, component by component): 1 where ``α ≥ a``."""
    if floor.ufl_shape == ():
        return ufl.conditional(ufl.gt(floor, alpha), alpha / floor, 1.0)
    return ufl.as_vector([ufl.conditional(ufl.gt(floor[i], alpha), alpha / floor[i], 1.0)
                          for i in range(floor.ufl_shape[0])])


def _floor_ratio_values(alpha, floor):
    """:func:`_floor_ratio` on nodal values (numpy)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(floor > alpha, alpha / np.where(floor > alpha, floor, 1.0), 1.0)


class StepProblem:
    """The residual of a step and the forms around it (module docstring).

    :arg model: the model.
    :arg method: the :class:`~generic_fem.solvers.schemes.Scheme`.
    :arg forcing: optional UFL expression ``ψ`` (the friction acts on ``θ − ψ``).
    :arg nonlocal_jacobian: ``"picard"`` (the Jacobian with the nonlocal coefficients
        frozen and, under the nodal rule, the friction's mobility lagged) or ``"exact"``.
    :arg floor: whether ``α`` may have a node-wise floor (nodal rule, second-order schemes;
        default: the midpoint scheme's; the discrete gradient's on request, which then
        takes the scalar ``α`` with the floor instead of the node-wise chain rule).
    :arg motion_scale: ``c`` of the discrete gradient's node-wise chain rule
        (:mod:`~generic_fem.solvers.motion_map`; nodal rule, no floor, no auxiliary
        field); ``0``: the scalar ``θ = w^n + αΔw``.

    Attributes: ``z`` (the unknown; ``z_w`` its entropy-variable part), ``w_old`` (``w^n``),
    ``dt`` (a ``Constant``), ``alpha`` (a Function on the Real space: the adjoint of the
    discrete-gradient scheme differentiates the residual with respect to it), ``theta``,
    ``fstar``, ``f_old``, ``f_unknown`` (``F(w^{n+1})`` of the unknown), ``residual``,
    ``jacobian`` (the lagged-mobility Jacobian form, or ``None``: the residual's own
    derivative), ``theta_lagged`` (the Function that holds ``θ`` at the iterate of the
    lagged Jacobian, or ``None``), ``nonlocal_pairs`` (the ``(mobility, argument)`` pairs of
    ``M`` in the residual), ``dissipation_form`` / ``dissipation_pair`` and
    ``defect_form`` (discrete gradient only, else ``None``).
    """

    def __init__(self, model, method, forcing=None, nonlocal_jacobian="picard", floor=None,
                 motion_scale=MotionMap.default_scale):
        if nonlocal_jacobian not in ("picard", "exact"):
            raise InvalidParameterError(f"nonlocal_jacobian must be 'picard' or 'exact', got {nonlocal_jacobian!r}")
        self.model, self.method, self.forcing = model, method, forcing
        V = model.V
        self.w_old = fd.Function(V, name="w_old")
        self.dt = fd.Constant(0.1)
        self.alpha = fd.Function(fd.FunctionSpace(model.mesh, "R", 0), name="alpha").assign(0.5)
        W = model.friction_auxiliary_space()
        if W is None:
            self.z = fd.Function(V, name="w_new")
            w1, q = self.z, None
            phi, r = fd.TestFunction(V), None
        else:  # solve for the entropy variable and the auxiliary field together
            self.z = fd.Function(V * W, name="w_q_new")
            w1, q = ufl.split(self.z)
            phi, r = fd.TestFunctions(V * W)
        self.has_auxiliary = W is not None
        self.z_w = self.z if W is None else self.z.subfunctions[0]
        w0 = self.w_old
        u = w1
        #: the node-wise floor ``a`` of ``α`` (second-order schemes, nodal rule;
        #: :class:`~generic_fem.solvers.stiff_damping.StiffModeDamping`), or ``None``.  With
        #: it the unknown ``u`` is not ``w^{n+1}`` but the state of the scalar-``α`` step:
        #: ``θ = w^n + α(u − w^n) ∈ V_h`` and ``w^{n+1} = w^n + r(u − w^n)`` node by node,
        #: ``r = α / max(α, a)``, so that ``θ_i = w^n_i + max(α, a_i)(w^{n+1}_i − w^n_i)``.
        #: (Written with ``w^{n+1}`` as the unknown, ``θ`` would not be in ``V_h``: its
        #: gradient would carry the product-rule term ``Δw ∇a``, and tested with ``θ`` the
        #: equations would not give ``−Δt ⟨θ, M θ⟩``: measured, the entropy grew in a step.)
        if floor is None:
            floor = method.bounds_alpha
        self.alpha_floor = (fd.Function(V, name="alpha_floor")
                            if floor and method.uses_alpha and model.rule.kind == "nodal" and W is None else None)
        #: the discrete gradient's node-wise chain rule (:class:`~generic_fem.solvers.motion_map.MotionMap`),
        #: or ``None``: ``θ = w^n + α(u − w^n)`` and ``w^{n+1} = w^n + k(α(u − w^n))``
        self.motion = (node_wise_rule(model, motion_scale)
                       if method.solves_alpha and self.alpha_floor is None else None)
        if self.motion is not None:
            mm, al = self.motion, self.alpha
            w1 = w0 + componentwise(lambda uu, ww: mm.step(al * (uu - ww), al), u, w0)
            self._motion_theta_alpha = componentwise(lambda uu, ww: mm.theta_alpha(al * (uu - ww), al), u, w0)
        if self.alpha_floor is not None:
            # u + (r − 1)(u − w^n): exactly u (bit for bit) at the nodes without a floor
            w1 = u + ufl.elem_mult(_floor_ratio(self.alpha, self.alpha_floor) - ufl.as_vector(
                [1.0] * w0.ufl_shape[0]), u - w0) \
                if w0.ufl_shape != () else u + (_floor_ratio(self.alpha, self.alpha_floor) - 1.0) * (u - w0)
        #: the Function that holds ``w^{n+1}`` after a solve (the invariant projection's):
        #: the unknown's entropy-variable part, or its own Function under a map (a floor
        #: or the node-wise chain rule)
        self.w_new = self.z_w if not self.has_state_map else fd.Function(V, name="w_next")
        self.theta = theta = method.theta(w0, u, self.alpha)
        #: ``∂θ/∂α`` at fixed ``w^{n+1}`` (UFL): ``Δw`` where ``α`` is above the floor;
        #: ``∂d/∂α`` under the node-wise chain rule
        self.theta_alpha = (self._motion_theta_alpha if self.motion is not None
                            else w1 - w0 if self.alpha_floor is None
                            else ufl.conditional(ufl.ge(self.alpha, self.alpha_floor), w1 - w0, 0.0)
                            if w0.ufl_shape == () else
                            ufl.as_vector([ufl.conditional(ufl.ge(self.alpha, self.alpha_floor[i]),
                                                           w1[i] - w0[i], 0.0)
                                           for i in range(w0.ufl_shape[0])]))
        self.fstar = fstar = method.mobility_state(model, w0, theta)
        self.nonlocal_pairs = [(fstar, theta)] + ([(fstar, forcing)] if forcing is not None else [])
        self.f_unknown = model.density(w1)
        self.f_old = model.density(w0)

        rate = 0
        # the Poisson part at the scheme's state f_L (Scheme.transport_state)
        Lterm = model.reversible_rate(method.transport_state(model, w1, fstar), phi)
        if Lterm is not None:
            rate = rate - Lterm

        def residual(fM):
            """The residual with the friction's mobility state ``fM``."""
            out = rate + model.friction_with_auxiliary(fM, theta, phi, q)
            if forcing is not None:
                out = out - model.friction_with_auxiliary(fM, forcing, phi, q)
            if W is not None:
                g = theta if forcing is None else theta - forcing
                out = out + model.friction_auxiliary_equation(fM, g, q, r)
            return ufl.inner(phi, self.f_unknown - self.f_old) * model.dx + self.dt * out
        self.residual = residual(fstar)

        # The Picard Jacobian with the mobility lagged (docs/theory.rst, "Globalisation"):
        # the derivative of the residual with the friction's mobility state f* = F(θ) held
        # at the current iterate (a Function refreshed before every Jacobian) and the
        # nonlocal coefficients frozen.  It is symmetric positive definite (the
        # time-derivative term plus Δt times a frozen diffusion), so its scaled LU stays
        # accurate; the derivative of the local mobility makes it nonsymmetric and, in
        # under-resolved tails, nearly singular.  Nodal rule only: under the Gauss rule
        # the derivative of the local mobility is kept (lagged, it let tail modes grow:
        # γ = 0, midpoint, R = 6, w → 0.2 at an edge point).  Local friction is lagged too
        # (Newton's exact Jacobian diverged on a linear Fokker–Planck step, anisotropic
        # Gaussian, Δt = 0.2, 8×8: residual 0.07 → 2e4 in 50 iterations; lagged: 20
        # iterations).  nonlocal_jacobian="exact" keeps Newton's Jacobian (the lagged
        # matrix as its preconditioner did not help: GMRES still failed at γ = 1).
        self.theta_lagged = None
        self.jacobian = None
        if nonlocal_jacobian == "picard" and not method.frozen_mobility and model.rule.kind == "nodal":
            theta_lagged = fd.Function(V, name="theta_lagged")
            f_lagged = model.density(theta_lagged)
            if all(op.share_coefficients(f_lagged, f, g)
                   for op in model.friction_operators() for f, g in self.nonlocal_pairs):
                self.theta_lagged = theta_lagged
                self.jacobian = fd.derivative(residual(f_lagged), self.z)

        g_d = theta if forcing is None else theta - forcing
        #: ``⟨θ, M(θ − ψ)⟩`` (``ψ = 0`` without forcing): the rate of the entropy balance
        self.dissipation_form = model.friction_with_auxiliary(fstar, g_d, theta, q)
        self.dissipation_pair = (fstar, g_d)
        #: the chain-rule defect ``δ(z, α)`` of the discrete-gradient scheme (its adjoint)
        self.defect_form = (chain_rule_defect_form(model, w0, theta, self.f_old, self.f_unknown)
                            if method.solves_alpha else None)

    def theta_values(self, u):
        """``θ`` at the owned nodes (flat) for the owned nodal values ``u`` of the
        unknown: ``u`` for the first-order schemes, ``w^n + α(u − w^n)`` for the
        midpoint and discrete-gradient schemes."""
        u = np.asarray(u).reshape(-1)
        if not self.method.uses_alpha:
            return u
        w0 = self._owned(self.w_old, len(u))
        return w0 + float(self.alpha) * (u - w0)

    @property
    def has_state_map(self):
        """Whether the unknown differs from ``w^{n+1}`` (a floor of ``α`` or the discrete
        gradient's node-wise chain rule)."""
        return self.alpha_floor is not None or self.motion is not None

    def node_wise_alpha(self):
        """Whether ``θ_i − w^n_i`` is not ``α Δw_i`` at some node (collective): a floor above
        ``α`` somewhere, or the node-wise chain rule."""
        return self.motion is not None or self.floor_top() > 0.0

    def _ratio(self, n):
        return _floor_ratio_values(float(self.alpha),
                                   np.asarray(self.alpha_floor.dat.data_ro).reshape(-1)[:n])

    def _owned(self, func, n):
        return np.asarray(func.dat.data_ro).reshape(-1)[:n]

    def floor_top(self):
        """The largest floor of ``α`` over the nodes (0 without one; collective)."""
        if self.alpha_floor is None:
            return 0.0
        top = float(np.max(self.alpha_floor.dat.data_ro, initial=0.0))
        return self.model.mesh.comm.allreduce(top, op=MPI.MAX)

    def state_ratio(self):
        """``∂w^{n+1}/∂u`` at the owned nodes (flat): ``r = α / max(α, a)`` under a floor,
        ``α k'(α(u − w^n))`` under the node-wise chain rule."""
        n = self.z_w.dat.data_ro.size
        if self.motion is not None:
            alpha = float(self.alpha)
            d = alpha * (self._owned(self.z_w, n) - self._owned(self.w_old, n))
            return alpha * self.motion.derivatives(d, alpha)[0]
        return self._ratio(n)

    def state_values(self, u):
        """``w^{n+1}`` at the owned nodes (flat) for the owned nodal values ``u`` of the
        unknown (``u`` itself without a map)."""
        u = np.asarray(u).reshape(-1)
        if not self.has_state_map:
            return u
        w0 = self._owned(self.w_old, len(u))
        if self.motion is not None:
            alpha = float(self.alpha)
            return w0 + self.motion.step_values(alpha * (u - w0), alpha)
        r = self._ratio(len(u))
        return np.where(r == 1.0, u, w0 + r * (u - w0))

    def unknown_values(self, w1):
        """The inverse of :meth:`state_values`."""
        w1 = np.asarray(w1).reshape(-1)
        if not self.has_state_map:
            return w1
        w0 = self._owned(self.w_old, len(w1))
        if self.motion is not None:
            alpha = float(self.alpha)
            return w0 + self.motion.inverse_values(w1 - w0, alpha) / alpha
        r = self._ratio(len(w1))
        return np.where(r == 1.0, w1, w0 + (w1 - w0) / r)

    def set_unknown(self, w1):
        """Set the unknown to the values that give the state ``w^{n+1} = w1`` (a Function
        on ``V``) for the current ``α`` and map."""
        if not self.has_state_map:
            self.z_w.assign(w1)
            return
        z = self.z_w.dat.data_wo
        z[...] = self.unknown_values(w1.dat.data_ro).reshape(z.shape)

    def sync_state(self):
        """Set :attr:`w_new` to the state of the current unknown (nothing without a map)."""
        if self.has_state_map:
            w = self.w_new.dat.data_wo
            w[...] = self.state_values(self.z_w.dat.data_ro).reshape(w.shape)

    def state_output_scaling(self):
        """``(∂w^{n+1}/∂u, ∂w^{n+1}/∂α)`` at the owned nodes (flat) of the map from the
        unknown to ``w^{n+1}`` (``∂w^{n+1}/∂w^n = 1 − ∂w^{n+1}/∂u`` at fixed ``u``), or
        ``None`` without one (for the adjoint)."""
        if not self.has_state_map:
            return None
        u = np.asarray(self.z_w.dat.data_ro).reshape(-1)
        n = len(u)
        w0 = self._owned(self.w_old, n)
        alpha = float(self.alpha)
        if self.motion is not None:
            d = alpha * (u - w0)
            kp, k_alpha = self.motion.derivatives(d, alpha)
            return alpha * kp, kp * (u - w0) + k_alpha
        a = self._owned(self.alpha_floor, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            d_alpha = np.where(a > alpha, (u - w0) / np.where(a > alpha, a, 1.0), 0.0)
        return self._ratio(n), d_alpha

    def lag_mobility(self):
        """Hold ``θ`` of the current unknown in :attr:`theta_lagged` (before a Jacobian)."""
        if self.theta_lagged is not None:
            theta = self.theta_lagged.dat.data
            theta[...] = self.theta_values(self.z_w.dat.data_ro).reshape(theta.shape)

    def exact_jacobian_correction(self):
        """``(form, δ)``: the 1-form ``Σ_c ∂R/∂c · δc`` over the nonlocal coefficients
        ``c`` of the residual, with ``δc`` their derivatives in the direction of the
        Function ``δ`` (on the unknown's space); ``(None, None)`` without nonlocal
        coefficients.  Added to the frozen-coefficient Jacobian's action it gives
        Newton's exact Jacobian."""
        delta = fd.Function(self.z.function_space(), name="newton_direction")
        corr = None
        for f, g in self.nonlocal_pairs:
            df = ufl.algorithms.expand_derivatives(ufl.derivative(f, self.z, delta))
            dg = ufl.algorithms.expand_derivatives(ufl.derivative(g, self.z, delta))
            pairs = [p for op in self.model.friction_operators() for p in op.linearization(f, g, df, dg)]
            for c, dc in pairs:
                term = ufl.derivative(self.residual, c, dc)
                corr = term if corr is None else corr + term
        if corr is None:
            return None, None
        return ufl.algorithms.expand_derivatives(corr), delta
