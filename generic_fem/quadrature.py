"""Quadrature spaces and the matching integration measure.

Every integral of the toolkit (residuals, invariants, entropy, sums over points of a
two-point operator) uses *one* quadrature rule per model: the same points and
weights everywhere is what makes the discrete conservation laws exact
(ARCHITECTURE.md, "The state and the unknown").
"""
import finat.ufl
import firedrake as fd

__all__ = ["quadrature_element", "quadrature_space", "measure", "quadrature_weights"]


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


#: the quadrature schemes: Gauss (exact for ``degree``) or nodal (points at the nodes)
SCHEMES = ("gauss", "lobatto")


def _check_scheme(scheme):
    if scheme not in SCHEMES:
        from .errors import InvalidParameterError
        raise InvalidParameterError(f"quadrature scheme must be one of {SCHEMES}, got {scheme!r}")


def quadrature_space(mesh, degree, shape=(), scheme="gauss"):
    """FunctionSpace of values at the quadrature points of ``measure(mesh, degree, scheme)``.

    ``"gauss"``: Firedrake has no Quadrature elements on hexahedra; there the nodes of
    the discontinuous ``DQ`` element of degree ``k = (degree + 2)//2 − 1`` with the
    Gauss–Legendre ("spectral") variant are the points of the same tensor Gauss rule.

    ``"lobatto"`` (``degree`` = the Lagrange degree ``k`` of the unknown): the nodal rule
    whose points are the nodes of degree-``k`` Lagrange elements, one copy per cell:
    ``DQ k`` with equispaced nodes (the Gauss–Lobatto points for ``k ≤ 2``) on
    quadrilaterals and hexahedra, the broken ``KMV k`` element (the ``P_k`` nodes plus
    interior points, positive weights) on triangles and tetrahedra."""
    _check_scheme(scheme)
    if scheme == "lobatto":
        return _nodal_space(mesh, degree, shape)
    try:
        return fd.FunctionSpace(mesh, quadrature_element(mesh, degree, shape))
    except NotImplementedError:
        k = (degree + 2) // 2 - 1
        if shape == ():
            return fd.FunctionSpace(mesh, "DQ", k, variant="spectral")
        if len(shape) == 1:
            return fd.VectorFunctionSpace(mesh, "DQ", k, dim=shape[0], variant="spectral")
        return fd.TensorFunctionSpace(mesh, "DQ", k, shape=shape, variant="spectral")


def _nodal_space(mesh, k, shape):
    cell = mesh.ufl_cell()
    name = cell.cellname() if callable(cell.cellname) else cell.cellname
    if name in ("quadrilateral", "hexahedron"):
        if k > 2:
            from .errors import InvalidParameterError
            raise InvalidParameterError("the 'lobatto' rule on quadrilaterals/hexahedra supports "
                                        f"degree <= 2 (got {k})")
        base = finat.ufl.FiniteElement("DQ", cell, k, variant="equispaced")
    elif name in ("triangle", "tetrahedron"):
        base = finat.ufl.BrokenElement(finat.ufl.FiniteElement("KMV", cell, k))
    else:
        from .errors import InvalidParameterError
        raise InvalidParameterError(f"the 'lobatto' rule is not available on {name} cells")
    if shape == ():
        return fd.FunctionSpace(mesh, base)
    if len(shape) == 1:
        return fd.FunctionSpace(mesh, finat.ufl.VectorElement(base, dim=shape[0]))
    return fd.FunctionSpace(mesh, finat.ufl.TensorElement(base, shape=shape))


def measure(mesh, degree, scheme="gauss"):
    """``dx`` with the model's one quadrature rule: Gauss of degree ``degree``
    (``"gauss"``, scheme "default") or the nodal rule of Lagrange degree ``degree``
    (``"lobatto"``: Gauss–Lobatto on quadrilaterals/hexahedra, KMV on simplices)."""
    _check_scheme(scheme)
    if scheme == "lobatto":
        return fd.dx(domain=mesh, degree=degree, scheme="KMV")
    return fd.dx(domain=mesh, degree=degree, scheme="default")


def quadrature_weights(mesh, degree, scheme="gauss"):
    """The weights ``ω_q`` (Jacobian included) as a Function on the quadrature space."""
    Q = quadrature_space(mesh, degree, scheme=scheme)
    return fd.assemble(fd.TestFunction(Q) * measure(mesh, degree, scheme))
