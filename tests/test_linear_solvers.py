"""DiagonalScaledLU: the factorization it chooses (Cholesky for a symmetric scaled
matrix, PETSc's own on one rank and MUMPS on several; MUMPS LU otherwise), the user's
options taking precedence, the fall-back after a Cholesky breakdown, and the solves."""
import numpy as np
import pytest
import firedrake as fd
import ufl
from petsc4py import PETSc

from generic_fem import Stepper, velocity_box
from forms.landau import Landau
from generic_fem.linear_solvers import DiagonalScaledLU


def _ksp(A, prefix, options=None, ctx=None):
    """A preonly KSP with the DiagonalScaledLU python PC (or ``ctx``) on ``A`` (options
    under ``prefix``)."""
    opts = PETSc.Options()
    for k, v in (options or {}).items():
        opts[prefix + k] = v
    ksp = PETSc.KSP().create(comm=A.getComm())
    ksp.setOptionsPrefix(prefix)
    ksp.setOperators(A)
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("python")
    pc.setPythonContext(ctx or DiagonalScaledLU())
    ksp.setFromOptions()
    ksp.setUp()
    for k in (options or {}):
        del opts[prefix + k]
    return ksp


def _seq_matrix(rows):
    """A sequential AIJ matrix with every nonzero entry and the whole diagonal stored."""
    a = np.array(rows, dtype=float)
    n = a.shape[0]
    A = PETSc.Mat().createAIJ([n, n], comm=PETSc.COMM_SELF)
    A.setUp()
    for i in range(n):
        for j in range(n):
            if a[i, j] != 0 or i == j:
                A.setValue(i, j, a[i, j])
    A.assemble()
    return A, a


def _inner_pc(ksp):
    """``(pc_type, solver type)`` of the factorization PETSc actually set up."""
    ipc = ksp.getPC().getPythonContext().inner.getPC()
    return ipc.getType(), ipc.getFactorSolverType()


def _solve(ksp, a):
    """The relative residual of a solve in the Jacobi-scaled norm, ``‖D(b − Ax)‖/‖Db‖``
    (``D = |diag A|^{-1/2}``, 1 where the diagonal is 0): what a factorization of
    ``D A D`` controls."""
    x, b = ksp.getOperators()[0].createVecs()
    b.setArray(np.arange(1.0, a.shape[0] + 1))
    ksp.solve(b, x)
    d = np.abs(np.diag(a))
    d = np.where(d > 0, d, 1.0) ** -0.5
    return np.linalg.norm(d * (a @ x.getArray() - b.getArray())) / np.linalg.norm(d * b.getArray())


def _badly_scaled_spd(n=6):
    """A 1D stiffness plus a mass term, rows and columns scaled over 24 orders of magnitude
    (like the entropy-variable Jacobians: rows scale with f)."""
    k = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1) + 0.1 * np.eye(n)
    s = np.logspace(0, -12, n)
    return s[:, None] * k * s[None, :]


def test_symmetric_matrix_is_factored_by_cholesky():
    A, a = _seq_matrix(_badly_scaled_spd())
    ksp = _ksp(A, "t_sym_")
    assert _inner_pc(ksp) == ("cholesky", "petsc")
    assert _solve(ksp, a) < 1e-12


def test_nonsymmetric_matrix_is_factored_by_mumps_lu():
    rows = np.eye(4) * 2 + np.eye(4, k=1)   # upper bidiagonal
    A, a = _seq_matrix(rows)
    ksp = _ksp(A, "t_nonsym_")
    assert _inner_pc(ksp) == ("lu", "mumps")
    assert _solve(ksp, a) < 1e-14


def test_user_factorization_options_win():
    A, a = _seq_matrix(_badly_scaled_spd())
    ksp = _ksp(A, "t_user_", {"scaled_pc_type": "lu"})
    assert _inner_pc(ksp) == ("lu", "mumps")
    ksp = _ksp(A, "t_user2_", {"scaled_pc_factor_mat_solver_type": "mumps"})
    assert _inner_pc(ksp) == ("cholesky", "mumps")
    assert _solve(ksp, a) < 1e-12


