"""Pull-backs of friction operators' nonlocal coefficients (for the adjoint,
:mod:`generic_fem.solvers.adjoint`): a 0-form's cotangents with respect to an
operator's coefficient Functions, carried back to the point values that feed them."""
import numpy as np
import ufl
import ufl.algorithms
import firedrake as fd

from ..core.assembly import Assembler
from ..core.parameters import is_real_function

__all__ = ["seed_assembler", "expanded", "TwoPointPullBack"]


def assembler(form):
    """An :class:`~generic_fem.core.assembly.Assembler` of ``form``, or ``None``."""
    return None if form is None else Assembler(form)


def nonzero(form):
    return isinstance(form, ufl.Form) and not form.empty()


def expanded(form):
    """``form`` with its derivatives expanded, or ``None`` if it vanishes."""
    if not isinstance(form, ufl.Form):
        return None
    form = ufl.algorithms.expand_derivatives(form)
    return form if nonzero(form) else None



def seed_assembler(psi, c):
    """An assembler of ``∂Ψ/∂c`` (a Cofunction on ``c``'s space) for a coefficient ``c``
    of the 0-form ``Ψ``, or ``None`` if ``Ψ`` does not depend on it."""
    if c not in set(psi.coefficients()):
        return None
    return assembler(expanded(ufl.derivative(psi, c, fd.TestFunction(c.function_space()))))


class TwoPointPullBack:
    r"""The pull-back through one two-point coefficient set ``(f, g)``
    (:meth:`~generic_fem.friction.two_point.TwoPointFriction.coefficient_adjoint`): the cotangents
    of ``Ĝ_i, ĝ_i, Ĵ_i`` become Quadrature Functions ``b_m, b_G`` (divided by the weights)
    with ``extra = Σ_i ∫ b_{m,i} m_i(f) + b_{G,i} · G_i(g) dξ``."""

    def __init__(self, op, psi, f, g):
        self.op, self.f, self.g = op, f, g
        e = op.coefficient_set(f, g)
        self.seeds = {key: [seed_assembler(psi, c) for c in fns] for key, fns in (("G", e.G), ("g", e.gq), ("J", e.J))}
        self.bm = [fd.Function(op.Q) for _ in range(op.n_sets)]
        self.bG = [fd.Function(op.Qv) for _ in range(op.n_sets)]
        m, G = op.mobilities(f), op.scaled_gradients(g)
        self.extra = sum((self.bm[i] * m[i] + ufl.inner(self.bG[i], G[i])) * op.dx for i in range(op.n_sets))

    def update(self, parameters=True):
        op = self.op
        n, d, nl = op.n_sets, op.dim, len(op.weights)
        shapes = {"G": (nl, d, d), "g": (nl, d), "J": (nl, d)}
        vals = {}
        for key, forms in self.seeds.items():
            arr = np.zeros((n,) + shapes[key])
            for i, assemble in enumerate(forms):
                if assemble is not None:
                    arr[i] = np.asarray(assemble().dat.data_ro).reshape(shapes[key])
            vals[key] = arr
        params = [p for p in op.parameters() if is_real_function(p)] if parameters else []
        mbar, Gbar, pbar = op.coefficient_adjoint(self.f, self.g, vals, params)
        w = np.where(op.weights != 0, op.weights, 1.0)
        for i in range(n):
            self.bm[i].dat.data_wo[:] = (mbar[i] / w).reshape(self.bm[i].dat.data_ro.shape)
            self.bG[i].dat.data_wo[:] = (Gbar[i] / w[:, None]).reshape(self.bG[i].dat.data_ro.shape)
        return pbar
