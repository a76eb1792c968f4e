"""The time loop a user calls: stepping, diagnostics, history, VTK, checkpoints.

``run(model, f0, t_end, dt, ...)`` returns a :class:`~generic_fem.core.history.History`
with one row per accepted step: time, step size, ``E``, ``S``, ``H = −S``, every
invariant, the dissipation ``⟨θ, M θ⟩``, the entropy change, SNES/KSP iterations,
rejections (and, for the minimizing movement, both sides of the energy-dissipation
inequality).
"""
import os

import firedrake as fd

from ..core.errors import InvalidParameterError
from ..core.assembly import CompiledForms
from ..core.history import History
from ..core.output import VTKOutput, VTK_FIELDS
from ..solvers.steppers import Stepper

__all__ = ["run", "state_diagnostics", "StateDiagnostics", "save_checkpoint", "load_checkpoint",
           "restore_state", "Restart"]


class StateDiagnostics:
    """:func:`state_diagnostics` of a fixed density expression ``f`` (of Functions that
    change in place, e.g. ``stepper.density()``), its forms compiled once
    (:class:`~generic_fem.core.assembly.CompiledForms`): ``diagnostics(w, t)`` is a dict."""

    def __init__(self, model, f):
        self.model = model
        invariants = model.invariants(f)
        self._forms = CompiledForms({"E": model.E(f), "S": model.S(f), **invariants})
        self._invariants = list(invariants)

    def __call__(self, w=None, t=None):
        v = self._forms()
        out = {}
        if "E" in v:
            out["E"] = v["E"]
        out["S"] = v["S"]
        out["H"] = -v["S"]
        for k in self._invariants:
            out[k] = v[k]
        if w is not None:
            out.update(self.model.diagnostics(w, t))
        return out


def state_diagnostics(model, f, w=None, t=None):
    """``{E, S, H, invariants...}`` of the density expression ``f`` and, given the
    entropy variable ``w`` (``f = F(w)``) and the time ``t``, the model's own columns
    (:meth:`~generic_fem.models.model.GenericModel.diagnostics`, e.g. Fisher informations).
    Collective.  (Evaluated at every step? Build a :class:`StateDiagnostics` once.)"""
    return StateDiagnostics(model, f)(w, t)


class Restart(tuple):
    """What :func:`restore_state` / :func:`load_checkpoint` return: the tuple as before
    (it unpacks the same way), with ``previous``, the predictor's past states
    ``[(t, w)]`` (oldest first; empty for checkpoints without them), to pass on as
    ``run(..., previous=restart.previous)`` so that the resumed run takes the same
    first steps as the uninterrupted one."""

    def __new__(cls, items, previous):
        out = tuple.__new__(cls, items)
        out.previous = list(previous)
        return out


def _raw_dataset(cf, name, f):
    """Store the owned dofs of ``f`` in PETSc's global ordering as ``generic_fem/<name>``."""
    with f.dat.vec_ro as vec:
        r0, r1 = vec.getOwnershipRange()
        ds = cf.h5pyfile.create_dataset(f"generic_fem/{name}", (vec.getSize(),), dtype="f8")
        ds[r0:r1] = vec.array_r
        del ds   # an open h5py handle would make PETSc's H5Fclose fail


