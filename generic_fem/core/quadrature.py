r"""The one quadrature rule of a model: its points, weights, measure and point spaces.

Every integral of the toolkit (residuals, invariants, entropy, sums over points of a
two-point operator) uses *one* quadrature rule per model: the same points and
weights everywhere is what makes the discrete conservation laws exact.

Two rules are offered (:class:`QuadratureRule`):

``"nodal"``
    (the default, :data:`DEFAULT_RULE`) the points are the nodes of the unknown's
    space ``V_h``: the tensor
    ``(k+1)``-point Gauss–Lobatto–Legendre rule on intervals, quadrilaterals,
    hexahedra and extruded cells, with ``V_h`` the continuous ``Q_k`` element on the
    Gauss–Lobatto nodes (Firedrake's ``variant="spectral"``); the
    Kong–Mulder–Veldhuizen rule on triangles (``k ≤ 5``) and tetrahedra (``k ≤ 3``),
    with ``V_h`` the KMV element (``P_k`` plus bubbles, so ``1, v, |v|²`` are still in
    it for ``k ≥ 2``).  Then ``⟨φ_i, F(w_h)⟩ = ω_i F(w_i)``: the time-derivative term is
    diagonal, each unknown owns the density at its node (``f_i = F(w_i)``), and a
    density that the rule sees is a nodal value of the unknown, so no mode of ``w_h``
    is invisible to the rule (docs/theory.rst, "The nodal rule").  Points of
    neighbouring cells that coincide (a shared node) are distinct quadrature points
    of the broken point space, at equal positions.
``"gauss"``
    the tensor Gauss–Legendre (or default simplex) rule of degree
    ``quadrature_degree`` (default ``2k + 2``) with continuous Lagrange ``V_h``: the
    rule of versions ≤ 0.1, kept for comparisons (BKW accuracy side by side).
"""
import finat.ufl
import firedrake as fd

from .errors import InvalidParameterError

__all__ = ["QuadratureRule", "RULES", "quadrature_element", "quadrature_space", "measure",
           "quadrature_weights"]

#: the rules a model can use
RULES = ("nodal", "gauss")

#: the rule of a model that does not choose one (``rule=None``) and whose class does not
#: declare another (:attr:`generic_fem.models.model.GenericModel.default_rule`: the phase-space
#: transport models keep ``"gauss"``, docs/theory.rst, "The nodal rule").
DEFAULT_RULE = "nodal"

#: largest KMV degree Firedrake provides per simplex dimension
_KMV_MAX_DEGREE = {2: 5, 3: 3}


def _dimension(mesh):
    d = mesh.topological_dimension
    return d() if callable(d) else d


