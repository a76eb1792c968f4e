r"""Structure checks of a model at a given state (MODELS.md §1).

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
import ufl
import firedrake as fd

__all__ = ["assemble_operator", "antisymmetry_defect", "symmetry_defect",
           "smallest_eigenvalues", "randomized_psd_test", "kernel_defect",
           "degeneracy_norms", "dissipation_balance"]


def assemble_operator(model, f, which="friction"):
    """The PETSc matrix of ``⟨φ, M(f) u⟩`` (``which="friction"``) or ``⟨φ, L(f) u⟩``."""
    V = model.V
    u, phi = fd.TrialFunction(V), fd.TestFunction(V)
    if which == "friction":
        model.update_nonlocal(f, u)
        form = model.friction(f, u, phi)
    elif which == "poisson":
        form = model.poisson(f, u, phi)
        if form is None:
            return None
    else:
        raise ValueError(f"which must be 'friction' or 'poisson', got {which!r}")
    return fd.assemble(form).petscmat


def _rel_sym_defect(A, sign):
    B = A.transpose()  # new matrix
    C = A.copy()
    C.axpy(sign, B)
    na = A.norm(norm_type=2)  # PETSc NORM_FROBENIUS == 2
    return C.norm(norm_type=2) / na if na > 0 else 0.0


def antisymmetry_defect(model, f):
    """``‖L + Lᵀ‖_F / ‖L‖_F`` (0 for an exactly antisymmetric ``L``; ``None`` if ``L = 0``)."""
    A = assemble_operator(model, f, "poisson")
    return None if A is None else _rel_sym_defect(A, 1.0)


def symmetry_defect(model, f):
    """``‖M − Mᵀ‖_F / ‖M‖_F``."""
    return _rel_sym_defect(assemble_operator(model, f, "friction"), -1.0)


def _to_scipy_everywhere(A, comm):
    """Gather a parallel PETSc AIJ matrix to a scipy CSR matrix on every rank."""
    r0, r1 = A.getOwnershipRange()
    ai, aj, av = A.getValuesCSR()
    rows = np.repeat(np.arange(r0, r1), np.diff(ai))
    parts = comm.allgather((rows, aj.copy(), av.copy()))
    n = A.getSize()[0]
    R = np.concatenate([p[0] for p in parts])
    C = np.concatenate([p[1] for p in parts])
    X = np.concatenate([p[2] for p in parts])
    return sp.csr_matrix((X, (R, C)), shape=(n, n))


def smallest_eigenvalues(model, f, k=6, max_size=6000):
    """The ``k`` smallest eigenvalues of the symmetric part of ``M(f)``, and the largest.

    Dense (``scipy.linalg.eigh``) on every rank: only for ``dim V_h ≤ max_size``.
    Returns ``(smallest, largest)``."""
    A = assemble_operator(model, f, "friction")
    n = A.getSize()[0]
    if n > max_size:
        raise ValueError(f"smallest_eigenvalues is dense: dim V_h = {n} > max_size = {max_size}; "
                         "use randomized_psd_test")
    M = _to_scipy_everywhere(A, model.mesh.comm).toarray()
    ev = np.linalg.eigvalsh(0.5 * (M + M.T))
    return ev[:k], ev[-1]


def randomized_psd_test(model, f, samples=20, seed=0):
    """``min_x xᵀMx / (xᵀ diag(M) x)`` over random vectors ``x`` (≥ 0 for a PSD ``M``,
    up to round-off).  Also tries the random vectors' projections off the kernel."""
    A = assemble_operator(model, f, "friction")
    rng = np.random.default_rng(seed + model.mesh.comm.rank)
    x, y = A.createVecs()
    d = A.getDiagonal()
    worst = np.inf
    for _ in range(samples):
        x.setArray(rng.standard_normal(x.getLocalSize()))
        A.mult(x, y)
        q = x.dot(y)
        dx_ = x.copy()
        dx_.pointwiseMult(dx_, d)
        ref = abs(x.dot(dx_))
        worst = min(worst, q / ref if ref > 0 else 0.0)
    return worst


def kernel_defect(model, f):
    """``{i: ‖M k_i‖_∞ / (‖M‖_∞ ‖k_i‖_∞)}`` over ``model.friction_kernel()``."""
    A = assemble_operator(model, f, "friction")
    nA = A.norm(norm_type=3)  # infinity norm
    out = {}
    for i, k in enumerate(model.friction_kernel()):
        kf = fd.Function(model.V).interpolate(k)
        with kf.dat.vec_ro as kv:
            y = kv.duplicate()
            A.mult(kv, y)
            nk = kv.norm(3)
            out[i] = y.norm(3) / (nA * nk) if nA * nk > 0 else 0.0
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
        model.update_nonlocal(f, dE)
        MdE = norm(model.friction(f, dE, phi))
        model.update_nonlocal(f, dS)
        MdS = norm(model.friction(f, dS, phi))
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