def test_cholesky_breakdown_falls_back_to_lu():
    """A symmetric matrix with a positive diagonal whose Cholesky in the natural order
    meets a zero pivot (``1 − 1·1``): the set-up falls back to LU with pivoting, which
    solves it, and keeps LU for the next set-ups of the same matrix."""
    A, a = _seq_matrix([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    ksp = _ksp(A, "t_break_", {"scaled_pc_factor_mat_ordering_type": "natural"})
    assert ksp.getPC().getPythonContext()._broken     # (Cholesky was tried and broke down)
    assert _inner_pc(ksp) == ("lu", "mumps")
    assert _solve(ksp, a) < 1e-14
    A.setValue(2, 2, 1.5)
    A.assemble()
    ksp.setOperators(A)
    ksp.setUp()
    assert _inner_pc(ksp) == ("lu", "mumps")
    assert _solve(ksp, np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.5]])) < 1e-14


def test_a_mode_below_round_off_gets_no_update_instead_of_a_failed_factorization(monkeypatch):
    """Two nodes coupled by a diffusion ``a`` and held by a time-derivative weight 1e-20
    of it (tail nodes far below the round-off of their coupling): ``D A D`` is exactly
    singular in double precision.  Cholesky breaks down, and MUMPS with its null-pivot
    detection (on by default) still solves for the modes the matrix determines; without
    it (``MUMPS_OPTIONS = ()``, or the user's ``scaled_mat_mumps_icntl_24 0``) MUMPS stops
    (numerically singular)."""
    eps = 1e-20
    rows = [[1.0 + eps, -1.0, 0.0], [-1.0, 1.0 + eps, 0.0], [0.0, 0.0, 2.0]]
    A, a = _seq_matrix(rows)
    ksp = _ksp(A, "t_null_")
    assert _inner_pc(ksp) == ("lu", "mumps")
    x, b = A.createVecs()
    b.setArray([1.0, -1.0, 4.0])          # in the range of the determined modes
    ksp.solve(b, x)
    xs = x.getArray()
    assert np.all(np.isfinite(xs))
    assert np.linalg.norm(a @ xs - b.getArray()) < 1e-12 * np.linalg.norm(b.getArray())
    assert abs(xs[2] - 2.0) < 1e-14 and abs(xs[0] - xs[1] - 1.0) < 1e-12
    with pytest.raises(PETSc.Error):     # the user's option wins
        _ksp(A, "t_null3_", {"scaled_mat_mumps_icntl_24": 0})
    monkeypatch.setattr(DiagonalScaledLU, "MUMPS_OPTIONS", ())
    with pytest.raises(PETSc.Error):
        _ksp(A, "t_null2_")


def test_symmetric_matrix_with_a_negative_diagonal_entry_gets_lu():
    """Symmetric but not positive definite (a negative diagonal entry): LU with pivoting,
    not a Cholesky without pivoting."""
    A, a = _seq_matrix([[2.0, 1.0, 0.0], [1.0, -3.0, 1.0], [0.0, 1.0, 2.0]])
    ksp = _ksp(A, "t_indef_")
    assert _inner_pc(ksp) == ("lu", "mumps")
    assert _solve(ksp, a) < 1e-14


def test_the_stepper_factors_its_picard_matrix_by_cholesky():
    model = Landau(velocity_box(2, 5.0, 4), gamma=-3.0)
    st = Stepper(model, model.maxwellian(1.0, (0.5, 0.0), 0.7) + model.maxwellian(0.5, (-1.0, 0.0), 0.5), dt=0.1)
    st.advance()
    assert _inner_pc(st.solver.snes.getKSP()) == ("cholesky", "petsc")


