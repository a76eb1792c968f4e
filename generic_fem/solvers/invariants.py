r"""The invariants ``∫ ψ_j F(w)`` of a state and their matching (used by the steppers after
each solve and by :func:`~generic_fem.drivers.grazing.sample_curve`).

:class:`InvariantMoments` evaluates ``m_j(w) = ∫ ψ_j F(w)`` and ``∂m_j/∂w · ψ_k =
∫ ψ_j F'(w) ψ_k`` for the invariant densities ``ψ_j ∈ V_h`` (e.g. ``1, v, |v|²``).  Under
the nodal rule (docs/theory.rst, "The nodal rule") every point of the rule is a node,
so with the lumped weights ``W_i = ∫ φ_i`` of the rule

.. math::  ∫ ψ_j F(w_h) = Σ_i W_i\, ψ_{j,i}\, F(w_i), \qquad
           ∫ ψ_j F'(w_h) ψ_k = Σ_i W_i\, ψ_{j,i}\, F'(w_i) ψ_{k,i}

exactly (the same sums in another order): nodal values and dot products, no form
assembly; under a Gauss rule the forms are assembled.
"""
import numpy as np
import ufl
import ufl.algorithms
import firedrake as fd
from mpi4py import MPI

from ..core.assembly import CompiledForms, compiled_interpolation

__all__ = ["InvariantMoments", "match_invariants", "InvariantProjection"]


class InvariantMoments:
    """``∫ ψ_j F(w)``, ``∫ |ψ_j F(w)|`` and ``∫ ψ_j F'(w) ψ_k`` on the Function ``w``.

    :arg model: the model (its ``density``, ``dx`` and rule).
    :arg psi: the invariant densities as Functions on ``w``'s space.
    :arg w: the Function the moments are taken of (read at each call).
    :arg nodal: sums over the nodes (``None``: when the model's rule is nodal) or, with
        ``False``, assembled forms (the same values; for checks).
    """

    def __init__(self, model, psi, w, nodal=None):
        self.model, self.psi, self.w = model, list(psi), w
        self.comm = model.mesh.comm
        f = model.density(w)
        is_nodal = getattr(getattr(model, "rule", None), "kind", None) == "nodal"
        self.nodal = is_nodal if nodal is None else bool(nodal) and is_nodal
        if self.nodal:
            V = w.function_space()
            shape = V.value_shape
            self.ncomp = int(np.prod(shape)) if shape else 1
            ones = ufl.as_vector([1.0] * self.ncomp) if shape else 1.0
            phi = fd.TestFunction(V)
            self.W = np.array(fd.assemble(ufl.inner(phi, ones) * model.dx).dat.data_ro).reshape(-1)
            self.P = np.array([np.asarray(p.dat.data_ro).reshape(-1) for p in self.psi])
            self.f = fd.Function(V)
            self._f = compiled_interpolation(f, self.f)
            self.df = [fd.Function(V) for _ in self.psi]
            self._df = [compiled_interpolation(ufl.algorithms.expand_derivatives(ufl.derivative(f, w, p)), d)
                        for p, d in zip(self.psi, self.df)]
            # a pointwise scalar F: F'(w) ψ_k = F'(w)·ψ_k at the nodes, one interpolation
            # for all k (checked here against the K interpolations)
            self._dF = None
            if self.ncomp == 1 and self.psi:
                one = fd.Function(V).assign(1.0)
                dF = fd.Function(V)
                interp = compiled_interpolation(ufl.algorithms.expand_derivatives(ufl.derivative(f, w, one)), dF)
                interp()
                for op in self._df:
                    op()
                d = np.asarray(dF.dat.data_ro).reshape(-1)
                pointwise = all(np.allclose(np.asarray(g.dat.data_ro).reshape(-1), d * p, rtol=1e-12, atol=0.0)
                                for g, p in zip(self.df, self.P))
                if self.comm.allreduce(pointwise, op=MPI.LAND):
                    self._dF, self._dF_values = interp, dF
        else:
            forms = [ufl.inner(p, f) * model.dx for p in self.psi]
            K = range(len(forms))
            self.forms = CompiledForms({j: forms[j] for j in K})
            self.abs_forms = CompiledForms({j: abs(ufl.inner(p, f)) * model.dx for j, p in enumerate(self.psi)})
            self.jac = CompiledForms({(j, k): ufl.algorithms.expand_derivatives(ufl.derivative(forms[j], w, q))
                                      for j in K for k, q in enumerate(self.psi)})

    def _sum(self, a):
        out = np.empty_like(a)
        self.comm.Allreduce(np.ascontiguousarray(a), out, op=MPI.SUM)
        return out

    def values(self):
        """``[∫ ψ_j F(w)]_j`` (collective)."""
        if not self.nodal:
            v = self.forms()
            return np.array([v[j] for j in range(len(self.psi))])
        self._f()
        return self._sum(self.P @ (self.W * np.asarray(self.f.dat.data_ro).reshape(-1)))

    def absolute(self):
        """``[∫ |ψ_j F(w)|]_j`` (collective): the sizes the invariants are measured against."""
        if not self.nodal:
            v = self.abs_forms()
            return np.array([v[j] for j in range(len(self.psi))])
        self._f()
        k = self.ncomp
        # per node |Σ_c ψ_{j,c} f_c| (the components share the node's weight)
        terms = (self.P * np.asarray(self.f.dat.data_ro).reshape(-1)).reshape(len(self.P), -1, k).sum(axis=2)
        return self._sum(np.abs(terms) @ self.W.reshape(-1, k)[:, 0])

    def jacobian(self):
        """``[∫ ψ_j F'(w) ψ_k]_{jk}`` (collective)."""
        if not self.nodal:
            v, K = self.jac(), range(len(self.psi))
            return np.array([[v[j, k] for k in K] for j in K])
        if self._dF is not None:
            self._dF()
            D = self.P * np.asarray(self._dF_values.dat.data_ro).reshape(-1)
        else:
            for op in self._df:
                op()
            D = np.array([np.asarray(d.dat.data_ro).reshape(-1) for d in self.df])
        return self._sum((self.P * self.W) @ D.T)


