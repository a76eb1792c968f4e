"""Forms assembled again and again, compiled and set up once.

``firedrake.assemble(form)`` preprocesses the UFL form on every call (derivative
expansion, form data, a new parallel loop): about 1.3 ms for the entropy of a
12×12 ``Q2`` box, against 0.14 ms for running its kernel (AMD EPYC).  The steppers,
:func:`~generic_fem.drivers.run.run` and the adjoint evaluate the same forms at every step and
iteration, so they keep an assembler per form
(:func:`firedrake.assemble.get_assembler`) and only rerun it.  These assemblies are
never taped by pyadjoint (Firedrake refuses to tape explicit assemblers; the values
are the toolkit's own diagnostics or pieces of its hand-written adjoint).
"""
import ufl
import firedrake as fd
from firedrake.assemble import get_assembler

__all__ = ["Assembler", "CompiledForms", "no_annotation", "compiled_interpolation"]


def compiled_interpolation(expr, target):
    """A callable that re-evaluates ``target.interpolate(expr)`` (into ``target``, a
    Function).

    Firedrake's interpolation callable is built once and reused (``assemble`` of the
    interpolation would rebuild its parallel loop on every call, several ms each).
    That callable is Firedrake's ``Interpolator._get_callable`` (not public API: the
    one use of a Firedrake private name in the package); with another Firedrake
    version the public, slower ``assemble`` path serves."""
    interp = fd.interpolate(expr, target.function_space())
    try:
        from firedrake.interpolation import get_interpolator
        return get_interpolator(interp)._get_callable(tensor=target)
    except Exception:  # another Firedrake version: the public (slower) path
        return lambda: fd.assemble(interp, tensor=target)


class no_annotation:
    """Context manager: pyadjoint's ``stop_annotating`` (nothing when pyadjoint is absent)."""

    def __enter__(self):
        try:
            from pyadjoint.tape import stop_annotating
        except ImportError:
            self._cm = None
            return self
        self._cm = stop_annotating()
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        if self._cm is not None:
            return self._cm.__exit__(*exc)
        return False


class Assembler:
    """Assemble a 1- or 2-form repeatedly into one tensor; ``kwargs`` go to
    :func:`~firedrake.assemble.get_assembler` (e.g. ``mat_type``).  Calling it returns
    the tensor."""

    def __init__(self, form, **kwargs):
        self.assembler = get_assembler(form, **kwargs)
        self.tensor = None

    def __call__(self):
        with no_annotation():
            self.tensor = self.assembler.assemble(tensor=self.tensor)
        return self.tensor


class CompiledForms:
    """The values of fixed 0-forms, from assemblers built once.

    :arg forms: a dict ``{name: form}`` (UFL 0-forms; ``None`` entries are skipped).

    Calling the object returns ``{name: float}`` for the current values of the forms'
    coefficients (collective: every rank gets the global values); ``value(name)`` one
    of them."""

    def __init__(self, forms):
        self._assemblers = {k: (_Zero() if isinstance(form, ufl.Form) and form.empty() else get_assembler(form))
                            for k, form in forms.items() if form is not None}

    def value(self, name):
        with no_annotation():
            return float(self._assemblers[name].assemble())

    def __call__(self):
        with no_annotation():
            return {k: float(a.assemble()) for k, a in self._assemblers.items()}

    def __contains__(self, name):
        return name in self._assemblers


class _Zero:
    """The assembler of a form without integrals (e.g. a derivative that vanishes)."""

    def assemble(self):
        return 0.0
