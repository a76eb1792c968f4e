r"""The energy–dissipation functional ``J_T`` (docs/checking_jt.rst; Duong–He, arXiv:2504.07666 (1.7), Gualdani–Guillen–Pavlović–Tasković–Zamponi, arXiv:2507.08689 (5.2)).

.. math::

   J_T(z) = S(z_0) − S(z_T) + ½ ∫_0^T ‖∂_t z − L dE‖²_{M^{-1}} dt + ½ ∫_0^T ‖dS‖²_M dt ≥ 0,

``J_T = 0`` exactly for solutions of (G).  For a sequence of states ``z_k`` at times
``t_k`` the time derivative is the difference quotient on each interval, the
mobility state ``z_*`` of an interval is its right end point (``mobility="right"``,
consistent with backward Euler) or the average of its end points
(``"midpoint"``), and the time integrals use the same point.

The sum of the three terms is a consistent approximation of ``J_T`` whose sign is
not guaranteed: it differs from the exact value by the defect of the discrete chain
rule ``S(z_{k+1}) − S(z_k) ≈ ⟨dS, z_{k+1} − z_k⟩``, which is ``O(Δt)`` per unit time
for the right-point rule (and of one sign for backward Euler: its solutions give
``J_T ≤ 0``, the discrete energy-dissipation inequality).  The *completed square*
``½ Σ Δt ‖s − M dS_h‖²_{M^{-1}}`` (``square_term``, with ``dS_h`` the ``V_h``
interpolant of ``dS``) is reported too: it is ``≥ 0`` for every curve and ``0``
exactly for solutions of the scheme-consistent discrete equation.

``‖s‖²_{M^{-1}} = ⟨s, g⟩`` with ``M(z_*) g = s`` in ``V_h`` (``s`` tested with
``φ ∈ V_h``).  ``M`` is singular (its kernel holds the collision invariants); ``s``
must annihilate the kernel, else the norm is ``+∞``: the value reported is then
``inf`` together with the size of the violation.  The compatible system is solved
with the kernel attached as a PETSc null space.
"""
from dataclasses import dataclass, field
import math
import weakref

import numpy as np
import ufl
import firedrake as fd

from ..core.history import History
from ..core.petsc_options import inserted_options

__all__ = ["energy_dissipation_functional", "EnergyDissipationResult", "inverse_norm_squared"]

M_INVERSE_SOLVER_PARAMETERS = {
    "ksp_type": "preonly",
    "pc_type": "lu",
    "pc_factor_mat_solver_type": "mumps",
    "mat_mumps_icntl_24": 1,   # null pivot detection: M is singular
}


@dataclass
class EnergyDissipationResult:
    """Terms of ``J_T`` (all floats; ``action_term`` may be ``inf``)."""
    entropy_term: float          # S(z_0) − S(z_T)
    action_term: float           # ½ ∫ ‖∂_t z − L dE‖²_{M⁻¹}
    dissipation_term: float      # ½ ∫ ‖dS‖²_M
    compatibility_violation: float  # max relative size of ⟨s, k⟩ over kernel vectors k
    square_term: float = 0.0     # ½ ∫ ‖∂_t z − L dE − M dS‖²_{M⁻¹}  (≥ 0 for every curve)
    intervals: list = field(default_factory=list)

    @property
    def total(self):
        return self.entropy_term + self.action_term + self.dissipation_term

    def __str__(self):
        return (f"J_T = {self.total:.6e}  [S(z0)-S(zT) = {self.entropy_term:.6e}, "
                f"1/2 int |dz/dt - L dE|^2_(M^-1) = {self.action_term:.6e}, "
                f"1/2 int |dS|^2_M = {self.dissipation_term:.6e}; "
                f"compatibility violation {self.compatibility_violation:.2e}; "
                f"completed square 1/2 int |dz/dt - L dE - M dS|^2_(M^-1) = {self.square_term:.6e}]")


def componentwise_abs(e):
    """``|e|`` componentwise (scalars and vectors, e.g. several species)."""
    e = ufl.as_ufl(e)
    if e.ufl_shape == ():
        return abs(e)
    return ufl.as_vector([abs(e[i]) for i in range(e.ufl_shape[0])])


_KERNELS = weakref.WeakKeyDictionary()


