"""Matching the discrete invariants of a state (used by the steppers after each solve and by
:func:`~generic_fem.grazing.sample_curve`)."""
import numpy as np
import firedrake as fd

__all__ = ["match_invariants"]


def match_invariants(w, psi, forms, jacobian, target, scale, tol, max_it):
    """Newton on ``c`` for ``∫ ψ_j F(w + Σ_k c_k ψ_k) = target_j``, updating ``w`` in place.

    :arg psi: the invariant densities ``ψ_k`` as Functions on ``w``'s space.
    :arg forms: the 0-forms ``∫ ψ_j F(w)``; ``jacobian[j][k]`` their derivatives along ``ψ_k``.
    :arg scale: per invariant, the size the residual is relative to.
    :returns: ``(converged, relative residual)``: converged when every
        ``|r_j| ≤ tol scale_j`` within ``max_it`` iterations (``w`` is left alone when it is
        already); a singular or non-finite Newton system stops the iteration."""
    scale = np.maximum(np.asarray(scale, dtype=float), 1e-300)
    rel = np.inf
    for _ in range(max_it):
        r = np.array([float(fd.assemble(a)) for a in forms]) - target
        rel = float(np.max(np.abs(r) / scale)) if len(r) else 0.0
        if rel <= tol:
            return True, rel
        J = np.array([[float(fd.assemble(b)) for b in row] for row in jacobian])
        try:
            c = -np.linalg.solve(J, r)
        except np.linalg.LinAlgError:
            return False, rel
        if not np.all(np.isfinite(c)):
            return False, rel
        for ck, pk in zip(c, psi):
            w.dat.data[:] += ck * pk.dat.data_ro
    return False, rel
