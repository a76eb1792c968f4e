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
     "pc_python_type": "generic_fem.solvers.linear_solvers.DiagonalScaledLU"}

The inner KSP has the options prefix ``<prefix>scaled_`` (type ``preonly``), so any
factorization options can be passed through (``scaled_pc_type``,
``scaled_pc_factor_mat_solver_type``, ...).  Where they are not given, the
factorization is chosen per matrix:

* a symmetric ``D A D`` with a positive diagonal (symmetric to
  :attr:`DiagonalScaledLU.symmetry_tol`, checked at every set-up and agreed on all
  ranks) is factored by Cholesky, otherwise by LU with MUMPS (partial pivoting).  The
  Picard matrices of the steppers under the nodal rule (frozen coefficients, lagged
  mobility) are symmetric positive definite (with ``nonlocal_jacobian="exact"`` that
  matrix preconditions the exact one); the Gauss rule's (with the mobility
  derivative) and the transport models' are not, and get LU;
* a matrix with at most :attr:`DiagonalScaledLU.own_cholesky_max_nonzeros` nonzeros
  (2e5) is factored by PETSc's own Cholesky (on several ranks gathered to every rank
  and factored there, ``PCREDUNDANT``), a larger one by MUMPS' Cholesky.  PETSc's own
  factorization is not supernodal: on 3D Landau Picard matrices (two beams, ``γ = −3``,
  ``R = 5``, one backward-Euler step of 0.5, 9 Newton iterations, one rank, AMD EPYC)
  the step took 0.9, 9.6 and 58.8 s with it on 8³, 12³ and 16³ cells (4 913, 15 625,
  35 937 unknowns) against 0.7, 2.5 and 7.5 s with MUMPS (CHOLMOD: 0.7, 2.6, 7.1 s);
  on 4³ and 6³ cells (729 and 2 197 unknowns) 0.3 and 0.6 s against 0.4 and 0.5 s.  In
  2D (two backward-Euler steps, ``γ = −3``, ``R = 6``) the two are within 15%: 64² cells
  (2.6e5 nonzeros) 0.66 s with PETSc's against 0.75 s, 128² cells (1.05e6) 2.61 s
  against 2.72 s; 48² cells (1.5e5) 0.42 against 0.56 s.
  Measured on 2 ranks (AMD EPYC; set-up and one solve of this
  preconditioner per Newton iteration, two runs each): the main demo's matrix (625
  unknowns, 9.4e3 nonzeros) 0.5–0.7 ms and 0.2–0.3 ms gathered against 1.5–1.6 ms and
  0.5 ms with MUMPS; ``velocity_box(3, 5.0, 4)`` (729 unknowns, 3.6e4 nonzeros) 1.1–1.5
  and 1.5–2.0 ms against 2.6–3.2 and 0.4–0.5 ms (about even); a 3D box of 8 cells
  (4913 unknowns, 3.4e5 nonzeros) took 642 against 265 ms per backward-Euler step:
  3D factorisations fill in, and MUMPS splits them.

Measured on the 2D main demo's matrix (625 unknowns, AMD EPYC): MUMPS LU 0.98 ms per
numerical factorization and 0.27 ms per solve, PETSc Cholesky 0.15 ms and 0.015 ms;
on a 3D ``Q2`` box (729 unknowns): 1.9 ms and 0.14 ms against 1.15 ms and 0.04 ms.
PETSc's own Cholesky does not pivot (an ``LDLᵀ`` that takes the pivots as they come):
a symmetric positive definite ``D A D`` (unit diagonal) needs none.  Should it break
down all the same (a zero pivot), the set-up falls back to LU (MUMPS, or the user's
solver type) for as long as the matrix keeps its size; ``PCREDUNDANT`` factors at its
first solve, so there the fall-back happens in that solve (a breakdown of the gathered
Cholesky stopped Landau runs on 2 ranks with a Python error in ``PCApply``: ``γ = 0``,
two bumps, ``R = 6``, and ``γ = 1``, ``R = 10``, zero pivot 1.6e-15 of the unit diagonal).

