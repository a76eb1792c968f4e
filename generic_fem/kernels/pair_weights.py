r"""The velocity weight ``A(|z|)`` of a projected two-point kernel, stated in UFL, compiled to C.

A two-point friction operator (:mod:`generic_fem.friction.two_point`) has the kernel

.. math::  a(z) = A(|z|)\, Π(z), \qquad Π(z) = I − \frac{z ⊗ z}{|z|^2},

(docs/models.rst, Homogeneous Landau and Multispecies Landau; ``A(r) = r^{γ+2}`` for the power laws of the Landau family).  A model
states ``A`` as a UFL expression of one scalar variable ``r``:

.. code-block:: python

    PairWeight(lambda r: r ** (gamma + 2))                  # power law
    PairWeight(lambda r: ufl.exp(-r / lam) / r)             # Coulomb with an exponential cut-off in |v − v_*|
    PairWeight(lambda r: r ** 3 / (r ** 2 + delta ** 2) ** 2.5)   # regularised Coulomb

and the toolkit translates it into a C function (:func:`ufl_to_c`) inlined in the pair
loop of :mod:`generic_fem.kernels.pair_kernels`.  The loop needs ``A(r)/r²`` (it builds
``a(z) = (A(r)/r²)(r² I − z ⊗ z)`` without a division per entry):

* ``A = r^e`` with a numeric exponent (``e = γ + 2``; a ``Constant`` exponent is read
  once, at construction; put constant factors in the operator's coupling, not in ``A``)
  is recognised and keeps the fast
  paths: ``sqrt`` forms for integer and half-integer ``γ``, glibc's vector ``pow``
  otherwise, and for ``e = 2`` (``γ = 0``, Maxwell molecules) the exact ``O(N)`` moment
  reduction (:attr:`PairWeight.quadratic`);
* any other expression is compiled as written (``exp``, ``log``, ``pow``, ``sin``,
  ``cos`` have SIMD variants in glibc's libmvec; other functions are called per pair).

Constants (``firedrake.Constant`` or numbers) are inlined with their values at
construction: a ``PairWeight`` is immutable.  ``A`` must be finite and non-negative for
``r > 0`` (then the operator is symmetric positive semidefinite); the two-point operator
checks it, sampled, on its mesh's range of distances (:meth:`PairWeight.check`).
"""
import ctypes

import numpy as np
import ufl
import ufl.classes as uc
import ufl.algorithms
import firedrake as fd

from ..core.errors import InvalidParameterError
from ..core.kernel_compiler import compile_library
from ..core.parameters import is_real_function

#: the C function of :meth:`PairWeight.values` (after the weight's own definitions)
_WEIGHT_VALUES = """
void weight_values(long n, const double *restrict r, double *restrict out)
{
    for (long i = 0; i < n; ++i) { const double r2 = r[i] * r[i]; out[i] = r2 * kpow(r2); }
}
"""

__all__ = ["PairWeight", "ufl_to_c"]

#: |z|^γ = r2^(γ/2) without pow() for integer and half-integer γ
POWER_FORMS = {-3.0: "1.0 / (r2 * sqrt(r2))", -2.5: "1.0 / (r2 * sqrt(sqrt(r2)))", -2.0: "1.0 / r2",
               -1.5: "1.0 / (sqrt(r2) * sqrt(sqrt(r2)))", -1.0: "1.0 / sqrt(r2)",
               -0.5: "1.0 / sqrt(sqrt(r2))", 0.0: "1.0", 0.5: "sqrt(sqrt(r2))", 1.0: "sqrt(r2)",
               1.5: "sqrt(r2) * sqrt(sqrt(r2))", 2.0: "r2"}

#: functions with SIMD variants in glibc's libmvec (since glibc 2.22, x86-64)
SIMD_FUNCTIONS = ("exp", "log", "pow", "sin", "cos")

_UNARY = {uc.Sqrt: "sqrt", uc.Exp: "exp", uc.Ln: "log", uc.Abs: "fabs", uc.Cos: "cos", uc.Sin: "sin",
          uc.Tan: "tan", uc.Cosh: "cosh", uc.Sinh: "sinh", uc.Tanh: "tanh", uc.Acos: "acos",
          uc.Asin: "asin", uc.Atan: "atan", uc.Erf: "erf"}
_BINARY = {uc.Sum: "+", uc.Product: "*", uc.Division: "/"}
_COMPARE = {uc.GT: ">", uc.LT: "<", uc.GE: ">=", uc.LE: "<=", uc.EQ: "==", uc.NE: "!=",
            uc.AndCondition: "&&", uc.OrCondition: "||"}


def scalar_variable():
    """The scalar variable ``r``: a UFL Coefficient on a Real space of a symbolic 1D
    domain (not a Constant: UFL folds ``erf``, ``exp``, … of constants into numbers)."""
    import finat.ufl
    domain = ufl.Mesh(finat.ufl.VectorElement("Lagrange", ufl.interval, 1, dim=1))
    return ufl.Coefficient(ufl.FunctionSpace(domain, finat.ufl.FiniteElement("Real", ufl.interval, 0)))