def save_checkpoint(path, model, w, t, step, previous=()):
    """Write mesh, entropy variable, time and step to a Firedrake ``CheckpointFile``.

    Besides Firedrake's portable records (mesh and function, reloadable on any number
    of ranks with :func:`load_checkpoint`), the raw dof vector of ``w`` is stored in
    PETSc's global ordering, for :func:`restore_state`: resuming on a model rebuilt
    the same way on the same number of ranks is then bit-for-bit.

    :arg previous: the predictor's past states ``[(t, w)]``
        (:meth:`~generic_fem.solvers.steppers.Stepper.predictor_states`), stored beside ``w``."""
    d = os.path.dirname(path)
    if d and model.mesh.comm.rank == 0:
        os.makedirs(d, exist_ok=True)
    model.mesh.comm.barrier()
    with fd.CheckpointFile(path, "w", comm=model.mesh.comm) as cf:
        cf.save_mesh(model.mesh)
        cf.save_function(w, name="w")
        cf.h5pyfile.require_group("generic_fem")
        cf.set_attr("/generic_fem", "t", float(t))
        cf.set_attr("/generic_fem", "step", int(step))
        cf.set_attr("/generic_fem", "mesh_name", model.mesh.name)
        cf.set_attr("/generic_fem", "velocity", model.velocity.kind)
        _raw_dataset(cf, "w_global", w)
        for k, (_, wk) in enumerate(previous):
            cf.save_function(wk, name=f"w_past_{k}")
            _raw_dataset(cf, f"w_past_{k}_global", wk)
        cf.set_attr("/generic_fem", "past_times", [float(tk) for tk, _ in previous] or [float("nan")])
        cf.set_attr("/generic_fem", "ranks", model.mesh.comm.size)


def _past_times(cf):
    """The times of the stored past states (none in older checkpoints)."""
    try:
        times = cf.get_attr("/generic_fem", "past_times")
    except (KeyError, AttributeError):
        return []
    return [float(x) for x in times if x == x]


def load_checkpoint(path, comm=None):
    """Read ``(mesh, w, t, step)`` written by :func:`save_checkpoint` (a :class:`Restart`:
    its ``previous`` holds the predictor's past states).

    Build the model on the returned mesh, then
    ``run(model, w0=w, t0=t, step0=step, previous=restart.previous, ...)``."""
    kw = {} if comm is None else {"comm": comm}
    with fd.CheckpointFile(path, "r", **kw) as cf:
        mesh = cf.load_mesh(cf.get_attr("/generic_fem", "mesh_name"))
        try:
            kind = cf.get_attr("/generic_fem", "velocity")
        except (KeyError, AttributeError):     # (older checkpoints: Cartesian)
            kind = "cartesian"
        if kind == "axisymmetric":    # the mesh is in (s, v_∥): say so again
            from ..core.velocity import AxisymmetricVelocity, set_velocity_coordinates
            set_velocity_coordinates(mesh, AxisymmetricVelocity())
        w = cf.load_function(mesh, "w")
        t = cf.get_attr("/generic_fem", "t")
        step = cf.get_attr("/generic_fem", "step")
        previous = [(tk, cf.load_function(mesh, f"w_past_{k}")) for k, tk in enumerate(_past_times(cf))]
    return Restart((mesh, w, float(t), int(step)), previous)


def restore_state(path, model):
    """``(w, t, step)`` from a checkpoint, on ``model.V`` *without* reloading the mesh.

    For a model built exactly as the one that wrote the checkpoint (same mesh
    construction, degree, number of MPI ranks): the dof vector is restored in PETSc's
    global ordering, so in serial the resumed run is bit-for-bit the uninterrupted one
    (in parallel, to round-off: parallel MUMPS is not bitwise reproducible) when it is
    given the predictor's past states too:
    ``run(model, w0=w, t0=t, step0=step, previous=restart.previous)``.  Returns a
    :class:`Restart`.  Raises :class:`~generic_fem.core.errors.InvalidParameterError` when
    sizes or rank counts differ (use :func:`load_checkpoint` then)."""
    from ..core.errors import InvalidParameterError
    comm = model.mesh.comm

    def raw(cf, name):
        f = fd.Function(model.V, name=name)
        ds = cf.h5pyfile[f"generic_fem/{name}_global"]
        with f.dat.vec_ro as vec:
            if ranks != comm.size or ds.shape[0] != vec.getSize():
                n = ds.shape[0]
                del ds
                raise InvalidParameterError(
                    f"restore_state: checkpoint {path} has {n} dofs on {ranks} ranks, "
                    f"the model {vec.getSize()} dofs on {comm.size} ranks; rebuild the model as "
                    "it was, or use load_checkpoint (reloads the mesh, any rank count)")
            r0, r1 = vec.getOwnershipRange()
        f.dat.data[:] = ds[r0:r1]   # owned dofs, PETSc order; marks the halos stale
        del ds   # an open h5py handle would make PETSc's H5Fclose fail
        return f

    with fd.CheckpointFile(path, "r", comm=comm) as cf:
        ranks = cf.get_attr("/generic_fem", "ranks")
        w = raw(cf, "w")
        t = cf.get_attr("/generic_fem", "t")
        step = cf.get_attr("/generic_fem", "step")
        previous = [(tk, raw(cf, f"w_past_{k}")) for k, tk in enumerate(_past_times(cf))]
    return Restart((w, float(t), int(step)), previous)


