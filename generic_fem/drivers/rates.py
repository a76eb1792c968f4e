r"""Semi-discrete time derivatives: ``dΦ/dt`` of any functional at a state, split by operator.

The semi-discrete dynamics of a model in entropy variables (``w_h ∈ V_h``, ``f = F(w_h)``,
``dS = −w``) is

.. math::

   ⟨φ, F'(w) \dot w⟩ = ⟨φ, L(f) dE(f)⟩ − \sum_k ⟨φ, M_k(f) w⟩ \qquad ∀ φ ∈ V_h,

with ``M = Σ_k M_k`` the model's friction operators
(:meth:`~generic_fem.models.model.GenericModel.friction_operators`).  The velocity ``ẇ`` is
linear in the right-hand side, so it splits into one part per operator (and the
reversible part): ``ẇ = ẇ_L + Σ_k ẇ_k``, each one solve with the matrix
``⟨φ_i, F'(w) φ_j⟩`` (diagonal under the nodal rule), and for a functional ``Φ(w)``

.. math::  \frac{d}{dt} Φ(w) = Φ'(w)[\dot w] = Φ'(w)[\dot w_L] + \sum_k Φ'(w)[\dot w_k],

exactly: no time step.  For ``Φ = H = −S`` it is ``⟨w, F'(w)ẇ⟩ = ⟨w, L dE⟩ − Σ_k ⟨w,
M_k w⟩``: minus the dissipation of each operator (tested to round-off).  This is the
quantity of entropy–entropy-production and Fisher-information arguments (e.g.
Guillen–Silvestre, arXiv:2311.09420; the threshold ``γ = −√8`` of seed 004's
counterexample), computed for the discrete model.
"""
import numpy as np
import ufl
import firedrake as fd
from mpi4py import MPI
from petsc4py import PETSc

from ..core.errors import InvalidParameterError
from ..core.petsc_options import inserted_options

__all__ = ["time_derivatives", "operator_labels"]


def operator_labels(model):
    """The names of the model's friction operators (their ``label``, else the class
    name with its index)."""
    ops = model.friction_operators()
    out = []
    for k, op in enumerate(ops):
        name = getattr(op, "label", None) or f"{type(op).__name__}[{k}]"
        out.append(name if name not in out else f"{name}[{k}]")
    return out


def _velocity_parts(model, w, f, solver_parameters):
    """``{label: ẇ_part}`` (Functions on ``V``): one per friction operator (or
    ``"friction"`` for a model that states ``M`` as one form, or has an auxiliary field)
    and ``"reversible"`` for ``L dE`` where the model has one."""
    V = model.V
    phi = fd.TestFunction(V)
    rhs = {}
    ops = model.friction_operators()
    if model.friction_auxiliary_space() is None and ops:
        for label, op in zip(operator_labels(model), ops):
            op.refresh(f, w)
            rhs[label] = -op.form(f, w, phi)
    else:
        q = model.auxiliary_for(f, w)
        for op in ops:
            op.refresh(f, w)
        rhs["friction"] = -model.friction_with_auxiliary(f, w, phi, q)
    rev = model.reversible_rate(f, phi)
    if rev is not None:
        rhs["reversible"] = rev
    mass = fd.derivative(ufl.inner(phi, model.density(w)) * model.dx, w)
    A = fd.assemble(mass).petscmat
    # the matrix's diagonal spans the range of f (tails at 1e-40 of the peak): solved
    # scaled symmetrically by its diagonal, as the steps' Newton systems are
    # (DiagonalScaledLU; under the nodal rule the matrix is diagonal)
    positive = V.mesh().comm.allreduce(bool(np.all(A.getDiagonal().getArray(readonly=True) > 0)), op=MPI.LAND)
    if not positive:
        raise InvalidParameterError(
            "time_derivatives: the matrix of F'(w) has a non-positive diagonal entry (F'(w) underflows: w "
            "below about -745 at a node, or f(1 - eps f) vanishing): the state's tails are not representable")
    params = dict({"ksp_type": "preonly", "pc_type": "python",
                   "pc_python_type": "generic_fem.solvers.linear_solvers.DiagonalScaledLU"},
                  **(solver_parameters or {}))
    ksp = PETSc.KSP().create(comm=A.getComm())
    out = {}
    try:
        ksp.setOperators(A)
        ksp.setOptionsPrefix("gfem_rates_")
        with inserted_options(params, "gfem_rates_"):
            ksp.setFromOptions()
        for label, form in rhs.items():
            b = fd.assemble(form)
            u = fd.Function(V, name=f"wdot_{label}")
            with b.dat.vec_ro as bv, u.dat.vec_wo as uv:
                ksp.solve(bv, uv)
            finite = V.mesh().comm.allreduce(bool(np.all(np.isfinite(u.dat.data_ro))), op=MPI.LAND)
            if ksp.getConvergedReason() < 0 or not finite:
                raise InvalidParameterError(f"time_derivatives: the solve with F'(w) failed (reason "
                                            f"{ksp.getConvergedReason()}, finite: {finite})")
            out[label] = u
    finally:
        ksp.destroy()
    return out


def time_derivatives(model, w, functionals, solver_parameters=None):
    """``dΦ/dt`` at the state ``w`` along the model's semi-discrete dynamics (module
    docstring), for every functional, with its part along each operator.

    :arg model: the model.
    :arg w: the state: the entropy variable, a Function on ``model.V`` (e.g.
        ``stepper.w``, or ``model.state_from_density(f0)``).
    :arg functionals: ``{name: Φ}`` with ``Φ(w)`` a UFL 0-form of the Function ``w``
        (``lambda w: model.density(w) * ufl.dot(grad f…)`` …); ``"H"`` is added
        (``−S``) unless given.
    :arg solver_parameters: PETSc options of the solve with ``⟨φ_i, F'(w) φ_j⟩`` (by default
        :class:`~generic_fem.solvers.linear_solvers.DiagonalScaledLU`, as the steps use).
    :returns: ``{name: {"total": dΦ/dt, "parts": {label: value}}}`` with one part per
        friction operator (labels from :func:`operator_labels`) and ``"reversible"``; for
        ``"H"`` also ``"dissipation"`` (``Σ_k ⟨w, M_k w⟩``, computed directly).
    """
    if not isinstance(w, fd.Function) or w.function_space() != model.V:
        raise InvalidParameterError("time_derivatives: w must be a Function on model.V (the entropy variable)")
    functionals = dict(functionals)
    if "H" not in functionals:
        functionals["H"] = lambda u: -model.S(model.density(u))
    f = model.density(w)
    parts = _velocity_parts(model, w, f, solver_parameters)
    out = {}
    for name, Phi in functionals.items():
        form = Phi(w)
        vals = {label: float(fd.assemble(fd.derivative(form, w, u))) for label, u in parts.items()}
        out[name] = {"total": sum(vals.values()), "parts": vals}
    if model.friction_auxiliary_space() is None:
        out["H"]["dissipation"] = float(fd.assemble(model.friction(f, w, w)))
    else:
        q = model.auxiliary_for(f, w)
        out["H"]["dissipation"] = float(fd.assemble(model.friction_with_auxiliary(f, w, w, q)))
    return out