def _number(value):
    v = float(value)
    if not np.isfinite(v):
        raise InvalidParameterError(f"a constant in the expression is not finite ({v})")
    return repr(v)


_NUMPY = {"sqrt": "np.sqrt", "exp": "np.exp", "log": "np.log", "fabs": "np.abs", "cos": "np.cos",
          "sin": "np.sin", "tan": "np.tan", "cosh": "np.cosh", "sinh": "np.sinh", "tanh": "np.tanh",
          "acos": "np.arccos", "asin": "np.arcsin", "atan": "np.arctan", "erf": "_erf",
          "fmin": "np.minimum", "fmax": "np.maximum", "pow": "np.power"}


def ufl_to_c(expr, r, functions=None, dialect="c"):
    """The C expression of the scalar UFL expression ``expr`` of the terminal ``r`` (which
    becomes the C variable ``r``).  Constants are inlined; ``functions`` (a set) collects
    the C math functions used.  Raises :class:`InvalidParameterError` on anything that is
    not a pointwise scalar function of ``r`` (a Function, an Argument, a tensor, …).
    ``dialect="numpy"`` gives the same expression for numpy arrays (:func:`evaluate`)."""
    functions = set() if functions is None else functions
    C = dialect == "c"

    def call(name, *args):
        functions.add(name)
        return f"{name if C else _NUMPY[name]}({', '.join(args)})"

    def go(e):
        if e == r:
            return "r"
        if isinstance(e, uc.Zero):
            return "0.0"
        if isinstance(e, uc.ScalarValue):
            return _number(e.value())
        if isinstance(e, fd.Constant) or is_real_function(e):
            vals = np.asarray(e.dat.data_ro).ravel()
            if vals.size != 1:
                raise InvalidParameterError(f"pair weight: a non-scalar Constant ({e}) is not allowed")
            return _number(vals[0])
        if isinstance(e, uc.Variable):
            return go(e.ufl_operands[0])
        if type(e) in _BINARY:
            a, b = e.ufl_operands
            return f"({go(a)} {_BINARY[type(e)]} {go(b)})"
        if isinstance(e, uc.Power):
            a, b = e.ufl_operands
            if isinstance(b, uc.ScalarValue) and float(b.value()) == 2.0:
                x = go(a)
                return f"({x} * {x})"
            return call("pow", go(a), go(b))
        if type(e) in _UNARY:
            return call(_UNARY[type(e)], go(e.ufl_operands[0]))
        if isinstance(e, (uc.MinValue, uc.MaxValue)):
            a, b = e.ufl_operands
            return call("fmin" if isinstance(e, uc.MinValue) else "fmax", go(a), go(b))
        if type(e) in _COMPARE:
            a, b = e.ufl_operands
            op = _COMPARE[type(e)]
            if not C:
                op = {"&&": "&", "||": "|"}.get(op, op)
            return f"({go(a)} {op} {go(b)})"
        if isinstance(e, uc.NotCondition):
            return f"({'!' if C else '~'}{go(e.ufl_operands[0])})"
        if isinstance(e, uc.Conditional):
            c, a, b = e.ufl_operands
            return f"({go(c)} ? {go(a)} : {go(b)})" if C else f"np.where({go(c)}, {go(a)}, {go(b)})"
        raise InvalidParameterError(
            f"pair weight or spatial weight: {type(e).__name__} is not supported in a function of one variable (use "
            "numbers, Constants, + - * /, **, sqrt, exp, ln, abs, trigonometric and hyperbolic "
            "functions, erf, min_value/max_value and conditionals)")

    if ufl.as_ufl(expr).ufl_shape != ():
        raise InvalidParameterError(f"pair weight or spatial weight: the function must be a scalar, got shape {expr.ufl_shape}")
    return go(ufl.as_ufl(expr))


def scalar_function(function, what="function", real_functions=False):
    """``(expr, r)``: the UFL expression ``function(r)`` of the scalar variable ``r``
    (checked to depend on ``r`` and constants only; with ``real_functions``, also on
    Real-space Functions, parameters read at every evaluation)."""
    if not callable(function):
        raise InvalidParameterError(f"{what}: give a callable of one variable, got {function!r}")
    r = scalar_variable()
    expr = ufl.as_ufl(function(r))
    if [c for c in set(ufl.algorithms.extract_coefficients(expr)) - {r}
            if not (real_functions and is_real_function(c))]:
        raise InvalidParameterError(f"{what}: may depend on its variable and constants only "
                                    "(a Function is not supported)")
    return expr, r


def evaluate(expr, r, values):
    """``expr`` (a UFL expression of ``r``) at the numpy array ``values`` (numpy translation)."""
    from scipy.special import erf
    code = ufl_to_c(expr, r, dialect="numpy")
    x = np.asarray(values, dtype=float)
    with np.errstate(all="ignore"):
        out = eval(code, {"np": np, "_erf": erf, "r": x})   # noqa: S307 (our own translation)
    return np.broadcast_to(np.asarray(out, dtype=float), x.shape).copy()


