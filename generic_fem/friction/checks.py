r"""Structure checks of a model at a given state (docs/checking_jt.rst).

* ``L`` antisymmetric: ``‖L + Lᵀ‖_F / ‖L‖_F``;
* ``M`` symmetric positive semidefinite: ``‖M − Mᵀ‖_F / ‖M‖_F``, its smallest
  eigenvalues (dense, small problems) or a randomized quadratic-form test;
* the kernel of ``M`` (collision invariants): ``‖M k‖ / (‖M‖ ‖k‖)``;
* degeneracy ``L dS = 0`` and ``M dE = 0``: norms of the assembled functionals
  relative to ``‖L dE‖`` and ``‖M dS‖``;
* the dissipation balance of a run: ``⟨θ, M θ⟩`` against ``−(H^{n+1} − H^n)/Δt``.

Matrices are the assembled bilinear forms on ``V_h`` (``A_ij = a(φ_j, φ_i)``); all
functions are collective and return the same numbers on every rank.
"""
import numpy as np
import scipy.sparse as sp
import firedrake as fd

__all__ = ["gather_matrix", "assemble_operator", "antisymmetry_defect", "symmetry_defect", "friction_matrix_dense",
           "smallest_eigenvalues", "randomized_psd_test", "kernel_defect",
           "degeneracy_norms", "dissipation_balance"]


def assemble_operator(model, f, which="friction"):
    """The PETSc matrix of ``⟨φ, M(f) u⟩`` (``which="friction"``) or ``⟨φ, L(f) u⟩``.

    For a friction defined through an auxiliary field this is the *nest* matrix of the
    saddle-point system ``[[K, C], [D, A]]`` (``M = K − C A⁻¹ D``); use
    :func:`friction_matrix_dense` for ``M`` itself."""
    V = model.V
    u, phi = fd.TrialFunction(V), fd.TestFunction(V)
    if which == "friction":
        model.refresh_friction(f, u)
        W = model.friction_auxiliary_space()
        if W is None:
            return fd.assemble(model.friction(f, u, phi)).petscmat
        Z = V * W
        u, p = fd.TrialFunctions(Z)
        phi, r = fd.TestFunctions(Z)
        form = model.friction(f, u, phi, p) + model.friction_auxiliary_equation(f, u, p, r)
        return fd.assemble(form, mat_type="nest").petscmat
    if which == "poisson":
        form = model.poisson(f, u, phi)
        return None if form is None else fd.assemble(form).petscmat
    raise ValueError(f"which must be 'friction' or 'poisson', got {which!r}")


def _rel_sym_defect(A, sign):
    B = A.duplicate(copy=True)
    B.transpose()  # in place (petsc4py transposes in place without an output matrix)
    C = A.copy()
    C.axpy(sign, B)
    na = A.norm(norm_type=2)  # PETSc NORM_FROBENIUS == 2
    return C.norm(norm_type=2) / na if na > 0 else 0.0


def antisymmetry_defect(model, f):
    """``‖L + Lᵀ‖_F / ‖L‖_F`` (0 for an exactly antisymmetric ``L``; ``None`` if ``L = 0``)."""
    A = assemble_operator(model, f, "poisson")
    return None if A is None else _rel_sym_defect(A, 1.0)


def symmetry_defect(model, f, max_size=6000):
    """``‖M − Mᵀ‖_F / ‖M‖_F`` (dense for models with an auxiliary field or a two-point
    operator)."""
    if model.friction_auxiliary_space() is None and not model.nonlocal_friction:
        return _rel_sym_defect(assemble_operator(model, f, "friction"), -1.0)
    M = friction_matrix_dense(model, f, max_size)
    return np.linalg.norm(M - M.T) / np.linalg.norm(M)


def gather_matrix(A, comm):
    """Gather a parallel PETSc AIJ matrix to a scipy CSR matrix on every rank."""
    if A.getType() not in ("seqaij", "mpiaij"):
        A = A.convert("aij")
    r0, r1 = A.getOwnershipRange()
    ai, aj, av = A.getValuesCSR()
    rows = np.repeat(np.arange(r0, r1), np.diff(ai))
    parts = comm.allgather((rows, aj.copy(), av.copy()))
    n, m = A.getSize()
    R = np.concatenate([p[0] for p in parts])
    C = np.concatenate([p[1] for p in parts])
    X = np.concatenate([p[2] for p in parts])
    return sp.csr_matrix((X, (R, C)), shape=(n, m))


