r"""Differentiable runs: one ``pyadjoint`` block per accepted time step (docs "Gradients").

A step of :class:`~generic_fem.solvers.steppers.Stepper` solves ``R(z; w^n, p) = 0`` for
``z = w^{n+1}`` (and, for the ``"discrete-gradient"`` scheme, the chain-rule condition
``δ(z, α; w^n, p) = H(F(z)) − H(F(w^n)) − ⟨w^n + α(z − w^n), F(z) − F(w^n)⟩ = 0`` for
``α``).  Under a node-wise floor ``a`` of ``α``
(:class:`~generic_fem.solvers.step_problem.StepProblem`) ``z`` is the scalar-``α`` state
``u`` and ``w^{n+1} = w^n + r(u − w^n)``, ``r = α/max(α, a)``, node by node: the block's
output is pulled back through that map (``r`` on ``u``, ``1 − r`` on ``w^n``, and
``Σ b_i ∂w_i/∂α`` into the discrete gradient's bordered system), the floor held at
its recorded value; under the discrete gradient's node-wise chain rule
(:mod:`~generic_fem.solvers.motion_map`) the same with ``w^{n+1} = w^n + k(α(u − w^n))``
(``r = αk'`` on ``u``, ``1 − r`` on ``w^n``, ``∂w^{n+1}/∂α`` at fixed ``u``), a fixed map
of the states and ``α``, so nothing is held.  Its residual is a UFL form whose nonlocal friction terms carry Quadrature
coefficients ``Ĝ, ĝ, Ĵ`` (the pair sums of :mod:`generic_fem.friction.two_point`) that UFL
sees as constants.  ``StepBlock`` records the step on the tape as one block with
inputs ``w^n`` and the parameters ``p`` (the Functions in the forms other than the
stepper's own, e.g. Real-space parameters, and the Real-space Functions in the
two-point operators' coupling and spatial weight: :mod:`generic_fem.core.parameters`) and
output ``w^{n+1}``:

* recompute: the step again, with its recorded ``Δt`` (and, for ``"midpoint"``, its
  recorded ``α``; ``"discrete-gradient"`` solves for ``α`` again), with the stepper's own
  Newton solver and safeguards; a failed solve raises;
* adjoint: with ``Ψ(λ) = ⟨λ, R⟩`` the transposed Jacobian is ``R_zᵀ λ = ∂Ψ/∂z`` taken
  *through* the coefficients (:class:`PullBack`): the frozen-coefficient part is UFL's
  derivative, the rest is the chain rule through ``Ĝ, ĝ, Ĵ``, whose transposed
  linearisation (:meth:`~generic_fem.friction.two_point.TwoPointFriction.coefficient_adjoint`)
  is again pair sums over the same pairs.  ``R_zᵀ λ = b`` is solved by GMRES
  (right-preconditioned, true residual, ``rtol 1e-12``) with the assembled transposed
  frozen-coefficient Jacobian, Jacobi-scaled and factored by MUMPS, as preconditioner
  (a direct solve for local models).  For ``"discrete-gradient"`` the bordered system

  .. math::  R_z^T λ + δ_z μ = b, \qquad ⟨λ, R_α⟩ + δ_α μ = 0

  is solved with two such solves; then the adjoint of an input ``X`` is
  ``−(∂Ψ(λ)/∂X + μ ∂δ/∂X)``.

The block keeps pyadjoint's checkpoints of ``w^n`` and ``w^{n+1}`` per step and, for
models with an auxiliary field, one copy of ``z``: nothing of the Newton iterations or
pair sums is kept.  Tangent-linear and Hessian actions are not implemented (pyadjoint's
``NotImplementedError``).
"""
import weakref

import numpy as np
import firedrake as fd

from ..core.errors import InvalidParameterError
from ..core.taping import annotating
from ..core.assembly import no_annotation as _no_annotation
from ..friction.pullbacks import seed_assembler, TwoPointPullBack  # noqa: F401
from .adjoint_machinery import (PullBack, AdjointSolveError, DEFAULT_ADJOINT_PARAMETERS,  # noqa: F401
                                AdjointMachinery, machinery, scalar_value)

__all__ = ["PullBack", "TwoPointPullBack", "seed_assembler", "AdjointSolveError", "DEFAULT_ADJOINT_PARAMETERS", "annotating"]


def step_nonlocal_entries(stepper):
    """``(operator, f, g)`` for every nonlocal coefficient set in the residual of the
    stepper's steps."""
    return [(op, f, g) for op in stepper.model.friction_operators() if op.is_nonlocal
            for f, g in stepper.problem.nonlocal_pairs]


