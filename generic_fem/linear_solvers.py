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
     "pc_python_type": "generic_fem.linear_solvers.DiagonalScaledLU",
     "scaled_pc_factor_mat_solver_type": "mumps"}

The inner KSP has the options prefix ``<prefix>scaled_`` (type ``preonly``, PC ``lu``
by default), so any factorization options can be passed through.
"""
from petsc4py import PETSc

__all__ = ["DiagonalScaledLU"]


class DiagonalScaledLU:
    """Symmetric diagonal (Jacobi) scaling followed by a direct solve."""

    def __init__(self):
        self.inner = None
        self.B = None
        self.d = None

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
            ipc = ksp.getPC()
            ipc.setType("lu")
            ipc.setFactorSolverType("mumps")
            ksp.setErrorIfNotConverged(True)
            ksp.setFromOptions()
            self.inner = ksp
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
