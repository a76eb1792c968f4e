r"""Preconditioners for the Newton systems of entropy-variable schemes.

In entropy variables the Jacobian rows and columns scale like the density near each
node (``∂F(w)/∂w = F'(w) ∝ f``), which spans many orders of magnitude between the
bulk and the tails of a velocity box (``e^{-R²/2T}``): the unscaled matrix is
numerically singular for LU (condition numbers ~1e18 at ``R = 6``), while its
symmetric Jacobi scaling ``D A D``, ``D = |diag A|^{-1/2}``, is well conditioned
(~30 on the same problem).

:class:`DiagonalScaledLU` is a petsc4py Python PC that factors ``D A D`` and applies
``D (D A D)^{-1} D = A^{-1}``.  Use it with::

    {"ksp_type": "preonly", "pc_type": "python",
     "pc_python_type": "generic_fem.linear_solvers.DiagonalScaledLU"}

The inner KSP has the options prefix ``<prefix>scaled_`` (type ``preonly``), so any
factorization options can be passed through (``scaled_pc_type``,
``scaled_pc_factor_mat_solver_type``, ...).  Where they are not given, the
factorization is chosen per matrix:

* a symmetric ``D A D`` (to :attr:`DiagonalScaledLU.symmetry_tol`, checked at every
  set-up; the frozen-coefficient Newton matrices of the steppers are) is factored by
  Cholesky, otherwise by LU with MUMPS (partial pivoting);
* the Cholesky factorization is PETSc's own on one rank and MUMPS on several.

Measured on the 2D main demo's matrix (625 unknowns, AMD EPYC): MUMPS LU 0.98 ms per
numerical factorization and 0.27 ms per solve, PETSc Cholesky 0.15 ms and 0.015 ms;
on a 3D ``Q2`` box (729 unknowns): 1.9 ms and 0.14 ms against 1.15 ms and 0.04 ms.
A symmetric positive definite ``D A D`` has unit diagonal and needs no pivoting; should
a Cholesky factorization break down all the same (a zero or negative pivot of a matrix
that is symmetric but indefinite), the set-up falls back to MUMPS LU for that matrix.
"""
from petsc4py import PETSc

__all__ = ["DiagonalScaledLU"]


class DiagonalScaledLU:
    """Symmetric diagonal (Jacobi) scaling followed by a direct solve."""

    def __init__(self):
        self.inner = None
        self.B = None
        self.d = None
        #: ``(pc_type, solver type)`` of the inner factorization now set up
        self.factorization = None

    def setUp(self, pc):
        _, P = pc.getOperators()
        d = P.getDiagonal()
        arr = d.getArray()
        arr[:] = abs(arr)
        arr[arr == 0] = 1.0
        arr[:] = arr ** -0.5
        d.setArray(arr)
        self.d = d
        if self.B is None or self.B.getSizes() != P.getSizes():
            self.B = P.duplicate(copy=True)
        else:
            P.copy(self.B, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        self.B.diagonalScale(d, d)
        if self.inner is None:
            ksp = PETSc.KSP().create(comm=pc.comm)
            ksp.setOptionsPrefix((pc.getOptionsPrefix() or "") + "scaled_")
            ksp.setType("preonly")
            ksp.setErrorIfNotConverged(True)
            self.inner = ksp
            self.factorization = None
        choice = self._choose_factorization(self.B)
        try:
            self._factor(choice)
        except PETSc.Error:
            if choice == ("lu", "mumps"):
                raise
            self._factor(("lu", "mumps"))   # a Cholesky breakdown: LU with pivoting

    #: relative size of ``max|B - Bᵀ|`` (of the scaled matrix, unit diagonal) below
    #: which Cholesky is used
    symmetry_tol = 1e-12

    def _choose_factorization(self, B):
        """``(pc_type, solver)``: the user's options where given, else Cholesky for a
        symmetric matrix (PETSc's on one rank, MUMPS on several) and MUMPS LU otherwise."""
        opts = PETSc.Options(self.inner.getOptionsPrefix())
        kind = opts.getString("pc_type") if opts.hasName("pc_type") else None
        solver = opts.getString("pc_factor_mat_solver_type") if opts.hasName("pc_factor_mat_solver_type") else None
        if kind is None:
            kind = "cholesky" if B.isSymmetric(self.symmetry_tol) else "lu"
        if solver is None:
            solver = "petsc" if (kind == "cholesky" and B.getComm().getSize() == 1) else "mumps"
        return kind, solver

    def _factor(self, choice):
        ipc = self.inner.getPC()
        if choice != self.factorization:
            ipc.reset()
            ipc.setType(choice[0])
            ipc.setFactorSolverType(choice[1])
            if choice[1] == "petsc":
                ipc.setFactorOrdering("nd")
            self.inner.setFromOptions()
            self.factorization = choice
        self.inner.setOperators(self.B)
        self.inner.setUp()

    def apply(self, pc, x, y):
        xs = x.copy()
        xs.pointwiseMult(xs, self.d)
        self.inner.solve(xs, y)
        y.pointwiseMult(y, self.d)

    def applyTranspose(self, pc, x, y):
        xs = x.copy()
        xs.pointwiseMult(xs, self.d)
        self.inner.solveTranspose(xs, y)
        y.pointwiseMult(y, self.d)

    def destroy(self, pc):
        """Destroy the inner objects with the PC (collectively), not at garbage collection."""
        for obj in (self.inner, self.B, self.d):
            if obj is not None:
                obj.destroy()
        self.inner = self.B = self.d = None

    def view(self, pc, viewer=None):
        if viewer is not None:
            viewer.printfASCII("DiagonalScaledLU: symmetric Jacobi scaling + inner direct solve\n")
        if self.inner is not None:
            self.inner.view(viewer)