def match_invariants(moments, target, scale, tol, max_it):
    """Newton on ``c`` for ``∫ ψ_j F(w + Σ_k c_k ψ_k) = target_j``, updating ``w`` (the
    :class:`InvariantMoments`' Function) in place.

    :arg scale: per invariant, the size the residual is relative to.
    :returns: ``(converged, relative residual)``: converged when every
        ``|r_j| ≤ tol scale_j`` within ``max_it`` iterations (``w`` is left alone when it is
        already); a singular or non-finite Newton system stops the iteration."""
    scale = np.maximum(np.asarray(scale, dtype=float), 1e-300)
    w = moments.w
    rel = np.inf
    for _ in range(max_it):
        r = moments.values() - target
        rel = float(np.max(np.abs(r) / scale)) if len(r) else 0.0
        if rel <= tol:
            return True, rel
        J = moments.jacobian()
        try:
            c = -np.linalg.solve(J, r)
        except np.linalg.LinAlgError:
            return False, rel
        if not np.all(np.isfinite(c)):
            return False, rel
        for ck, pk in zip(c, moments.psi):
            w.dat.data[:] += ck * pk.dat.data_ro
    return False, rel


class InvariantProjection:
    """Make a step's invariants exact after its solve: ``w ← w + Σ_k c_k ψ_k`` with the
    invariant densities ``ψ_k`` of the model (in the kernel of ``M``, so ``M(f) w`` is
    unchanged) and ``c`` from Newton on ``∫ ψ_j F(w + Σ c_k ψ_k) = ∫ ψ_j f^n`` (a
    ``K × K`` system, no operator evaluation: :func:`match_invariants`).  The correction
    is of the size of the residual; it removes the conservation error the nonlinear
    tolerance leaves.  A model whose invariant densities are not in ``V`` gets none.

    :arg model: the model; :arg w: the Function projected (the unknown); :arg w_old: ``w^n``.
    """

    def __init__(self, model, w, w_old):
        psi = []
        for phi in model.invariant_densities().values():
            g = fd.Function(model.V)
            try:
                g.interpolate(phi)
            except Exception:   # not in V: no projection
                psi = []
                break
            psi.append(g)
        #: the invariant densities as Functions of ``V`` (empty: no projection)
        self.psi = psi
        if psi:
            self._moments = InvariantMoments(model, psi, w)
            self._old_moments = InvariantMoments(model, psi, w_old)
        self._targets = None

    def new_step(self):
        """``w^n`` changed: the targets ``∫ ψ_j f^n`` are taken again at the next projection."""
        self._targets = None

    def __call__(self):
        if not self.psi:
            return
        if self._targets is None:
            self._targets = (self._old_moments.values(), self._old_moments.absolute())
        # (exact to 1e-13 already: w is left alone, its pair sums stay current)
        match_invariants(self._moments, *self._targets, tol=1e-13, max_it=4)