def _kernel_functions(model, fstar):
    """Kernel vectors of ``M(f_*)`` in the solve space (``V``, or ``V × W`` with the
    auxiliary field of each kernel function).  The ``V`` part does not depend on the
    state: interpolated once per model."""
    ks = _KERNELS.get(model)
    if ks is None:
        ks = _KERNELS[model] = [fd.Function(model.V).interpolate(k) for k in model.friction_kernel()]
    W = model.friction_auxiliary_space()
    if W is None:
        return ks, ks
    Z = model.V * W
    zs = []
    for k in ks:
        z = fd.Function(Z)
        z.subfunctions[0].assign(k)
        z.subfunctions[1].assign(model.auxiliary_for(fstar, k))
        zs.append(z)
    return ks, zs


class CompatibilityScale:
    """The scale ``∫ |k|·g`` (``g ≥ 0``, e.g. ``(|f⁰| + |f¹|)/Δt``) of ``⟨s, k⟩`` for the
    compatibility test of :func:`inverse_norm_squared`, by the model's quadrature rule
    from point values: one interpolation of ``g`` per interval, ``|k|`` at the points once
    per kernel function (no form assembly per ``k``)."""

    _points = weakref.WeakKeyDictionary()

    def __init__(self, model, g):
        self.model = model
        shape = ufl.as_ufl(g).ufl_shape
        self.g = np.asarray(fd.Function(model.quadrature_space(shape)).interpolate(g).dat.data_ro)
        self.g = self.g.reshape(len(self.g), -1)
        self.w = np.asarray(fd.assemble(fd.TestFunction(model.quadrature_space(())) * model.dx).dat.data_ro)
        self.shape = shape

    def __call__(self, k):
        kq = self._points.get(k)
        if kq is None:
            kq = np.asarray(fd.Function(self.model.quadrature_space(self.shape)).interpolate(k).dat.data_ro)
            kq = self._points[k] = np.abs(kq.reshape(len(kq), -1))
        return self.model.mesh.comm.allreduce(float(self.w @ (kq * self.g).sum(axis=1)))


def compatibility_weights(model, f0, f1, dt):
    """:class:`CompatibilityScale` of ``(|f⁰| + |f¹|)/Δt``."""
    return CompatibilityScale(model, (componentwise_abs(f0) + componentwise_abs(f1)) / dt)


def inverse_norm_squared(model, fstar, s_of, compatibility_tol=1e-8, size=None,
                         solver_parameters=None, method="auto", return_solution=False, rhs_floor=0.0):
    """Wrapper: see :func:`_inverse_norm_squared`; with ``return_solution=True`` returns
    ``(value, violation, g)`` with ``g ∈ V_h`` solving ``M(f_*) g = s`` (``None`` when
    the value is ``inf``).  ``rhs_floor``: a norm below which ``s`` is rounding (the
    solve's relative residual is measured against ``max(‖s‖, rhs_floor)``: a curve that
    does not move has ``s`` of pure rounding, not in the range of ``M``)."""
    value, violation, g = _inverse_norm_squared(model, fstar, s_of, compatibility_tol, size,
                                                solver_parameters, method, rhs_floor)
    if not math.isfinite(value):
        g = None
    return (value, violation, g) if return_solution else (value, violation)