class PairWeight:
    """The weight ``A(r) ≥ 0`` of the kernel ``a(z) = A(|z|)Π(z)`` (module docstring).

    :arg weight: a callable ``r ↦ A(r)`` returning a UFL expression of its scalar
        argument (or a number), e.g. ``lambda r: r**(gamma + 2)``.
    :arg name: a label for logs (default: the UFL expression).
    :arg check_range: ``(r_min, r_max)`` on which ``A`` must be finite and ``≥ 0``, or
        ``None`` (the default): then only the two-point operator checks it, on the range
        of distances of its mesh, ``[10⁻⁶ D, D]`` with ``D`` the diameter (sampled at 2000
        log-spaced points).
    """

    def __init__(self, weight, name=None, check_range=None):
        self._values = None   # the compiled A(r), on first use
        expr, r = scalar_function(weight, "pair weight A(r)")
        self.expression = expr
        self.name = name or str(expr).replace(str(r), "r")
        #: the exponent e when A = r^e with a constant e, else None
        self.exponent = None
        if expr == r:
            self.exponent = 1.0
        elif isinstance(expr, uc.ScalarValue) and float(expr.value()) == 1.0:
            self.exponent = 0.0      # (UFL folds r**0 to 1: γ = −2)
        elif isinstance(expr, uc.Power) and expr.ufl_operands[0] == r:
            e = expr.ufl_operands[1]
            if isinstance(e, uc.ScalarValue):
                self.exponent = float(e.value())
            elif isinstance(e, fd.Constant) and np.asarray(e.dat.data_ro).size == 1:
                self.exponent = float(np.asarray(e.dat.data_ro).ravel()[0])   # its value now
        functions = set()
        if self.exponent is not None:
            g = self.exponent - 2.0
            self.kpow = POWER_FORMS.get(g, f"pow(r2, {0.5 * g!r})")
            if g not in POWER_FORMS:
                functions.add("pow")
        else:
            c = ufl_to_c(expr, r, functions)
            # A(r)/r² with r = sqrt(r2), inside a statement block of the kernel
            self.kpow = "kweight(sqrt(r2)) / r2"
            self._weight_body = c
        self.functions = tuple(sorted(functions))
        if check_range is not None:
            self.check(*check_range)

    @classmethod
    def power(cls, gamma):
        """``A(r) = r^{γ+2}`` (the Landau family's kernels)."""
        gamma = float(gamma)
        if not np.isfinite(gamma):
            raise InvalidParameterError(f"pair weight: gamma must be finite, got {gamma}")
        return cls(lambda r: r ** (gamma + 2.0), name=f"r^{gamma + 2:g}")

    @property
    def gamma(self):
        """``e − 2`` for a power ``A = r^e`` (``None`` otherwise)."""
        return None if self.exponent is None else self.exponent - 2.0

    @property
    def quadratic(self):
        """``A = r²`` (``γ = 0``): the pair sums reduce exactly to moments."""
        return self.exponent == 2.0

    def c_source(self):
        """C definitions: ``kweight(r) = A(r)`` (non-power weights) and ``kpow(r2) = A(r)/r²``."""
        decl = "".join(f"#pragma omp declare simd notinbranch\ndouble {fn}(double{', double' if fn == 'pow' else ''});\n"
                       for fn in self.functions if fn in SIMD_FUNCTIONS)
        body = ""
        if self.exponent is None:
            body = f"static inline double kweight(double r) {{ return {self._weight_body}; }}\n"
        return decl + body + f"static inline double kpow(double r2) {{ return {self.kpow}; }}\n"

    def values(self, r):
        """``A(r)`` for an array of ``r > 0``, by the compiled code of :meth:`c_source`
        (what the pair loop uses; :func:`~generic_fem.core.kernel_compiler.compile_library`)."""
        if self._values is None:
            so = compile_library(self.c_source() + _WEIGHT_VALUES, f"the pair weight {self}", prefix="weight")
            so.weight_values.restype = None
            so.weight_values.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
            self._values = so.weight_values
        r = np.ascontiguousarray(r, dtype=float).ravel()
        out = np.empty_like(r)
        self._values(len(r), r.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p))
        return out

    def check(self, r_min, r_max):
        """Raise :class:`InvalidParameterError` unless ``A`` is finite and ``≥ 0`` on
        ``[r_min, r_max]`` (sampled at 2000 log-spaced points)."""
        r = np.geomspace(r_min, r_max, 2000)
        a = self.values(r)
        bad = ~np.isfinite(a) | (a < 0)
        if np.any(bad):
            nonfinite = ~np.isfinite(a)
            k = int(np.argmax(nonfinite)) if nonfinite.any() else int(np.argmin(a))   # the worst sample
            raise InvalidParameterError(
                f"pair weight A(r) = {self.name} must be finite and non-negative for r > 0 "
                f"(the operator would not be positive semidefinite): A({r[k]:.3g}) = {a[k]:.3g}")

    def __repr__(self):
        return f"PairWeight({self.name})"