def step_dependencies(stepper):
    """The inputs of a taped step besides ``w^n``: the Functions in its forms (the
    stepper's own ``Δt``, ``α``, unknown and coefficients excluded) and the two-point
    operators' own parameters."""
    st = stepper
    forms = [st.residual] + ([st.defect_form] if st.method.solves_alpha else [])
    own = {id(st.dt), id(st.alpha), id(st.z), id(st.w_old), id(st.w), id(st.problem.alpha_floor)}
    for op in st.model.friction_operators():     # e.g. the two-point coefficients
        own.update(id(c) for c in op.internal_coefficients())
    out = []
    for form in forms:
        for c in form.coefficients():   # (Constants are not controls in Firedrake's tape)
            if isinstance(c, fd.Function) and id(c) not in own and all(c is not o for o in out):
                out.append(c)
    for op in st.model.friction_operators():
        for c in (op.parameters() if op.is_nonlocal else []):
            if isinstance(c, fd.Function) and all(c is not o for o in out):
                out.append(c)
    return out


def _make_block_class():
    from pyadjoint import Block

    class _StepBlock(Block):
        """One accepted step of a :class:`~generic_fem.solvers.steppers.Stepper` on the tape
        (module docstring)."""

        def __init__(self, stepper):
            missing = [type(op).__name__ for op in stepper.model.friction_operators()
                       if op.is_nonlocal and not op.has_adjoint]
            if missing:
                raise InvalidParameterError(
                    f"{type(stepper.model).__name__} can not be taped: its nonlocal operator(s) {missing} have no "
                    "transposed linearisation (adjoint_pullback), so the gradients would be those of the "
                    "frozen-coefficient problem. Run it with the annotation paused.")
            consts = [c for op in stepper.model.friction_operators() if op.is_nonlocal
                      for c in op.parameters() if isinstance(c, fd.Constant)]
            if consts and stepper not in _WARNED_CONSTANTS:
                import warnings
                warnings.warn(f"{type(stepper.model).__name__}: the parameter(s) {[str(c) for c in consts]} are "
                              "Constants, which firedrake.adjoint does not tape: they are held fixed (no gradient). "
                              "Use generic_fem.core.parameters.real_parameter(mesh, value) for a control.", stacklevel=3)
                _WARNED_CONSTANTS.add(stepper)
            super().__init__()
            self.stepper = stepper
            self.add_dependency(stepper.w)
            self.controls = step_dependencies(stepper)
            for c in self.controls:
                self.add_dependency(c)
            self.entries = step_nonlocal_entries(stepper)
            self.dt = None
            self.alpha = None
            self.floor = None
            self.z_saved = None

        def __str__(self):
            return f"generic-fem {self.stepper.scheme} step (dt = {self.dt})"

        def record(self, dt, alpha):
            """The step's ``Δt`` and ``α`` (and whether ``α`` was solved for; the node-wise
            floor of ``α``, if any), and, with an auxiliary field, all of ``z``."""
            self.dt, self.alpha = float(dt), float(alpha)
            st = self.stepper
            if st.damping is not None:
                self.floor = st.damping.values()
            self.alpha_active = st.alpha_active and st.method.solves_alpha
            if st.z is not st.z_w:
                if self.z_saved is None:
                    self.z_saved = fd.Function(st.z.function_space())
                self.z_saved.assign(st.z)

        # -------------------------------------------------------------- state
        def _set_inputs(self, inputs):
            """Put the checkpointed inputs into the stepper's objects; returns what to
            restore afterwards."""
            st = self.stepper
            saved = (fd.Function(st.w.function_space()).assign(st.w),
                     fd.Function(st.w_old.function_space()).assign(st.w_old),
                     fd.Function(st.z.function_space()).assign(st.z),
                     float(st.dt), float(st.alpha),
                     [(c, fd.Function(c.function_space()).assign(c)) for c in self.controls],
                     None if st.damping is None else st.damping.values())
            st.w_old.assign(inputs[0])
            for c, v in zip(self.controls, inputs[1:]):
                c.assign(v)
            st.dt.assign(self.dt)
            st.alpha.assign(self.alpha)
            if self.floor is not None:
                st.damping.set(self.floor)
            return saved

        def _restore(self, saved):
            st = self.stepper
            w, w_old, z, dt, alpha, consts, floor = saved
            if floor is not None:
                st.damping.set(floor)
            st.w.assign(w)
            st.w_old.assign(w_old)
            st.z.assign(z)
            st.dt.assign(dt)
            st.alpha.assign(alpha)
            for c, v in consts:
                c.assign(v)

        # -------------------------------------------------------------- forward
        def recompute_component(self, inputs, block_variable, idx, prepared):
            st = self.stepper
            saved = self._set_inputs(inputs)
            try:
                with _no_annotation():
                    st.replay(self.dt, self.alpha, self.floor)
                    self.record(self.dt, float(st.alpha))
                out = fd.Function(st.w.function_space()).assign(st.w)
            finally:
                self._restore(saved)
            return out

        # -------------------------------------------------------------- adjoint
        def prepare_evaluate_adj(self, inputs, adj_inputs, relevant_dependencies):
            st = self.stepper
            b = adj_inputs[0]
            if b is None:
                return None
            saved = self._set_inputs(inputs)
            try:
                with _no_annotation():
                    if self.z_saved is not None:
                        st.z.assign(self.z_saved)
                        st.w.assign(st.z_w)
                    else:
                        st.w.assign(self.get_outputs()[0].saved_output)
                        st.problem.set_unknown(st.w)
                    st.refresh()
                    return self._solve_adjoint(b)
            except Exception:
                self._restore(saved)
                raise
            finally:
                self._saved = saved

        def _solve_adjoint(self, b):
            """``λ`` (and ``μ``); leaves the machinery's pull-back at ``Ψ(λ)``."""
            st = self.stepper
            mach = machinery(st, self.entries)
            Z = st.z.function_space()
            rhs = fd.Cofunction(Z.dual())
            if Z is st.w.function_space():
                rhs.assign(b)
            else:
                rhs.subfunctions[0].assign(b)
            # under a floor of α the output is w^{n+1} = w^n + r(u − w^n), node by node, of
            # the unknown u (under the node-wise chain rule w^n + k(α(u − w^n)), r = αk'):
            # b pulls back to r b on u, (1 − r) b on w^n directly and Σ b_i ∂w_i/∂α on α
            # (nodal rule: the entries of b are nodal)
            scaling = st.problem.state_output_scaling()
            b_alpha, direct = 0.0, None
            if scaling is not None:
                r, d_alpha_out = scaling
                bv = np.asarray(rhs.dat.data_ro).reshape(-1)[:len(r)].copy()
                rhs.dat.data_wo[...] = (r * bv).reshape(rhs.dat.data_ro.shape)
                direct = (1.0 - r) * bv
                b_alpha = st.model.mesh.comm.allreduce(float(np.dot(bv, d_alpha_out)))
            mach.setup(self.dt)
            lam = mach.solve(rhs)
            mu = 0.0
            if st.method.solves_alpha and self.alpha_active:
                y2 = mach.solve(mach.d_z())
                d_alpha = scalar_value(mach.d_alpha()) if mach.d_alpha is not None else 0.0
                r1, r2 = mach.alpha_derivative(lam), mach.alpha_derivative(y2)
                if r2 - d_alpha != 0.0:
                    mu = (r1 - b_alpha) / (r2 - d_alpha)
                    lam.assign(lam - mu * y2)
            mach.set_direction(lam)
            return {"lambda": lam, "mu": mu, "machinery": mach, "direct": direct}

        def evaluate_adj_component(self, inputs, adj_inputs, block_variable, idx, prepared=None):
            if prepared is None:
                return None
            st = self.stepper
            mach, mu = prepared["machinery"], prepared["mu"]
            X = st.w_old if idx == 0 else self.controls[idx - 1]
            assemble = mach.gradient_form(X)
            out = fd.Cofunction(X.function_space().dual())
            if assemble is not None:
                out.assign(assemble())
            if mu != 0.0:
                d = mach.defect_gradient_form(X)
                if d is not None:
                    out.dat.data_wo[...] += mu * d().dat.data_ro
            p = mach.pull.parameter_gradient(X)
            if p:    # through the pair sums (coupling, spatial weight)
                out.dat.data_wo[...] += p
            out.dat.data_wo[...] *= -1.0
            if idx == 0 and prepared.get("direct") is not None:
                d = prepared["direct"]
                out.dat.data_wo[...] += d.reshape(out.dat.data_ro.shape)
            return out

        def evaluate_adj(self, markings=False):
            try:
                super().evaluate_adj(markings=markings)
            finally:
                saved = getattr(self, "_saved", None)
                if saved is not None:
                    self._restore(saved)
                    self._saved = None

    return _StepBlock


_BLOCK = None

#: steppers already warned that their Constant parameters are not taped
_WARNED_CONSTANTS = weakref.WeakSet()


def _block_class():
    global _BLOCK
    if _BLOCK is None:
        _BLOCK = _make_block_class()
    return _BLOCK


def step_block(stepper):
    """A new ``StepBlock`` for the step the stepper is about to take."""
    return _block_class()(stepper)


def __getattr__(name):
    """``StepBlock``, the block class (made on first use: pyadjoint is imported lazily)."""
    if name == "StepBlock":
        return _block_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