def _inverse_norm_squared(model, fstar, s_of, compatibility_tol=1e-8, size=None,
                          solver_parameters=None, method="auto", rhs_floor=0.0):
    """``‖s‖²_{M(f_*)^{-1}}`` of the functional ``s = s_of(φ)`` (a UFL 1-form in ``φ``).

    Returns ``(value, violation)``; ``value`` is ``inf`` when the relative violation
    of the compatibility conditions ``⟨s, k⟩ = 0`` (``k`` in the kernel of ``M``)
    exceeds ``compatibility_tol``.  ``size(k)`` is a positive 0-form scaling the
    violation for kernel function ``k`` (default ``∫|k|``), or a
    :class:`CompatibilityScale` (the same by point values, cheaper).  When the model's kernel
    is not declared complete, the relative residual of the solve is also part of the
    violation.

    ``method`` (nonlocal operators without an auxiliary field): ``"dense"`` (the dense
    matrix, ``N_q ≤ 4000``), ``"krylov"`` (matrix-free conjugate gradients, one operator
    evaluation per iteration, preconditioned by LU of the
    operator's frozen local part ``∫ ∇φ·m Ĝ ∇u`` plus a relative diagonal shift; the
    kernel removed from the right-hand side and the solution:
    :func:`_inverse_norm_krylov`), or ``"auto"`` (dense up to ``dim V_h = 1500`` and 4000
    pair points)."""
    ks, zs = _kernel_functions(model, fstar)
    phiV = fd.TestFunction(model.V)
    violation = 0.0
    b = fd.assemble(s_of(phiV))
    for k in ks:
        with b.dat.vec_ro as bv, k.dat.vec_ro as kv:
            val = bv.dot(kv)
        if isinstance(size, CompatibilityScale):
            scale = size(k)
        elif size is not None:
            scale = float(fd.assemble(size(k)))
        else:
            scale = float(fd.assemble(ufl.sqrt(ufl.inner(k, k)) * model.dx))
        violation = max(violation, abs(val) / max(scale, 1e-300))
    if violation > compatibility_tol:
        return math.inf, violation, None
    if method not in ("auto", "dense", "krylov"):
        raise ValueError(f"method must be 'auto', 'dense' or 'krylov', got {method!r}")
    if model.nonlocal_friction:
        points = sum(op.point_count() for op in model.friction_operators())
        if model.friction_auxiliary_space() is None and \
                (method == "krylov" or (method == "auto" and (model.V.dim() > 1500 or points > 4000))):
            return _inverse_norm_krylov(model, fstar, s_of, ks, violation, compatibility_tol, solver_parameters,
                                        rhs_floor)
        return _inverse_norm_dense(model, fstar, s_of, ks, violation, compatibility_tol, rhs_floor)
    W = model.friction_auxiliary_space()
    if W is None:
        Z = model.V
        u, phi = fd.TrialFunction(Z), fd.TestFunction(Z)
        a = model.friction(fstar, u, phi)
    else:
        Z = model.V * W
        u, p = fd.TrialFunctions(Z)
        phi, r = fd.TestFunctions(Z)
        a = model.friction(fstar, u, phi, p) + model.friction_auxiliary_equation(fstar, u, p, r)
    A = fd.assemble(a)
    b = fd.assemble(s_of(phi))
    z = fd.Function(Z)
    params = dict(M_INVERSE_SOLVER_PARAMETERS)
    params.update(solver_parameters or {})
    kw = {}
    if model.friction_kernel_complete and zs:
        basis = fd.VectorSpaceBasis([z.copy(deepcopy=True) for z in zs])   # (orthonormalize works in place)
        basis.orthonormalize()
        kw = {"nullspace": basis, "transpose_nullspace": basis}
    fd.solve(A, z, b, solver_parameters=params, **kw)
    if not model.friction_kernel_complete:
        with z.dat.vec_ro as zv, b.dat.vec_ro as bv:
            res = bv.duplicate()
            A.petscmat.mult(zv, res)
            res.axpy(-1.0, bv)
            rel = res.norm() / max(bv.norm(), rhs_floor, 1e-300)
        violation = max(violation, rel)
        if rel > compatibility_tol:
            return math.inf, violation, None
    g = z if W is None else z.subfunctions[0]
    return float(fd.assemble(ufl.action(s_of(phiV), g))), violation, g


def _gathered(model, x):
    """A Function's or Cofunction's global coefficient vector on every rank."""
    with x.dat.vec_ro as v:
        return np.concatenate(model.mesh.comm.allgather(v.getArray(readonly=True).copy()))


#: residual (relative to the right-hand side) below which a stagnating CG iteration has
#: reached the round-off floor of the operator's action
STAGNATION_RTOL = 1e-8

#: relative diagonal shift of the preconditioner ``P`` of the Krylov ``M⁻¹`` solve (``P``
#: has the constants as kernel)
DIAGONAL_SHIFT = 1e-4

KRYLOV_M_INVERSE_PARAMETERS = {"ksp_type": "cg", "ksp_norm_type": "natural", "ksp_rtol": 1e-10,
                               "ksp_atol": 0.0, "ksp_max_it": 1000,
                               "pc_type": "python",
                               "pc_python_type": "generic_fem.solvers.linear_solvers.DiagonalScaledLU",
                               "scaled_pc_factor_mat_solver_type": "mumps"}