def _graded_q2_matrix():
    """A symmetric positive definite Q2 matrix on 6² cells whose rows scale over 26 orders
    of magnitude (``ρ = e^{−30|x|²}`` weighting mass and stiffness)."""
    mesh = fd.UnitSquareMesh(6, 6, quadrilateral=True)
    V = fd.FunctionSpace(mesh, "Q", 2)
    u, v = fd.TrialFunction(V), fd.TestFunction(V)
    x = ufl.SpatialCoordinate(mesh)
    rho = ufl.exp(-30 * (x[0] ** 2 + x[1] ** 2))
    return fd.assemble((rho * u * v + 0.1 * rho * ufl.inner(ufl.grad(u), ufl.grad(v))) * fd.dx).petscmat


def _relative_residual(ksp, A):
    """``‖A x − b‖/‖b‖`` for the solve of ``b = 1``."""
    xv, b = A.createVecs()
    b.set(1.0)
    ksp.solve(b, xv)
    r = b.duplicate()
    A.mult(xv, r)
    r.axpy(-1.0, b)
    return r.norm() / b.norm()


def test_a_large_symmetric_matrix_gets_mumps_cholesky_on_one_rank():
    """Above ``own_cholesky_max_nonzeros`` the Cholesky factorization is MUMPS' (PETSc's
    own is not supernodal: 8 times slower on 16³ Q2 cells), on one rank as on several."""
    A = _graded_q2_matrix()
    large = DiagonalScaledLU()
    large.own_cholesky_max_nonzeros = 0
    for prefix, ctx, expected in (("t_seq_", None, ("cholesky", "petsc")), ("t_seq_big_", large, ("cholesky", "mumps"))):
        ksp = _ksp(A, prefix, ctx=ctx)
        assert ksp.getPC().getPythonContext().factorization == expected
        assert _relative_residual(ksp, A) <= 1e-8


@pytest.mark.parallel(nprocs=2)
def test_symmetric_matrix_on_two_ranks():
    """A small symmetric matrix is gathered to every rank and factored there by PETSc's
    Cholesky (PCREDUNDANT); above ``own_cholesky_max_nonzeros`` by parallel MUMPS
    Cholesky.  Both solve a matrix whose rows scale over 26 orders of magnitude."""
    A = _graded_q2_matrix()
    large = DiagonalScaledLU()
    large.own_cholesky_max_nonzeros = 0
    for prefix, ctx, expected in (("t_par_", None, ("redundant", "cholesky/petsc")),
                                  ("t_par_big_", large, ("cholesky", "mumps"))):
        ksp = _ksp(A, prefix, ctx=ctx)
        ipc = ksp.getPC().getPythonContext().inner.getPC()
        assert ksp.getPC().getPythonContext().factorization == expected
        assert ipc.getType() == expected[0]
        assert _relative_residual(ksp, A) <= 1e-8


@pytest.mark.parallel(nprocs=2)
def test_cholesky_breakdown_on_two_ranks_falls_back_to_lu():
    """The gathered Cholesky (PCREDUNDANT) factors at the first solve: a zero pivot
    there falls back to LU with pivoting in that solve, on every rank."""
    comm = fd.COMM_WORLD
    rows = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 2.0]])
    A = PETSc.Mat().createAIJ(((2, 4), (2, 4)), comm=comm)
    A.setUp()
    lo, hi = A.getOwnershipRange()
    for i in range(lo, hi):
        for j in range(4):
            if rows[i, j]:
                A.setValue(i, j, rows[i, j])
    A.assemble()
    ksp = _ksp(A, "t_break_par_", {"scaled_redundant_pc_factor_mat_ordering_type": "natural"})
    ctx = ksp.getPC().getPythonContext()
    assert ctx.factorization == ("redundant", "cholesky/petsc")
    b, x = A.createVecs()
    b.setValues(range(lo, hi), (rows @ np.arange(1.0, 5.0))[lo:hi])
    b.assemble()
    ksp.solve(b, x)
    assert ctx._broken and ctx.factorization == ("lu", "mumps")
    assert np.allclose(x.getArray(), np.arange(1.0, 5.0)[lo:hi], rtol=0, atol=1e-13)
