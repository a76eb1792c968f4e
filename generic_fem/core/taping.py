"""Refuse what ``firedrake.adjoint`` can not tape yet: ``J_T`` and ``J_T^h``.

Time steps are taped (:mod:`generic_fem.solvers.adjoint`, one block per step).  The
energy–dissipation functionals are not: their two-point coefficients, ``M⁻¹`` solves and
least-action rates are computed outside UFL, and a taped evaluation would give the
gradients of a frozen-coefficient problem, silently.  Evaluating them while pyadjoint
annotates is an error."""
from .errors import InvalidParameterError

__all__ = ["refuse_annotation", "annotating"]


def annotating():
    """Whether pyadjoint is recording (``False`` when it is not installed)."""
    try:
        from pyadjoint.tape import annotate_tape
    except ImportError:      # pyadjoint not installed: nothing can tape
        return False
    return annotate_tape()


def refuse_annotation(what):
    """Raise if pyadjoint is annotating (``firedrake.adjoint.continue_annotation()``)."""
    if annotating():
        raise InvalidParameterError(
            f"{what} can not be taped by firedrake.adjoint yet (time steps can: generic_fem.adjoint): its "
            "two-point coefficients and M^-1 solves are invisible to the tape, so its gradients would be silently "
            "those of a frozen-coefficient problem. Evaluate it with the annotation paused "
            "(firedrake.adjoint.pause_annotation(), or inside `with stop_annotating():`).")
