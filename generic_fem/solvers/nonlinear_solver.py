r"""Newton's method for a residual written in UFL, on a PETSc SNES owned here.

:class:`NonlinearSolver` solves ``F(z; φ) = 0`` for all test functions ``φ``, with
``F`` a UFL 1-form and ``z`` a Firedrake Function (the initial guess on entry, the
solution on exit).  It plays the part of Firedrake's ``NonlinearVariationalSolver``
(`Firedrake: automating the finite element method by composing abstractions`,
Rathgeber et al., arXiv:1501.01809) for the time steppers, and owns what they need to
reach: the SNES, the assembled residual vector and Jacobian matrix, the callbacks that
assemble them, an optional matrix-free operator for the Newton systems, and the PETSc
options (given as a dict and an options prefix, inserted with petsctools'
``OptionsManager`` for the set-up and each solve; the command line wins, so
``-<prefix>snes_monitor`` and the like apply).

The residual is assembled into one Cofunction and the Jacobian into one matrix, each
by a Firedrake assembler built once.  Two hooks run before them, with the current
state already copied into ``z``: ``pre_function(X)`` and ``pre_jacobian(X)`` (the
steppers refresh nonlocal coefficients there).  The last residual is remembered with
its state: an evaluation at a state bitwise equal to the last one (a line-search
trial that SNES then takes as its step) costs nothing.  This is valid because,
within one :meth:`NonlinearSolver.solve`, the residual depends on the state only;
the memory is cleared when a solve starts.
"""
import numpy as np
import firedrake as fd
from firedrake.assemble import get_assembler
from mpi4py import MPI
from petsc4py import PETSc

from ..core.assembly import no_annotation
from ..core.petsc_options import inserted_options

__all__ = ["NonlinearSolver"]