MUMPS runs with null-pivot detection (``ICNTL(24) = 1``, :attr:`DiagonalScaledLU.MUMPS_OPTIONS`;
the user's ``scaled_mat_mumps_icntl_24`` wins).  ``D A D`` is positive definite in exact
arithmetic, but two tail nodes coupled by the frozen diffusion and far below the
round-off of that coupling in their own (time-derivative) weight give it a block
``[[1, −1 + ε], [−1 + ε, 1]]`` with ``ε`` below 1e-16: their common mode is
determined by nothing the double-precision system holds.  Without the detection MUMPS
stops on it (``INFOG(1) = −10``, numerically singular) and the sub-step is rejected at
every size (measured: Landau ``γ = 1``, a ring ``exp(−(|v|−2)²/0.3)`` on the ``R = 10``
box of 10 cells, diagonal down to 1e-171 of its largest entry: 7 rejections and a
``StepFailedError`` at ``t = 0``); with it such modes get no update (they are below
what the step determines) and the run continues.
"""
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from ..core.petsc_options import inserted_options

__all__ = ["DiagonalScaledLU"]


class DiagonalScaledLU:
    """Symmetric diagonal (Jacobi) scaling followed by a direct solve."""

    def __init__(self):
        self.inner = None
        self.B = None
        self.d = None
        #: ``(pc_type, solver type)`` of the inner factorization set up last (as PETSc
        #: has it, the user's options applied)
        self.factorization = None
        self._requested = None
        self._broken = False   # a Cholesky broke down on this matrix structure

    def setUp(self, pc):
        _, P = pc.getOperators()
        d = P.getDiagonal()
        arr = d.getArray()
        positive = bool(np.all(arr > 0))
        arr[:] = abs(arr)
        arr[arr == 0] = 1.0
        arr[:] = arr ** -0.5
        d.setArray(arr)
        self.d = d
        if self.B is None or self.B.getSizes() != P.getSizes():
            self.B = P.duplicate(copy=True)
            self._broken = False
            self._nonzeros = self.B.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_used"]
        else:
            P.copy(self.B, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        self.B.diagonalScale(d, d)
        comm = self.B.getComm().tompi4py()
        if self.inner is None:
            ksp = PETSc.KSP().create(comm=pc.comm)
            ksp.setOptionsPrefix((pc.getOptionsPrefix() or "") + "scaled_")
            ksp.setType("preonly")
            ksp.setErrorIfNotConverged(True)
            self.inner = ksp
        choice = self._choose_factorization(self.B, comm.allreduce(positive, op=MPI.LAND))
        try:
            self._factor(choice)
        except PETSc.Error:
            if choice[0] not in ("cholesky", "redundant") or self._user("pc_type") is not None:
                raise
            # a Cholesky breakdown (a zero pivot): LU with pivoting, for as long as the
            # matrix keeps its structure
            self._broken = True
            self._factor(("lu", self._user("pc_factor_mat_solver_type") or "mumps"))

    #: ``max|B − Bᵀ|`` (entrywise, of the scaled matrix, unit diagonal) below which
    #: Cholesky is used
    symmetry_tol = 1e-12

    def _user(self, name):
        """The user's option ``name`` under the inner prefix, or ``None``."""
        opts = PETSc.Options(self.inner.getOptionsPrefix())
        return opts.getString(name) if opts.hasName(name) else None

    def _symmetric(self, B):
        """Whether ``B`` is symmetric to :attr:`symmetry_tol`, agreed on all ranks
        (PETSc's parallel test is not reduced over every coupling; a matrix type
        without the test counts as nonsymmetric)."""
        try:
            sym = bool(B.isSymmetric(self.symmetry_tol))
        except PETSc.Error:
            sym = False
        return B.getComm().tompi4py().allreduce(sym, op=MPI.LAND)

    def _choose_factorization(self, B, positive_diagonal):
        """``(pc_type, solver)``: the user's options where given, else Cholesky for a
        symmetric matrix with a positive diagonal (PETSc's up to
        :attr:`own_cholesky_max_nonzeros` nonzeros, gathered on several ranks; MUMPS' above)
        and MUMPS LU otherwise (and after a Cholesky breakdown)."""
        kind = self._user("pc_type")
        solver = self._user("pc_factor_mat_solver_type")
        if kind is None:
            cholesky = positive_diagonal and not self._broken and self._symmetric(B)
            kind = "cholesky" if cholesky else "lu"
        if solver is None:
            if kind == "cholesky" and self._nonzeros <= self.own_cholesky_max_nonzeros:
                return ("redundant", "petsc") if B.getComm().getSize() > 1 else ("cholesky", "petsc")
            solver = "mumps"
        return kind, solver

    #: a symmetric matrix with at most this many nonzeros is factored by PETSc's own
    #: Cholesky (on several ranks gathered to every rank, ``PCREDUNDANT``), a larger one
    #: by MUMPS' (module docstring: PETSc's is not supernodal, and 3D matrices fill in)
    own_cholesky_max_nonzeros = 2e5

    #: the inner solver of ``PCREDUNDANT`` (options under ``<prefix>scaled_redundant_``;
    #: the user's win)
    _REDUNDANT = (("pc_type", "cholesky"), ("pc_factor_mat_solver_type", "petsc"),
                  ("pc_factor_mat_ordering_type", "nd"))

    #: options of a MUMPS factorization (under ``<prefix>scaled_``; the user's win): null
    #: pivots are detected and their modes get no update instead of stopping the
    #: factorization (module docstring)
    MUMPS_OPTIONS = (("mat_mumps_icntl_24", 1),)

    def _setup_inner(self):
        """``KSPSetUp`` of the inner solve; for ``PCREDUNDANT`` with its sequential
        Cholesky options in the options database for the set-up only (PCREDUNDANT
        reads its inner solver's options when it sets up; petsc4py has no handle on it);
        for MUMPS with :attr:`MUMPS_OPTIONS` there (MUMPS reads them at its symbolic
        factorization, the first set-up)."""
        prefix = self.inner.getOptionsPrefix()
        if self._requested is not None and self._requested[0] == "redundant":
            with inserted_options(dict(self._REDUNDANT), prefix + "redundant_"):
                self.inner.getPC().setFromOptions()
                self.inner.setUp()
        elif self._requested is not None and self._requested[1] == "mumps":
            with inserted_options(dict(self.MUMPS_OPTIONS), prefix):
                self.inner.setUp()
        else:
            self.inner.setUp()

    def _factor(self, choice):
        ipc = self.inner.getPC()
        if choice != self._requested:
            ipc.reset()
            ipc.setType(choice[0])
            if choice[0] != "redundant":
                ipc.setFactorSolverType(choice[1])
                if choice[1] == "petsc":
                    ipc.setFactorOrdering("nd")
            self.inner.setFromOptions()
            self._requested = choice
            self.factorization = (ipc.getType(), "cholesky/petsc" if choice[0] == "redundant"
                                  else ipc.getFactorSolverType())
        self.inner.setOperators(self.B)
        self._setup_inner()

    #: PETSc's error codes of a zero pivot in an LU / Cholesky factorisation
    ZERO_PIVOT_ERRORS = (71, 81)

    def _solve(self, xs, y, transpose=False):
        solve = self.inner.solveTranspose if transpose else self.inner.solve
        try:
            solve(xs, y)
        except PETSc.Error as exc:
            # PCREDUNDANT factors at its first solve, not at its set-up: a Cholesky
            # breakdown shows here (on every rank alike: each factors the whole matrix)
            if (self._requested is None or self._requested[0] != "redundant" or self._user("pc_type") is not None
                    or getattr(exc, "ierr", None) not in self.ZERO_PIVOT_ERRORS):
                raise
            self._broken = True
            self._factor(("lu", self._user("pc_factor_mat_solver_type") or "mumps"))
            solve(xs, y)

    def apply(self, pc, x, y):
        xs = x.copy()
        xs.pointwiseMult(xs, self.d)
        self._solve(xs, y)
        y.pointwiseMult(y, self.d)

    def applyTranspose(self, pc, x, y):
        xs = x.copy()
        xs.pointwiseMult(xs, self.d)
        self._solve(xs, y, transpose=True)
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
