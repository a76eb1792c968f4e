r"""The linear algebra of a taped step's adjoint (:mod:`generic_fem.solvers.adjoint`
records the steps; this module solves their transposed systems).

:class:`PullBack` is ``Ψ(λ) = ⟨λ, R⟩`` differentiated *through* the nonlocal
coefficients of the residual ``R`` (the frozen-coefficient part is UFL's derivative,
the rest the transposed linearisation of the two-point operators);
:class:`AdjointMachinery` holds, per stepper, the assembled transposed
frozen-coefficient Jacobian (the preconditioner), the matrix-free exact transposed
Jacobian and the bordered system of the discrete-gradient scheme, and solves
``R_zᵀ λ = b`` with the options :data:`DEFAULT_ADJOINT_PARAMETERS` (prefix
``<stepper prefix>adjoint_``).
"""
import numpy as np
import ufl
import firedrake as fd
from petsc4py import PETSc

from ..core.errors import StepFailedError
from ..core.petsc_options import inserted_options
from ..core.assembly import Assembler
from ..friction.pullbacks import assembler, expanded, TwoPointPullBack

__all__ = ["PullBack", "AdjointMachinery", "AdjointSolveError", "DEFAULT_ADJOINT_PARAMETERS", "machinery"]


class AdjointSolveError(StepFailedError):
    """The adjoint linear system of a time step did not converge."""


#: the transposed (adjoint) solve of a step: GMRES on the exact transposed Jacobian,
#: preconditioned by the Jacobi-scaled LU of the frozen-coefficient transpose
DEFAULT_ADJOINT_PARAMETERS = {
    "ksp_type": "gmres",
    "ksp_pc_side": "right",
    "ksp_rtol": 1e-12,
    "ksp_atol": 1e-50,
    "ksp_max_it": 300,
    "ksp_gmres_restart": 300,
    "pc_type": "python",
    "pc_python_type": "generic_fem.solvers.linear_solvers.DiagonalScaledLU",
    "scaled_pc_factor_mat_solver_type": "mumps",
}


class PullBack:
    r"""The gradient of a scalar form ``Ψ`` through the nonlocal coefficients.

    ``Ψ`` is a 0-form in which the coefficients of nonlocal operators (for two-point
    operators ``Ĝ_i, ĝ_i, Ĵ_i``, Quadrature Functions holding pair sums) appear as
    constants to UFL.  Each operator gives a pull-back (``op.adjoint_pullback(Ψ, f, g)``,
    e.g. :class:`TwoPointPullBack`) whose :meth:`update` assembles the cotangents of its
    coefficients and pulls them back to Functions ``b`` in a 0-form ``extra(b; f, g)``
    linear in ``b``, so that

    .. math::  \frac{dΨ}{dX} = \frac{∂Ψ}{∂X}\Big|_{\text{coefficients}}
               + \frac{∂\,\mathrm{extra}}{∂X}

    for any coefficient ``X`` (:meth:`gradient_form`); the operators' own parameters get
    their values from :meth:`parameter_gradient`."""

    def __init__(self, psi, entries):
        self.psi = psi
        self.items = [op.adjoint_pullback(psi, f, g) for op, f, g in entries]
        extras = [it.extra for it in self.items if isinstance(it.extra, ufl.Form)]
        self.extra = sum(extras[1:], extras[0]) if extras else None
        self.pbar = {}

    def update(self, parameters=True):
        """Assemble the cotangents for the current values of ``Ψ``'s coefficients (the
        entries must be refreshed at the state); with ``parameters``, also those of the
        operators' Real-space parameters (one pass each).  Collective."""
        self.pbar = {}
        for it in self.items:
            for p, v in it.update(parameters).items():
                self.pbar[p] = self.pbar.get(p, 0.0) + v

    def gradient_form(self, X, dX, frozen=True):
        """The 1-form ``dΨ/dX [dX]`` (``None`` if it vanishes): with ``frozen=False`` only
        the part through the coefficients."""
        out = None
        parts = ([self.psi] if frozen else []) + ([self.extra] if self.extra is not None else [])
        for form in parts:
            d = expanded(ufl.derivative(form, X, dX))
            if d is not None:
                out = d if out is None else out + d
        return out

    def parameter_gradient(self, p):
        """``dΨ/dp`` through the operators' coefficients for a parameter ``p`` (0 if none)."""
        return self.pbar.get(p, 0.0)


