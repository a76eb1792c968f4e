"""Scalar forms assembled again and again, compiled and set up once.

``firedrake.assemble(form)`` preprocesses the UFL form on every call (derivative
expansion, form data, a new parallel loop): about 1.3 ms for the entropy of a
12×12 ``Q2`` box, against 0.14 ms for running its kernel (AMD EPYC).  The steppers
and :func:`~generic_fem.run.run` evaluate the same few scalars (``H``, the
dissipation, invariants, scales) at every step and iteration, so they keep an
assembler per form (:func:`firedrake.assemble.get_assembler`) and only rerun it.
"""
import ufl
from firedrake.assemble import get_assembler

__all__ = ["CompiledForms"]


class CompiledForms:
    """The values of fixed 0-forms, from assemblers built once.

    :arg forms: a dict ``{name: form}`` (UFL 0-forms; ``None`` entries are skipped).

    Calling the object returns ``{name: float}`` for the current values of the forms'
    coefficients (collective: every rank gets the global values); ``value(name)`` one
    of them.  Nothing is taped by pyadjoint (the values are plain floats)."""

    def __init__(self, forms):
        self._assemblers = {k: (_Zero() if isinstance(form, ufl.Form) and form.empty() else get_assembler(form))
                            for k, form in forms.items() if form is not None}

    def value(self, name):
        return float(self._assemblers[name].assemble())

    def __call__(self):
        return {k: float(a.assemble()) for k, a in self._assemblers.items()}

    def __contains__(self, name):
        return name in self._assemblers


class _Zero:
    """The assembler of a form without integrals (e.g. a derivative that vanishes)."""

    def assemble(self):
        return 0.0
