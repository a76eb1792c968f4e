r"""Friction operators as objects: a model's ``M`` is a sum of them.

A friction operator ``M(f)`` (docs/checking_jt.rst: symmetric, positive semidefinite) is stated
by its weak form ``⟨φ, M(f) g⟩``.  A *local* operator is a UFL form and nothing else.
A *nonlocal* one (a two-point operator, a moment projection) is a local UFL form
whose coefficients hold sums over all points of the mesh; it knows how to

* :meth:`~FrictionOperator.form`: state ``⟨φ, M(f) g⟩`` as a UFL form with those coefficients,
* :meth:`~FrictionOperator.refresh`: recompute them for the current ``(f, g)`` (collective;
  the steppers call it before every residual and Jacobian evaluation),
* :meth:`~FrictionOperator.linearization` / :meth:`~FrictionOperator.refresh_linearization`:
  give their derivatives in a direction ``(δf, δg)`` (exact Newton),
* :meth:`~FrictionOperator.dense_matrix`: its matrix on ``V_h`` (validation-size problems).

A model returns its operators from :meth:`GenericModel.friction_operators
<generic_fem.models.model.GenericModel.friction_operators>`; ``⟨φ, M g⟩`` is the sum of their
forms, so a two-point operator plus a local one (the infinite-mass limit of Junné–Winter–Yoldaş, arXiv:2512.17082,
docs/models.rst, Multispecies Landau and Infinite-mass limit) is one line in the model.
"""
import numpy as np
import firedrake as fd

__all__ = ["FrictionOperator", "LocalFriction"]


class FrictionOperator:
    """Base class: a friction operator ``⟨φ, M(f) g⟩`` (module docstring)."""

    #: the form's coefficients depend on ``(f, g)`` at all points (no sparse matrix)
    is_nonlocal = False
    #: a short name (the parts of :func:`~generic_fem.drivers.rates.time_derivatives`);
    #: ``None``: the class name and index
    label = None

    def form(self, f, g, phi):
        """``⟨φ, M(f) g⟩`` as a UFL form (linear in ``φ``; symmetric in ``g, φ``)."""
        raise NotImplementedError

    def refresh(self, f, g):
        """Recompute the nonlocal coefficients of :meth:`form` for the current values
        of the UFL expressions ``f`` (mobility state) and ``g`` (argument).  Collective."""

    def share_coefficients(self, f_alias, f, g):
        """Let ``form(f_alias, g, φ)`` use the nonlocal coefficients of ``(f, g)`` (refreshed
        with them, no pair sums of its own): the form with the mobility ``f_alias`` in
        place of ``f`` and the same coefficients, whose derivative is the Jacobian with
        the mobility lagged (:class:`~generic_fem.solvers.steppers.Stepper`).  Returns whether
        the operator can: a local operator has nothing to share (``True``); a nonlocal
        one must override this."""
        return not self.is_nonlocal

    def linearization(self, f, g, df, dg):
        """``[(c, δc), ...]``: every nonlocal coefficient ``c`` of ``form(f, g, φ)`` with a
        Function ``δc`` that :meth:`refresh_linearization` fills with its derivative in
        the directions ``df, dg`` (UFL expressions linear in one direction Function)."""
        return []

    def refresh_linearization(self, f, g):
        """Fill the ``δc`` of :meth:`linearization` for the current direction."""

    def dense_matrix(self, f, V):
        """``M_ij = ⟨φ_i, M(f) φ_j⟩`` on ``V`` as a dense array on every rank, or ``None``
        (then :func:`generic_fem.friction.checks.friction_matrix_dense` builds it column by column
        from the action)."""
        return None

    def passes(self):
        """Evaluations of the nonlocal coefficients so far (``0`` for a local operator)."""
        return 0

    # -- what the stepper, the adjoint and the checks may also call (defaults: a local
    #    operator, whose form is all there is)
    def parameters(self):
        """The parameters (``Constant`` s, Real-space Functions) that the nonlocal
        coefficients depend on outside UFL: the operator's own controls for
        ``firedrake.adjoint``.  Default: none."""
        return []

    def check_parameters(self):
        """Raise :class:`~generic_fem.core.errors.InvalidParameterError` if a parameter's
        current value is out of range (Real-space parameters can change after
        construction, e.g. in the replays of a taped run).  Default: nothing to check."""

    def internal_coefficients(self):
        """The Functions the operator writes itself (its nonlocal coefficients): not
        inputs of a taped step.  Default: none."""
        return []

    #: whether a nonlocal operator implements :meth:`adjoint_pullback` (one that does not
    #: cannot be taped: its gradients would be those of the frozen-coefficient problem)
    has_adjoint = False

    def adjoint_pullback(self, psi, f, g):
        """The pull-back of a 0-form's cotangents ``ψ`` through the nonlocal
        coefficients of ``(f, g)`` (:class:`~generic_fem.solvers.adjoint.PullBack`), or ``None``
        when there are none (a local operator: the default)."""
        if self.is_nonlocal:
            raise NotImplementedError(f"{type(self).__name__} has no adjoint_pullback")
        return None

    def point_count(self):
        """Points the nonlocal sums run over (all sets; ``0`` for a local operator):
        the size that decides between dense and iterative checks."""
        return 0


class LocalFriction(FrictionOperator):
    """A local friction operator given by its form.

    :arg form: a callable ``(f, g, φ) ↦ ⟨φ, M(f) g⟩`` (UFL), symmetric in ``g, φ`` and
        positive semidefinite, e.g. ``lambda f, g, φ: inner(grad(φ), f K(v) grad(g)) * dx``.
    """

    def __init__(self, form):
        self._form = form

    def form(self, f, g, phi):
        return self._form(f, g, phi)

    def dense_matrix(self, f, V):
        from .checks import gather_matrix
        A = fd.assemble(self._form(f, fd.TrialFunction(V), fd.TestFunction(V))).petscmat
        return np.asarray(gather_matrix(A, V.mesh().comm).toarray())
