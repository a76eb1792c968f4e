"""Refuse to run under pyadjoint's annotation (issue 14 is not done yet).

A run of the toolkit is not visible to ``firedrake.adjoint`` as it stands: the
two-point operators' coefficients are written into Quadrature Functions outside UFL,
the steppers project the invariants by writing the state's values, and the Newton
control (convergence test, pre-check, rejections, ``α`` rounds) is not replayed by the
tape.  A taped run would give gradients of the frozen-coefficient problem, silently.
Until step-level blocks exist, an annotated run is an error."""
from .errors import InvalidParameterError

__all__ = ["refuse_annotation"]


def refuse_annotation(what):
    """Raise if pyadjoint is annotating (``firedrake.adjoint.continue_annotation()``)."""
    try:
        from pyadjoint.tape import annotate_tape
    except ImportError:      # pyadjoint not installed: nothing can tape
        return
    if annotate_tape():
        raise InvalidParameterError(
            f"{what} can not be taped by firedrake.adjoint yet: the two-point coefficients, the invariant "
            "projection and the Newton control are invisible to the tape, so its gradients would be silently "
            "those of a frozen-coefficient problem. Run it with the annotation paused "
            "(firedrake.adjoint.pause_annotation(), or inside `with stop_annotating():`).")