def _check_run_arguments(t0, t_end, dt, stepper_options):
    """Clear errors for the arguments of :func:`run` a user gets wrong most often."""
    import inspect
    import math
    from ..core.errors import InvalidParameterError
    for name, value in (("t0", t0), ("t_end", t_end), ("dt", dt)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"run: {name} must be a number, got {value!r}") from None
        if not math.isfinite(value):
            raise InvalidParameterError(f"run: {name} must be finite, got {value}")
    if float(t_end) < float(t0):
        raise InvalidParameterError(f"run: t_end = {t_end} is before the initial time t0 = {t0}")
    if not float(dt) > 0:
        raise InvalidParameterError(f"run: the time step dt must be positive, got {dt}")
    from ..solvers.stepper_options import KNOBS
    known = (set(inspect.signature(Stepper.__init__).parameters) - {"self", "model", "knobs"}) | set(KNOBS)
    unknown = sorted(set(stepper_options) - known)
    if unknown:
        import difflib
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, sorted(known | set(inspect.signature(run).parameters)), n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise TypeError(f"run() got unexpected keyword argument(s) {', '.join(hints)}; the options of "
                        "run and generic_fem.Stepper are listed in their docstrings")


def run(model, f0=None, t_end=1.0, dt=0.1, *, output=None, vtk_every=0, vtk_fields=("f",),
        checkpoint_every=0, keep_trajectory=False, progress=False, w0=None, t0=0.0, step0=0,
        callback=None, **stepper_options):
    """Integrate ``model`` from ``t0`` to ``t_end`` with a
    :class:`~generic_fem.solvers.steppers.Stepper` of step ``dt``.

    :arg f0: initial density (UFL); or ``w0``: initial entropy variable (restart).
    :arg output: directory; when given, ``history.csv``/``history.json`` are written
        there (rewritten every step, so a stopped run keeps its history), VTK files
        every ``vtk_every`` steps and a checkpoint every ``checkpoint_every`` steps
        (``checkpoint.h5``, always also at the end).
    :arg vtk_every: write VTK files every this many steps (and the initial state); ``0``
        (the default): none.
    :arg vtk_fields: what the VTK files hold (:class:`~generic_fem.core.output.VTKOutput`):
        ``"f"``, the densities (``f.pvd``; one file ``f_k.pvd`` per species, each in its
        physical velocity), and ``"w"``, the entropy variable.
    :arg keep_trajectory: store ``(t, w)`` of every step in ``history.trajectory``
        (for :func:`~generic_fem.drivers.functional.energy_dissipation_functional`).  A kept
        trajectory is a discrete curve to check: ``J_T``'s completed square is the
        residual of the scheme's equation, so its steps are solved to the tight tests
        (``local_error_fraction=0`` unless given; docs/theory.rst, "Convergence
        criterion").
    :arg progress: show Firedrake's ``ProgressBar``.
    :arg callback: ``callback(stepper, record)`` after each step, before the record
        is stored and written: entries it adds to ``record`` become history columns.

    Every other keyword (``scheme``, ``solver_parameters``, ``options_prefix``,
    ``forcing``, ``max_rejections``, ``nonlocal_jacobian``, ``local_error_fraction``,
    ``previous`` (a restart's past states), ...) is an option of
    :class:`~generic_fem.solvers.steppers.Stepper`, passed to it as given (its defaults apply).
    """
    _check_run_arguments(t0, t_end, dt, stepper_options)
    if keep_trajectory:
        stepper_options.setdefault("local_error_fraction", 0.0)
    if isinstance(vtk_fields, str) or not vtk_fields or any(v not in VTK_FIELDS for v in vtk_fields):
        raise InvalidParameterError(f"run: vtk_fields must be a sequence of {VTK_FIELDS}, got {vtk_fields!r}")
    stepper = Stepper(model, f0=f0, dt=dt, t0=t0, w0=w0, **stepper_options)
    stepper.step_count = step0
    scheme = stepper.scheme
    comm = model.mesh.comm
    history = History({"model": model.describe(), "scheme": scheme, "dt": dt,
                       "t0": t0, "t_end": t_end, "ranks": comm.size,
                       "invariants": list(model.invariant_densities())})
    if stepper.method.solves_alpha:
        # c of the discrete gradient's node-wise chain rule (J_T^h measures with it; 0: scalar α)
        history.metadata["dg_motion_scale"] = (stepper.problem.motion.scale
                                               if stepper.problem.motion is not None else 0.0)
    diagnostics = StateDiagnostics(model, stepper.density())
    rec = {"step": step0, "t": stepper.t, "dt": 0.0}
    rec.update(diagnostics(stepper.w, stepper.t))
    history.append(rec)
    if keep_trajectory:
        history.trajectory.append((stepper.t, stepper.w.copy(deepcopy=True)))
    vtk = None
    if output and vtk_every:
        vtk = VTKOutput(model, output, vtk_fields)
        vtk.write(stepper.w, stepper.t)
    n_est = max(1, int(round((t_end - t0) / dt)))
    bar = None
    if progress:
        bar = fd.ProgressBar(f"{model.name} {scheme}", max=n_est, comm=comm)
        if not hasattr(bar, "next"):   # ranks > 0 get a null bar
            bar = None
    eps = 1e-12 * max(1.0, abs(t_end))
    while stepper.t < t_end - eps:
        remaining = t_end - stepper.t
        # clip the step only when the remaining interval is really shorter than it
        # (not by round-off: an uninterrupted run and a resumed one take the same steps)
        stats = stepper.advance(dt_max=None if remaining >= stepper.dt_target * (1 - 1e-9)
                                else remaining)
        rec = {"step": stats["step"], "t": stats["t"], "dt": stats["dt"]}
        rec.update(diagnostics(stepper.w, stepper.t))
        rec["dissipation"] = stats["dissipation"]
        rec["dH"] = stats["H_new"] - stats["H_old"]
        for k in ("edi_lhs", "edi_rhs"):
            if k in stats:
                rec[k] = stats[k]
        if stepper.method.uses_alpha:
            rec["alpha"] = stats["alpha"]
        for k in ("chain_rule_defect", "inequality_substeps", "damped_substeps"):
            if k in stats:
                rec[k] = stats[k]
        rec.update(snes_its=stats["snes_its"], ksp_its=stats["ksp_its"], rejected=stats["rejected"],
                   substeps=stats["substeps"], rejections=stats["rejections"])
        if callback is not None:   # may add its own columns to the record
            callback(stepper, rec)
        history.append(rec)
        if keep_trajectory:
            history.trajectory.append((stepper.t, stepper.w.copy(deepcopy=True)))
        if vtk is not None and stats["step"] % vtk_every == 0:
            vtk.write(stepper.w, stepper.t)
        if output:
            history.write(os.path.join(output, "history"), comm)
            if checkpoint_every and stats["step"] % checkpoint_every == 0:
                save_checkpoint(os.path.join(output, "checkpoint.h5"), model, stepper.w,
                                stepper.t, stats["step"], stepper.predictor_states())
        if bar is not None:
            bar.next()
    if bar is not None:
        bar.finish()
    if output:
        history.write(os.path.join(output, "history"), comm)
        save_checkpoint(os.path.join(output, "checkpoint.h5"), model, stepper.w,
                        stepper.t, stepper.step_count, stepper.predictor_states())
    history.stepper = stepper
    return history