def _inverse_norm_krylov(model, fstar, s_of, ks, violation, compatibility_tol, solver_parameters=None,
                         rhs_floor=0.0):
    """``⟨s, g⟩`` with ``M g = s`` solved matrix-free (conjugate gradients on the action of
    the friction operators; the declared kernel removed from the right-hand side and from
    the solution, not attached to the operator).  Preconditioner: LU (Jacobi-scaled,
    :class:`~generic_fem.solvers.linear_solvers.DiagonalScaledLU`: the rows scale like ``f``, many
    orders of magnitude between bulk and tails) of ``P = ∫ ∇φ·m Ĝ ∇u + δ diag(P)`` (the
    frozen local part of a two-point operator, i.e. the derivative of its form with
    ``Ĝ, ĝ, Ĵ`` frozen, and a relative diagonal shift ``δ = 10⁻⁴``, :data:`DIAGONAL_SHIFT`,
    for its own kernel, the constants).  CG stops on the natural norm
    ``(r, P⁻¹r)^{1/2}`` (rtol ``10⁻¹⁰``) or at the round-off floor (:data:`STAGNATION_RTOL`).
    Options: ``solver_parameters`` (``ksp_*``, ``pc_*``, ``scaled_*`` for the inner LU;
    the KSP has the prefix ``gfem_minv_``)."""
    from firedrake.petsc import PETSc
    V = model.V
    comm = model.mesh.comm
    x = fd.Function(V, name="minv_iterate")
    phi, u = fd.TestFunction(V), fd.TrialFunction(V)
    form = model.friction(fstar, x, phi)
    y = fd.Cofunction(V.dual())
    counter = {"mult": 0}

    class Action:
        def mult(self, mat, X, Y):
            with x.dat.vec_wo as xv:
                X.copy(xv)
            model.refresh_friction(fstar, x)
            fd.assemble(form, tensor=y)
            with y.dat.vec_ro as yv:
                yv.copy(Y)
            counter["mult"] += 1

    b = fd.assemble(s_of(phi))
    with b.dat.vec_ro as bv:
        sizes = bv.getSizes()
    A = PETSc.Mat().createPython((sizes, sizes), Action(), comm=comm)
    A.setUp()
    model.refresh_friction(fstar, x)
    P = fd.assemble(fd.derivative(form, x, u)).petscmat
    # the shift is relative to P's own diagonal: a shift by a multiple of the mass matrix
    # swamps P where f is tiny (the tails) and leaves many small eigenvalues of P⁻¹M
    diag = P.getDiagonal()
    diag.scale(DIAGONAL_SHIFT)
    P.setDiagonal(diag, addv=True)
    basis = fd.VectorSpaceBasis([k.copy(deepcopy=True) for k in ks], comm=comm)   # (orthonormalized in place)
    basis.orthonormalize()
    ns = basis.nullspace()
    # the null space is removed from the right-hand side only: CG on the consistent
    # singular system (SPD preconditioner, so (r, P⁻¹r) > 0); the kernel components the
    # iterates pick up are annihilated by M and do not change ⟨s, g⟩ (s ⊥ ker M).
    # (Attaching it to the operator makes PETSc project every preconditioned residual,
    # which at round-off level can make (r, z) < 0: "indefinite PC".)
    ksp = PETSc.KSP().create(comm=comm)
    ksp.setOptionsPrefix("gfem_minv_")
    ksp.setOperators(A, P)
    params = dict(KRYLOV_M_INVERSE_PARAMETERS)
    params.update(solver_parameters or {})
    history = []

    def converged(ksp, its, rnorm):
        """PETSc's relative/absolute test (preconditioned norm), and a round-off floor: once the residual is
        below ``STAGNATION_RTOL ‖b‖`` and has stopped decreasing (less than 1 % over 10
        iterations) it is the rounding of the operator's action (e.g. in the tails,
        where the mobility is ``~f f_*``) and CG stops."""
        R = PETSc.KSP.ConvergedReason
        rtol, atol, _, max_it = ksp.getTolerances()
        history.append(rnorm)
        b0 = history[0]
        if not np.isfinite(rnorm):
            return R.DIVERGED_NANORINF
        if rnorm <= max(rtol * b0, atol):
            return R.CONVERGED_RTOL
        if len(history) > 10 and rnorm <= STAGNATION_RTOL * b0 and rnorm > 0.99 * min(history[-11:-1]):
            return R.CONVERGED_HAPPY_BREAKDOWN
        if its >= max_it:
            return R.DIVERGED_ITS
        return R.ITERATING
    g = fd.Function(V)
    with b.dat.vec_ro as bv, g.dat.vec_wo as gv:
        rhs = bv.copy()
        ns.remove(rhs)
        # the options in the database for the set-up and the solve (the PC's inner KSP
        # reads its options in setUp); the command line takes precedence
        with inserted_options(params, "gfem_minv_"):
            ksp.setFromOptions()
            ksp.setConvergenceTest(converged)
            ksp.solve(rhs, gv)
        ns.remove(gv)   # g ⊥ ker M: the same ⟨s, g⟩, less rounding in M g
        reason, its = ksp.getConvergedReason(), ksp.getIterationNumber()
        res = rhs.duplicate()
        A.mult(gv, res)
        res.axpy(-1.0, bv)
        rel_l2 = res.norm() / max(bv.norm(), rhs_floor, 1e-300)
        value = bv.dot(gv)
        bv_norm = bv.norm()
    # the residual in CG's natural norm ‖r‖_{P⁻¹} ≈ ‖r‖_{M⁻¹} (the relative error of the value
    # is of its square); the Euclidean one stalls at the size of s in the tails, where M ~ f f_*
    # has eigenvalues ~1e-20 that carry nothing of the value
    rel = history[-1] / max(history[0], 1e-300) if history else rel_l2
    if bv_norm <= rhs_floor:      # s is rounding: its M⁻¹ norm is ~0 whatever CG makes of it
        rel = min(rel, rel_l2)
    # destroyed here, on every rank alike: left to Python's collector they would be freed
    # at different moments on different ranks, and PETSc's deferred clean-up of objects on
    # the user's communicator then deadlocks at PetscFinalize
    for obj in (ksp, A, ns, rhs, res):
        obj.destroy()
    if reason < 0 and not rel <= STAGNATION_RTOL:   # (an "indefinite PC" flag at round-off level is not a failure)
        raise RuntimeError(f"M^-1 norm: the matrix-free CG solve did not converge (reason {reason}, "
                           f"{its} iterations, relative residual {rel:.2e} in the natural norm (r, P^-1 r)^1/2, "
                           f"{rel_l2:.2e} in the Euclidean one); pass solver_parameters "
                           "(e.g. a larger ksp_max_it) or use method='dense' on small problems")
    if not model.friction_kernel_complete:
        violation = max(violation, rel)
    if rel > max(compatibility_tol, 1e-6):
        return math.inf, max(violation, rel), None
    return float(value), violation, g