class AdjointMachinery:
    """What the adjoint solves of one stepper's steps share, built once per stepper (its
    forms, the transposed frozen Jacobian, the Krylov solver and one :class:`PullBack`):
    a new form object per step would cost form-building time at every step."""

    def __init__(self, stepper, entries):
        st = self.stepper = stepper
        Z = st.z.function_space()
        self.entries = entries
        self.x = fd.Function(Z, name="adjoint_direction")
        self.pull = PullBack(ufl.action(st.residual, self.x), entries)
        self.correction = assembler(self.pull.gradient_form(st.z, fd.TestFunction(Z), frozen=False))
        AT_form = ufl.adjoint(ufl.derivative(st.residual, st.z, fd.TrialFunction(Z)))
        self.AT_assemble = Assembler(AT_form, mat_type="aij")
        self.AT = None
        self.grad_forms = {}
        if st.method.solves_alpha:
            D = st.defect_form
            R = fd.TestFunction(st.alpha.function_space())
            self.d_z = assembler(expanded(ufl.derivative(D, st.z, fd.TestFunction(Z))))
            self.d_alpha = assembler(expanded(ufl.derivative(D, st.alpha, R)))
            self.R_alpha = assembler(self.pull.gradient_form(st.alpha, R))
        self.ksp = None

    # the shell matrix: y = R_zᵀ x
    def mult(self, mat, X, Y):
        self.AT.petscmat.mult(X, Y)
        if self.correction is None:
            return
        with self.x.dat.vec_wo as v:
            X.copy(v)
        self.pull.update(parameters=False)
        c = self.correction()
        with c.dat.vec_ro as v:
            Y.axpy(1.0, v)

    def setup(self, dt):
        """Assemble the transposed frozen Jacobian at the current state and (re)set the
        solver (the preconditioner is refactored)."""
        st = self.stepper
        self.dt = dt
        self.AT = self.AT_assemble()
        A = self.AT.petscmat
        params = dict(DEFAULT_ADJOINT_PARAMETERS)
        params.update(st.adjoint_solver_parameters)
        if not self.entries:
            params["ksp_type"] = "preonly"
        self.prefix = st.options_prefix + "adjoint_"
        self.params = params
        if self.ksp is None:
            n, N = A.getLocalSize()[0], A.getSize()[0]
            self.shell = PETSc.Mat().createPython(((n, N), (n, N)), self, comm=A.getComm())
            self.shell.setUp()
            self.ksp = PETSc.KSP().create(comm=A.getComm())
            self.ksp.setOptionsPrefix(self.prefix)
            self.ksp.setOperators(self.shell if self.entries else A, A)
            with self._options():
                self.ksp.setFromOptions()
        else:
            self.ksp.setOperators(self.shell if self.entries else A, A)

    def _options(self):
        """The solver's options in PETSc's database while it is set up and solves (the
        inner factorisation of the preconditioner reads them at its first solve);
        options given on the command line take precedence, as in Firedrake
        (:func:`~generic_fem.core.petsc_options.inserted_options`)."""
        return inserted_options({k: ("" if v is None else v) for k, v in self.params.items()}, self.prefix)

    def solve(self, rhs):
        """``x`` with ``R_zᵀ x = rhs``; raises :class:`AdjointSolveError` if GMRES fails."""
        st = self.stepper
        x = fd.Function(st.z.function_space())
        with rhs.dat.vec_ro as r, x.dat.vec_wo as xv, self._options():
            self.ksp.solve(r, xv)
            reason, its = self.ksp.getConvergedReason(), self.ksp.getIterationNumber()
            rn = self.ksp.getResidualNorm()
            finite = np.isfinite(xv.norm())
        st.adjoint_stats["ksp_its"] += its
        st.adjoint_stats["solves"] += 1
        if reason < 0 or not finite:
            raise AdjointSolveError(
                f"the adjoint solve of the {st.scheme} step (dt = {self.dt:.3e}) failed: KSP reason "
                f"{reason} after {its} iterations, residual {rn:.2e}. Loosen or change "
                f"{self.prefix}ksp_* (Stepper(adjoint_solver_parameters=...)) or take smaller steps.")
        return x

    def set_direction(self, y):
        """Pull ``Ψ(y) = ⟨y, R⟩`` back through the coefficients (for the gradient forms)."""
        self.x.assign(y)
        self.pull.update()

    def alpha_derivative(self, y):
        """``⟨y, ∂R/∂α⟩`` through the coefficients."""
        self.x.assign(y)
        self.pull.update(parameters=False)
        return 0.0 if self.R_alpha is None else scalar_value(self.R_alpha())

    def defect_gradient_form(self, X):
        """``∂δ/∂X`` of the discrete-gradient chain-rule defect (cached; ``None`` if 0)."""
        key = ("defect", id(X))
        if key not in self.grad_forms:
            d = ufl.derivative(self.stepper.defect_form, X, fd.TestFunction(X.function_space()))
            self.grad_forms[key] = (X, assembler(expanded(d)))
        return self.grad_forms[key][1]

    def gradient_form(self, X):
        """``∂Ψ/∂X`` for the current direction (cached per input)."""
        key = id(X)
        if key not in self.grad_forms:
            self.grad_forms[key] = (X, assembler(self.pull.gradient_form(X, fd.TestFunction(X.function_space()))))
        return self.grad_forms[key][1]


def machinery(stepper, entries):
    """The :class:`AdjointMachinery` of ``stepper`` (built once, kept in its
    ``adjoint_machinery``)."""
    if stepper.adjoint_machinery is None:
        stepper.adjoint_machinery = AdjointMachinery(stepper, entries)
    return stepper.adjoint_machinery


def scalar_value(cof):
    """The value of a Cofunction on the Real space (0 on a rank that holds none)."""
    vals = np.asarray(cof.dat.data_ro).ravel()
    return float(vals[0]) if vals.size else 0.0


