"""Keep PETSc's options database to the options meant for PETSc.

petsc4py is initialised (by Firedrake) with the whole command line, so a script's
own flags (``--cells 12`` of a demo's argparse, pytest's ``-q -x -k expr``) land in
PETSc's options database, are never used, and PETSc lists them at exit under
"WARNING! There are options you set that were not used!".  :func:`discard_foreign_options`
removes from the database every option that came from the command line in a form
PETSc does not use: a double-dash flag (``--name``) or a short flag of one to three
letters without an underscore (``-q``, ``-vv``, ``-rA``).
PETSc-style options (``-gfem_snes_monitor``, ``-log_view``, ``-ksp_view``, ...) are
kept, so a mistyped PETSc option is still reported.  A :class:`~generic_fem.solvers.steppers.Stepper`
calls it when it is built (importing the package leaves the database alone); a script
that builds none can call ``generic_fem.discard_foreign_options()`` itself.
"""
import sys

__all__ = ["discard_foreign_options", "foreign_option_names", "inserted_options"]


def inserted_options(parameters, prefix):
    """Context manager: ``parameters`` (a dict, nested dicts flattened) in PETSc's options
    database under ``prefix`` for its duration, removed after; options already there
    (given on the command line) take precedence, as in Firedrake's solvers
    (``petsctools.OptionsManager``, whose ``inserted_options`` this is)."""
    from petsctools import OptionsManager
    return OptionsManager(dict(parameters), prefix).inserted_options()


def foreign_option_names(argv):
    """The flags in ``argv`` that are not PETSc-style options (as given, with their
    dashes; ``--name=value`` both with and without its value)."""
    names = []
    for tok in argv:
        if not tok.startswith("-") or tok in ("-", "--") or _is_number(tok):
            continue
        flag = tok.split("=", 1)[0]
        name = flag.lstrip("-")
        # one to three letters without "_" (pytest's -q, -vv, -rA): not a PETSc option
        if flag.startswith("--") or (len(name) <= 3 and "_" not in name):
            names.append(flag)
            if flag != tok:
                names.append(tok)   # PETSc keeps "--name=value" as one name
    return names


def discard_foreign_options(argv=None):
    """Delete the non-PETSc command-line options of ``argv`` (default ``sys.argv``)
    from PETSc's options database.  Returns the names removed."""
    from petsc4py import PETSc
    argv = sys.argv[1:] if argv is None else list(argv)
    opts = PETSc.Options()
    removed = []
    for flag in foreign_option_names(argv):
        for name in (flag, "-" + flag.lstrip("-")):
            if opts.hasName(name):
                opts.delValue(name)
                removed.append(name)
    return removed


def _is_number(tok):
    try:
        float(tok)
        return True
    except ValueError:
        return False