def _inverse_norm_dense(model, fstar, s_of, ks, violation, compatibility_tol, rhs_floor=0.0):
    """``⟨s, g⟩`` with ``M g = s`` for a two-point ``M`` (dense, small problems):
    ``(M + P) g = s`` with ``P`` the orthogonal projector onto the declared kernel is
    nonsingular when the kernel is complete and gives ``g ⊥ ker M``."""
    from ..friction.checks import friction_matrix_dense
    M = friction_matrix_dense(model, fstar)
    b = _gathered(model, fd.assemble(s_of(fd.TestFunction(model.V))))
    K = np.array([_gathered(model, k) for k in ks]).T
    Qk, _ = np.linalg.qr(K)
    scale = np.linalg.norm(M, 2)
    g = np.linalg.solve(M + scale * Qk @ Qk.T, b)
    rel = np.linalg.norm(M @ g - b) / max(np.linalg.norm(b), rhs_floor, 1e-300)
    violation = max(violation, rel) if not model.friction_kernel_complete else violation
    if rel > max(compatibility_tol, 1e-6):
        return math.inf, max(violation, rel), None
    gf = fd.Function(model.V)
    with gf.dat.vec_wo as gv:
        r0, r1 = gv.getOwnershipRange()
        gv.setArray(g[r0:r1])
    return float(b @ g), violation, gf