class QuadratureRule:
    """The rule of a model on ``mesh`` for unknowns of polynomial degree ``degree``.

    :arg mesh: the mesh.
    :arg degree: the degree ``k`` of the unknown's space ``V_h``.
    :arg kind: ``"nodal"`` or ``"gauss"`` (module docstring); ``None``: :data:`DEFAULT_RULE`.
    :arg quadrature_degree: ``"gauss"`` only: the degree of the rule (default ``2k+2``).

    Attributes: :attr:`measure` (the ``dx`` every integral uses), :meth:`space`
    (values at the points), :meth:`unknown_space` (``V_h``)."""

    def __init__(self, mesh, degree, kind="nodal", quadrature_degree=None):
        kind = DEFAULT_RULE if kind is None else kind
        if kind not in RULES:
            raise InvalidParameterError(f"unknown quadrature rule {kind!r}; choose one of {RULES}")
        self.mesh, self.degree, self.kind = mesh, int(degree), kind
        cell = mesh.ufl_cell()
        name = cell.cellname() if callable(cell.cellname) else cell.cellname
        self._hex = name == "hexahedron"
        if kind == "nodal":
            if quadrature_degree is not None:
                raise InvalidParameterError(
                    "quadrature_degree is for rule='gauss' only: the nodal rule's points are the nodes of "
                    f"the degree-{degree} space")
            if name in ("triangle", "tetrahedron"):
                dim = _dimension(mesh)
                if not 1 <= self.degree <= _KMV_MAX_DEGREE[dim]:
                    raise InvalidParameterError(
                        f"the nodal (KMV) rule on {name}s exists for degrees 1..{_KMV_MAX_DEGREE[dim]}, got "
                        f"{degree}; use quadrilaterals/hexahedra or rule='gauss'")
                self.family, self.variant = "KMV", None
            else:
                self.family, self.variant = "CG", "spectral"
            self.quadrature_degree = self.degree
            self.measure = fd.dx(domain=mesh, degree=self.degree, scheme="KMV")
        else:
            self.family, self.variant = "CG", None
            self.quadrature_degree = int(quadrature_degree or 2 * self.degree + 2)
            self.measure = fd.dx(domain=mesh, degree=self.quadrature_degree, scheme="default")

    # ------------------------------------------------------------------ spaces
    def _kw(self):
        return {} if self.variant is None else {"variant": self.variant}

    def unknown_space(self, dim=None):
        """``V_h``: continuous, degree ``k``, whose nodes are the rule's points for the
        nodal rule; a vector space of ``dim`` components if ``dim`` is given."""
        if dim is None:
            return fd.FunctionSpace(self.mesh, self.family, self.degree, **self._kw())
        return fd.VectorFunctionSpace(self.mesh, self.family, self.degree, dim=dim, **self._kw())

    def space(self, shape=()):
        """FunctionSpace of values (scalar, vector or tensor ``shape``) at the points
        of the rule, one value per point and cell (a broken space)."""
        if self.kind == "gauss":
            return quadrature_space(self.mesh, self.quadrature_degree, shape)
        if self._hex:   # Firedrake has no broken elements on hexahedra: DQ on the same nodes
            kw = {"variant": "gll"}
            if shape == ():
                return fd.FunctionSpace(self.mesh, "DQ", self.degree, **kw)
            if len(shape) == 1:
                return fd.VectorFunctionSpace(self.mesh, "DQ", self.degree, dim=shape[0], **kw)
            return fd.TensorFunctionSpace(self.mesh, "DQ", self.degree, shape=shape, **kw)
        base = finat.ufl.BrokenElement(self.unknown_space().ufl_element())
        if shape == ():
            el = base
        elif len(shape) == 1:
            el = finat.ufl.VectorElement(base, dim=shape[0])
        elif len(shape) == 2:
            el = finat.ufl.TensorElement(base, shape=shape)
        else:
            raise InvalidParameterError(f"unsupported point-value shape {shape}")
        return fd.FunctionSpace(self.mesh, el)

    def weights(self):
        """The weights ``ω_q`` (Jacobian included) as a Function on :meth:`space`."""
        return fd.assemble(fd.TestFunction(self.space()) * self.measure)

    def describe(self):
        if self.kind == "nodal":
            name = "KMV" if self.family == "KMV" else "Gauss-Lobatto"
            return f"nodal ({name}, degree {self.degree})"
        return f"gauss (degree {self.quadrature_degree})"

    def __repr__(self):
        return f"QuadratureRule({self.describe()})"


def as_rule(mesh, rule_or_degree):
    """A :class:`QuadratureRule`: ``rule_or_degree`` itself, or the Gauss rule of that
    degree (for ``Q2`` unknowns) when it is a number."""
    if isinstance(rule_or_degree, QuadratureRule):
        return rule_or_degree
    return QuadratureRule(mesh, 2, "gauss", quadrature_degree=int(rule_or_degree))


# ---------------------------------------------------------------------- Gauss rule
def quadrature_element(mesh, degree, shape=()):
    """A (scalar, vector or tensor) Quadrature element of the given degree."""
    cell = mesh.ufl_cell()
    base = finat.ufl.FiniteElement("Quadrature", cell, degree=degree, quad_scheme="default")
    if shape == ():
        return base
    if len(shape) == 1:
        return finat.ufl.VectorElement(base, dim=shape[0])
    if len(shape) == 2:
        return finat.ufl.TensorElement(base, shape=shape)
    raise ValueError(f"unsupported quadrature shape {shape}")


def quadrature_space(mesh, degree, shape=()):
    """FunctionSpace of values at the points of the Gauss rule ``measure(mesh, degree)``.

    Firedrake has no Quadrature elements on hexahedra; there the nodes of the
    discontinuous ``DQ`` element of degree ``k = (degree + 2)//2 − 1`` with the
    Gauss–Legendre ("spectral") variant are the points of the same tensor Gauss rule."""
    try:
        return fd.FunctionSpace(mesh, quadrature_element(mesh, degree, shape))
    except NotImplementedError:
        k = (degree + 2) // 2 - 1
        if shape == ():
            return fd.FunctionSpace(mesh, "DQ", k, variant="spectral")
        if len(shape) == 1:
            return fd.VectorFunctionSpace(mesh, "DQ", k, dim=shape[0], variant="spectral")
        return fd.TensorFunctionSpace(mesh, "DQ", k, shape=shape, variant="spectral")


def measure(mesh, degree):
    """``dx`` with the Gauss rule of degree ``degree`` (scheme "default")."""
    return fd.dx(domain=mesh, degree=degree, scheme="default")


def quadrature_weights(mesh, degree):
    """The weights ``ω_q`` of the Gauss rule (Jacobian included) on its point space."""
    Q = quadrature_space(mesh, degree)
    return fd.assemble(fd.TestFunction(Q) * measure(mesh, degree))

