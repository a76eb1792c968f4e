r"""Why a step's solve failed, in words: the line of the history and the text of
:class:`~generic_fem.core.errors.StepFailedError`.

A failed attempt is reported with its size, how the iteration ended (a PETSc error, the
stall test, SNES's reason or the scheme's own condition on ``α``), the last residual and
density change, and the rows that had not settled (their ``v``, ``f``, ``w`` and the
correction of ``w`` their residual asks for).  Where those rows are all in the tails, the
text says what usually helps: a finer mesh where ``w`` falls fast.
"""
import re

from petsc4py import PETSc

__all__ = ["TAIL_FRACTION", "petsc_error_summary", "reason_name", "rejection_line", "failure_text"]

#: a failure whose unsettled rows all lie below this fraction of the peak density is
#: reported as one of unresolved tails
TAIL_FRACTION = 1e-6


def petsc_error_summary(exc):
    """``"PETSc error <code> in <function>()"`` from a ``petsc4py.PETSc.Error`` (its text is
    the error code and PETSc's traceback, innermost call last)."""
    text = str(exc)
    code = getattr(exc, "ierr", None)
    if code is None:
        m = re.search(r"error code (\d+)", text)
        code = m.group(1) if m else "?"
    calls = re.findall(r"\] (\w+)\(\)", text)
    where = f" in {calls[-1]}()" if calls else ""
    hint = " (the linear solve of the Newton step: e.g. a failed factorisation)" \
        if calls and calls[-1].startswith(("PC", "KSP", "Mat")) else ""
    return f"PETSc error {code}{where}{hint}"


def reason_name(reason):
    """The name of a SNES converged reason."""
    names = {v: k for k, v in vars(PETSc.SNES.ConvergedReason).items() if isinstance(v, int)}
    return names.get(reason, "unknown")


def rejection_line(dt, reason, its, error, method, convergence):
    """One short line for the history: the size of the rejected attempt and why
    (``error``: the PETSc error of the solve, or ``None``; ``method``: the
    :class:`~generic_fem.solvers.schemes.Scheme`)."""
    if isinstance(error, PETSc.Error):
        why = "PETSc error " + str(error).splitlines()[-1].strip()[:60]
    elif reason > 0:   # the solve converged; the scheme's own condition failed
        why = "alpha iteration" if method.bounds_alpha else "chain rule" if method.solves_alpha else "not finite"
    elif convergence.stalled:
        why = f"STALLED (no halving in {convergence.stall_window} its)"
    else:
        why = reason_name(reason)
    return f"dt={dt:.3g} {why} its={its} res={convergence.last_fnorm:.1e}"


def failure_text(dt, reason, its, error, convergence, control, residual, w):
    """Why the last solve failed and where (collective): ``residual`` is the failed
    solve's residual (``None`` after a PETSc error or a converged solve the scheme
    rejected), ``w`` the last iterate's nodal values."""
    if isinstance(error, PETSc.Error):
        what = petsc_error_summary(error)
    elif convergence.stalled:
        what = f"the residual did not halve over {convergence.stall_window} iterations (stall_window) after {its}"
    else:
        what = f"SNES reason {reason} ({reason_name(reason)}) after {its} iterations"
    text = f"dt = {dt:.3e}, {what}, residual {convergence.last_fnorm:.2e}"
    if convergence.last_change is not None:
        text += (f", last density change {convergence.last_change:.2e} of the peak "
                 f"(update_tol {convergence.update_tol:g})")
    nodes = control.report_residual(residual, w) if residual is not None else ""
    if nodes:
        text += f"; the rows that had not settled: {nodes}"
        frac = control.reported_fraction
        if frac is not None and frac < TAIL_FRACTION:
            text += (f". They are all in the tails (f below {TAIL_FRACTION:g} of the peak): where the "
                     "velocity mesh does not resolve how fast w falls there (more than a few units "
                     "of w per node spacing), the discrete tails are not monotone and can collapse "
                     "by tens of units of w in one step, which no iteration settles: refine the mesh "
                     "(more cells per thermal speed of the coldest part of the datum) before "
                     "shrinking dt (docs/theory.rst, \"Robustness\")")
    return text