def energy_dissipation_functional(model, states=None, times=None, mobility="right",
                                  compatibility_tol=1e-8, solver_parameters=None, m_inverse="auto"):
    """The ``M⁻¹`` variant of ``J_T`` of a discrete curve and each of its terms.

    For ``J_T`` of a curve with a sign guarantee use
    :func:`~generic_fem.drivers.grazing.pair_energy_dissipation` (the entry point: ``J_T^h``
    of pairs ``(f, U)``, ``≥`` its reported chain-rule, transport and residual terms for
    every curve).  This variant evaluates the three terms of the formula above with
    one mobility state per interval; it is what the analysis states for smooth curves,
    and its completed square is the scheme-consistent test.

    :arg states: a :class:`~generic_fem.core.history.History` recorded with
        ``keep_trajectory=True`` (then ``times`` is taken from it and ``dS = −w``
        exactly), or a list of UFL density expressions ``f_k`` (any curve).
    :arg times: the times ``t_k`` (for a list of states).
    :arg mobility: ``"right"`` or ``"midpoint"`` (the state where ``M``, ``L`` and
        ``dS`` of each interval are evaluated).
    :arg m_inverse: how ``‖·‖_{M⁻¹}`` is computed for nonlocal operators
        (:func:`inverse_norm_squared`'s ``method``).
    :returns: :class:`EnergyDissipationResult`.  Its ``total`` is the discrete sum of
        the three terms, *whose sign is not guaranteed*: it is ``≤ 0`` for a
        backward-Euler run (up to the solver tolerance; the discrete
        energy-dissipation inequality) and may have either sign for other schemes and
        curves; its ``square_term`` is ``≥ 0`` for every curve (module docstring).
    """
    from ..core.taping import refuse_annotation
    refuse_annotation("J_T")
    if isinstance(states, History):
        if not states.trajectory:
            raise ValueError("history has no trajectory: run(..., keep_trajectory=True)")
        times = [t for t, _ in states.trajectory]
        ws = [w for _, w in states.trajectory]
        fs = [model.density(w) for w in ws]
        dSs = [-w for w in ws]
    else:
        if times is None or len(times) != len(states):
            raise ValueError("give one time per state")
        fs = list(states)
        for k, f in enumerate(fs):
            model.check_density(f, what=f"state {k} of the curve")
        dSs = [None] * len(fs)
    if len(fs) < 2:
        raise ValueError("a curve needs at least two states")
    if mobility not in ("right", "midpoint"):
        raise ValueError(f"mobility must be 'right' or 'midpoint', got {mobility!r}")
    for a, b in zip(times[:-1], times[1:]):
        if not b > a:
            raise ValueError("times must be strictly increasing")
    S0 = float(fd.assemble(model.S(fs[0])))
    ST = float(fd.assemble(model.S(fs[-1])))
    action = dissipation = square = 0.0
    worst = 0.0
    intervals = []
    for k in range(len(fs) - 1):
        dt = times[k + 1] - times[k]
        if mobility == "right":
            fstar = fs[k + 1]
            dS = dSs[k + 1] if dSs[k + 1] is not None else model.dS(fstar)
        else:
            fstar = 0.5 * (fs[k] + fs[k + 1])
            dS = model.dS(fstar)
        f0, f1 = fs[k], fs[k + 1]

        s_of = model.dissipative_rate(f0, f1, dt, fstar)

        size = compatibility_weights(model, f0, f1, dt)
        a_k, viol = inverse_norm_squared(model, fstar, s_of, compatibility_tol, size=size,
                                         solver_parameters=solver_parameters, method=m_inverse)
        d_k = float(fd.assemble(model.apply_friction(fstar, dS, dS)))
        # completed square with dS_h ∈ V_h: ‖s − M dS_h‖²_{M⁻¹} = ⟨s,g⟩ − 2⟨s,dS_h⟩ + ⟨dS_h, M dS_h⟩
        dSh = fd.Function(model.V).interpolate(dS)
        sq_k = a_k - 2 * float(fd.assemble(s_of(dSh))) + \
            float(fd.assemble(model.apply_friction(fstar, dSh, dSh))) if math.isfinite(a_k) else math.inf
        worst = max(worst, viol)
        action += 0.5 * dt * a_k
        dissipation += 0.5 * dt * d_k
        square += 0.5 * dt * sq_k
        intervals.append({"t0": times[k], "t1": times[k + 1], "action": a_k,
                          "dissipation": d_k, "square": sq_k, "violation": viol})
    return EnergyDissipationResult(S0 - ST, action, dissipation, worst, square, intervals)