def friction_matrix_dense(model, f, max_size=6000):
    """``M(f)`` on ``V_h`` as a dense array on every rank (Schur complement for
    models with an auxiliary field; the sum of the operators' dense matrices, or the
    action on each basis vector, for nonlocal operators).  Only for ``dim V_h ≤ max_size``."""
    comm = model.mesh.comm
    n = model.V.dim()
    if n > max_size:
        raise ValueError(f"dense friction matrix: dim V_h = {n} > max_size = {max_size}")
    if model.nonlocal_friction:
        if model.friction_auxiliary_space() is None:
            parts = [op.dense_matrix(f, model.V) for op in model.friction_operators()]
            if all(p is not None for p in parts):
                return sum(parts)
        return _dense_from_action(model, f)
    A = assemble_operator(model, f, "friction")
    if model.friction_auxiliary_space() is None:
        return gather_matrix(A, comm).toarray()
    K, C, D, Aqq = (gather_matrix(A.getNestSubMatrix(i, j), comm).toarray()
                    for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    return K - C @ np.linalg.solve(Aqq, D)


def _dense_from_action(model, f):
    """Columns ``M e_j`` of a friction operator known only by its action."""
    V = model.V
    x, phi = fd.Function(V), fd.TestFunction(V)
    form = model.friction(f, x, phi)
    y = fd.Cofunction(V.dual())
    comm = model.mesh.comm
    n = V.dim()
    cols = []
    for j in range(n):
        with x.dat.vec_wo as xv:
            xv.zeroEntries()
            r0, r1 = xv.getOwnershipRange()
            if r0 <= j < r1:
                xv.setValue(j, 1.0)
            xv.assemble()
        model.refresh_friction(f, x)
        fd.assemble(form, tensor=y)
        with y.dat.vec_ro as yv:
            cols.append(np.concatenate(comm.allgather(yv.getArray(readonly=True).copy())))
    return np.array(cols).T


def smallest_eigenvalues(model, f, k=6, max_size=6000):
    """The ``k`` smallest eigenvalues of the symmetric part of ``M(f)``, and the largest.

    Dense (on every rank): only for ``dim V_h ≤ max_size``.  Returns
    ``(smallest, largest)``."""
    M = friction_matrix_dense(model, f, max_size)
    ev = np.linalg.eigvalsh(0.5 * (M + M.T))
    return ev[:k], ev[-1]


def _random_function(model, rng):
    g = fd.Function(model.V)
    g.dat.data[:] = rng.standard_normal(g.dat.data_ro.shape)
    return g


def randomized_psd_test(model, f, samples=10, seed=0):
    """``(min, max)`` of ``⟨x, M(f) x⟩ / ‖x‖²`` over random ``x ∈ V_h`` (coefficient
    norm); ``min ≥ −(round-off)·max`` for a positive semidefinite ``M``.  Uses the
    operator itself (:meth:`~generic_fem.models.model.GenericModel.apply_friction`), so it
    also covers nonlocal and auxiliary-field frictions."""
    rng = np.random.default_rng(seed + 7919 * model.mesh.comm.rank)
    vals = []
    for _ in range(samples):
        x = _random_function(model, rng)
        q = float(fd.assemble(model.apply_friction(f, x, x)))
        with x.dat.vec_ro as xv:
            vals.append(q / xv.dot(xv))
    return min(vals), max(vals)


def kernel_defect(model, f, samples=3, seed=1):
    """``{i: ‖M k_i‖ / (‖k_i‖ · ‖M‖_est)}`` over ``model.friction_kernel()``, with
    ``‖M‖_est`` the largest ``‖M x‖/‖x‖`` over a few random ``x`` (ℓ² norms)."""
    phi = fd.TestFunction(model.V)
    rng = np.random.default_rng(seed + 7919 * model.mesh.comm.rank)

    def ratio(x):
        y = fd.assemble(model.apply_friction(f, x, phi))
        with y.dat.vec_ro as yv, x.dat.vec_ro as xv:
            return yv.norm() / xv.norm()
    scale = max(ratio(_random_function(model, rng)) for _ in range(samples))
    out = {}
    for i, k in enumerate(model.friction_kernel()):
        kf = fd.Function(model.V).interpolate(k)
        out[i] = ratio(kf) / scale
    return out


def degeneracy_norms(model, f):
    """``{"L_dS": ‖⟨·, L dS⟩‖/‖⟨·, L dE⟩‖, "M_dE": ‖⟨·, M dE⟩‖/‖⟨·, M dS⟩‖}`` (ℓ² norms of
    the assembled functionals on ``V_h``; ``None`` where an operator is absent)."""
    phi = fd.TestFunction(model.V)
    dS, dE = model.dS(f), model.dE(f)

    def norm(form):
        with fd.assemble(form).dat.vec_ro as v:
            return v.norm()
    out = {"L_dS": None, "M_dE": None}
    if dE is not None:
        MdE = norm(model.apply_friction(f, dE, phi))
        MdS = norm(model.apply_friction(f, dS, phi))
        out["M_dE"] = MdE / MdS if MdS > 0 else MdE
        LdE = model.poisson(f, dE, phi)
        if LdE is not None:
            nLdE = norm(LdE)
            nLdS = norm(model.poisson(f, dS, phi))
            out["L_dS"] = nLdS / nLdE if nLdE > 0 else nLdS
    return out


def dissipation_balance(history):
    """Per step: ``(−ΔH/Δt, ⟨θ, Mθ⟩)``; for the schemes of this toolkit
    ``−ΔH/Δt ≥ ⟨θ, M θ⟩ ≥ 0`` when ``L = 0`` (convexity), with equality to ``O(Δt)``."""
    rows = []
    for r in history.records[1:]:
        rows.append((-r["dH"] / r["dt"], r["dissipation"]))
    return np.array(rows)
