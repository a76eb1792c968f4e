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


def quadrature_space(mesh, degree, shape=()):
    """FunctionSpace of values at the quadrature points of ``measure(mesh, degree)``.

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
    """``dx`` with the fixed quadrature rule of degree ``degree`` (scheme "default")."""
    return fd.dx(domain=mesh, degree=degree, scheme="default")


def quadrature_weights(mesh, degree):
    """The weights ``ω_q`` (Jacobian included) as a Function on the quadrature space."""
    Q = quadrature_space(mesh, degree)
    return fd.assemble(fd.TestFunction(Q) * measure(mesh, degree))
