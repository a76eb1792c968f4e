"""Model parameters that can be controls of ``firedrake.adjoint``.

Firedrake tapes a parameter as a Function on the Real space ``R``
(``Function(FunctionSpace(mesh, "R", 0))``), not as a ``Constant``.  A model or a
two-point operator accepts either (or a number) wherever a scalar parameter is stated;
UFL forms use the object itself, and the pair sums read its current value at every
evaluation (:func:`value`)."""
import firedrake as fd

import numpy as np

__all__ = ["is_real_function", "is_parameter", "value", "real_parameter", "parameter_matrix"]


def is_real_function(c):
    """Whether ``c`` is a Function on a Real space (a scalar control)."""
    return isinstance(c, fd.Function) and c.function_space().ufl_element().family() == "Real"


def is_parameter(c):
    """A ``Constant`` or a Real-space Function: a parameter whose value may change."""
    return isinstance(c, fd.Constant) or is_real_function(c)


def value(c):
    """The current (scalar) value of a number, ``Constant`` or Real-space Function."""
    if is_real_function(c):
        return float(c.dat.data_ro.ravel()[0])
    if isinstance(c, fd.Constant):
        return float(c.dat.data_ro.ravel()[0])
    return float(c)


def real_parameter(mesh, val):
    """A Real-space Function on ``mesh`` holding ``val``: a parameter that
    ``firedrake.adjoint`` can differentiate with respect to (``Control(p)``)."""
    p = fd.Function(fd.FunctionSpace(mesh, "R", 0))
    p.assign(float(val))
    return p


def parameter_matrix(entries, n=None):
    """A square object array from a number or parameter (repeated ``n × n``; ``1 × 1``
    without ``n``) or a nested sequence of them (numpy would look inside a UFL object)."""
    if is_parameter(entries) or np.ndim(entries) == 0:
        k = 1 if n is None else n
        out = np.empty((k, k), dtype=object)
        for i in range(k):
            for j in range(k):
                out[i, j] = entries
        return out
    rows = [list(r) if not (is_parameter(r) or np.ndim(r) == 0) else [r] for r in entries]
    out = np.empty((len(rows), max(len(r) for r in rows) if rows else 0), dtype=object)
    if any(len(r) != out.shape[1] for r in rows):
        raise ValueError(f"a matrix of parameters must be rectangular, got rows of lengths {[len(r) for r in rows]}")
    for i, r in enumerate(rows):
        for j, c in enumerate(r):
            out[i, j] = c
    return out