class NonlinearSolver:
    """PETSc SNES for ``F(z; φ) = 0``.

    :arg F: the residual, a UFL 1-form in the test functions of ``z``'s space.
    :arg z: the unknown (a Function; mixed spaces too).
    :arg J: the Jacobian 2-form (default ``derivative(F, z)``); the matrix of Newton's
        linear systems or, with :meth:`use_operator`, their preconditioner.
    :arg solver_parameters: PETSc options (a dict, without the prefix; ``mat_type``
        is the Jacobian's matrix type, default ``"aij"``).
    :arg options_prefix: PETSc options prefix of the SNES (and its KSP and PC).
    :arg pre_function: ``callable(X)`` before every assembly of the residual.
    :arg pre_jacobian: ``callable(X)`` before every assembly of the Jacobian.
    :arg convergence_test: ``callable(snes, it, (xnorm, gnorm, fnorm))`` returning a
        ``PETSc.SNES.ConvergedReason`` (``SNESSetConvergenceTest``), or ``None``.
    :arg precheck: ``callable(x, y)`` run on every Newton update ``x ← x − y`` before it
        is taken (``SNESLineSearchSetPreCheck``; may change ``y`` in place), or ``None``.

    The SNES is :attr:`snes`; the residual vector, as a Cofunction, :attr:`residual`;
    the assembled Jacobian, a Firedrake matrix, :attr:`jacobian`.  Counters:
    :attr:`residual_assemblies`, :attr:`jacobian_assemblies`.
    """

    def __init__(self, F, z, J=None, *, solver_parameters=None, options_prefix="",
                 pre_function=None, pre_jacobian=None, convergence_test=None, precheck=None):
        self.z = z
        V = z.function_space()
        self.comm = V.mesh().comm
        params = dict(solver_parameters or {})
        mat_type = params.pop("mat_type", "aij")
        self.parameters = params
        self.options_prefix = options_prefix or ""
        if J is None:
            J = fd.derivative(F, z)
        self._pre_function = pre_function
        self._pre_jacobian = pre_jacobian
        self._assemble_residual = get_assembler(F).assemble
        self._assemble_jacobian = get_assembler(J, mat_type=mat_type).assemble
        self.residual = fd.Cofunction(V.dual())
        with no_annotation():
            self.jacobian = self._assemble_jacobian()
        self.residual_assemblies = 0
        self.jacobian_assemblies = 0
        self._operator = None
        self._last = None   # (state, residual) of the last residual evaluation

        snes = PETSc.SNES().create(comm=self.comm)
        snes.setOptionsPrefix(self.options_prefix)
        # the function space's DM: field splits of a mixed unknown (its callbacks are
        # installed again at every solve, since the DM is shared by every solver on V)
        snes.setDM(V.dm)
        snes.getKSP().setDMActive(PETSc.KSP.DMActive.ALL, False)
        self.snes = snes
        self._install()
        if convergence_test is not None:
            snes.setConvergenceTest(convergence_test)
        if precheck is not None:
            snes.setLineSearchPreCheck(lambda x, y, *args: precheck(x, y) or True)
        with z.dat.vec_ro as v:
            self._work = v.duplicate()
        with inserted_options(self.parameters, self.options_prefix):
            snes.setFromOptions()

    # ------------------------------------------------------------------ callbacks
    def _install(self):
        with self.residual.dat.vec_wo as f:
            self.snes.setFunction(self._form_function, f)
        P = self.jacobian.petscmat
        self.snes.setJacobian(self._form_jacobian, self._operator or P, P)

    def _set_state(self, X):
        with self.z.dat.vec_wo as v:
            X.copy(v)

    def _form_function(self, snes, X, F):
        last = self._last
        same = last is not None and np.array_equal(last[0], X.getArray(readonly=True))
        if self.comm.allreduce(same, op=MPI.LAND):   # (the assembly is collective)
            F.setArray(last[1])
            return
        self._set_state(X)
        if self._pre_function is not None:
            self._pre_function(X)
        with no_annotation():
            self._assemble_residual(tensor=self.residual)
        self.residual_assemblies += 1
        with self.residual.dat.vec_ro as v:
            if v.handle != F.handle:
                v.copy(F)
            self._last = (X.getArray(readonly=True).copy(), v.getArray(readonly=True).copy())

    def _form_jacobian(self, snes, X, J, P):
        last = self._last
        if last is not None and not np.array_equal(last[0], X.getArray(readonly=True)):
            self._last = None    # (the hooks leave the state of X behind: a later hit would be stale)
        self._set_state(X)
        if self._pre_jacobian is not None:
            self._pre_jacobian(X)
        with no_annotation():
            self._assemble_jacobian(tensor=self.jacobian)
        self.jacobian_assemblies += 1

    # ------------------------------------------------------------------ public
    def assemble_jacobian(self):
        """Assemble the Jacobian at the current value of ``z`` (after ``pre_jacobian``)
        into :attr:`jacobian`, outside a solve; returns its PETSc matrix."""
        self._last = None
        if self._pre_jacobian is not None:
            self._pre_jacobian(None)
        with no_annotation():
            self._assemble_jacobian(tensor=self.jacobian)
        self.jacobian_assemblies += 1
        return self.jacobian.petscmat

    def use_operator(self, mult):
        """Solve Newton's linear systems with the operator ``y = A x`` applied by
        ``mult(x, y)`` (PETSc Vecs), matrix-free, preconditioned by the assembled
        Jacobian (which ``mult`` may use: it is assembled at the current iterate before
        the linear solve)."""
        P = self.jacobian.petscmat

        class _Shell:
            def mult(self, mat, x, y):
                mult(x, y)

        shell = PETSc.Mat().createPython(P.getSizes(), _Shell(), comm=P.getComm())
        shell.setUp()
        if self._operator is not None:
            self._operator.destroy()
        self._operator = shell
        self._install()

    def compute_residual(self, X, F):
        """The residual at the state ``X`` into ``F`` (Vecs; through the memory of the last
        residual): for the callbacks of a running :meth:`solve` (e.g. a line-search
        pre-check), whose callbacks are the installed ones."""
        self.snes.computeFunction(X, F)

    def destroy(self):
        """Destroy the PETSc objects (collective)."""
        for obj in (self.snes, self._operator, self._work):
            if obj is not None:
                obj.destroy()
        self.snes = self._operator = self._work = None

    def solve(self):
        """Newton from the values of ``z``; the last iterate is written to ``z`` (also
        when the solve fails: read ``snes.getConvergedReason()``).  Returns the reason."""
        self._last = None
        self._install()
        with self.z.dat.vec_ro as u:
            u.copy(self._work)
        try:
            with inserted_options(self.parameters, self.options_prefix):
                self.snes.solve(None, self._work)
        finally:
            self._last = None
            self._set_state(self.snes.getSolution())
        return self.snes.getConvergedReason()
