"""Plot a run's history: ``python -m generic_fem.plot out/history.csv -o out/history.png``.

Panels:

* the entropy ``H = −S`` on its own axis (its change over a run is often far below
  the scale of ``E``), with the energy ``E`` on a second axis when the model has one;
* the drift of every invariant of the model (the ``invariants`` that
  :func:`~generic_fem.drivers.run.run` records in ``history.json``; without it the columns
  named ``mass*``, ``momentum*``, ``energy*``): ``|I(t) − I(0)|`` relative to the
  largest ``|I(0)|`` of the invariants (so an invariant that starts at ``0``, such as a
  momentum of a centred datum, is shown by its absolute drift on the scale of the
  mass, not as a relative drift of ``~1``);
* the dissipation rate ``⟨θ, M θ⟩``;
* Newton iterations and the step covered (rejected attempts marked);
* with ``--columns a b …``: any other numeric columns (e.g. a callback's), one
  panel.

Missing cells (a column a row does not have, such as ``dissipation`` at step 0 or a
callback column) are skipped, and text columns (``rejections``) are not plotted.
"""
import argparse
import math

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .history import History  # noqa: E402

__all__ = ["plot_history", "main"]


def _finite(t, values):
    pairs = [(a, b) for a, b in zip(t, values) if isinstance(b, (int, float)) and math.isfinite(b)]
    return [a for a, _ in pairs], [b for _, b in pairs]


def plot_history(history, path, title=None, columns=()):
    """Write a PNG summary of ``history`` (a :class:`~generic_fem.core.history.History` or
    the path of its CSV) to ``path``; ``columns``: further numeric columns to plot."""
    if isinstance(history, str):
        history = History.read_csv(history)
    numeric = history.numeric_columns()
    missing = [c for c in columns if c not in numeric]
    if missing:
        raise ValueError(f"plot_history: no numeric column(s) {missing} in the history; "
                         f"numeric columns: {numeric}")
    t = history.column("t")
    rows = 3 if columns else 2
    fig, ax = plt.subplots(rows, 2, figsize=(10, 3.5 * rows))
    ax = ax.reshape(rows, 2)

    a = ax[0, 0]
    a.plot(*_finite(t, history.column("H")), "o-", ms=3, color="C0", label="H = −S")
    a.set_ylabel("H", color="C0")
    a.set_xlabel("t")
    a.set_title("entropy" + (" (left) and energy (right)" if "E" in numeric else ""))
    if "E" in numeric:
        b = a.twinx()
        tE, finite = _finite(t, history.column("E"))
        b.plot(tE, finite, "s-", ms=3, color="C1", label="E")
        b.set_ylabel("E", color="C1")
        b.ticklabel_format(useOffset=False)
        if finite:
            e0 = finite[0]
            drift = max(abs(x - e0) for x in finite) / max(abs(e0), 1e-300)
            if drift <= 1e-9:   # conserved: a flat line with readable ticks, not round-off digits
                pad = 1e-6 * max(abs(e0), 1e-300)
                b.set_ylim(e0 - pad, e0 + pad)
                b.set_ylabel(f"E (constant to {drift:.0e} relative)", color="C1")

    a = ax[0, 1]
    inv = history.invariant_columns()
    scale = max([abs(history.column(c)[0]) for c in inv] + [0.0]) or 1.0
    for c in inv:
        vals = history.column(c)
        tt, v = _finite(t, vals)
        a.semilogy(tt, [max(abs(x - vals[0]) / scale, 1e-17) for x in v], label=c)
    a.set_title("drift of the invariants, |I(t) − I(0)| / max |I(0)|")
    a.set_xlabel("t")
    if inv:
        a.legend(fontsize=7)

    a = ax[1, 0]
    tt, d = _finite(t, history.column("dissipation"))
    if d:
        a.semilogy(tt, [max(x, 1e-300) for x in d], "o-", ms=3)
    a.set_title("dissipation ⟨θ, M θ⟩")
    a.set_xlabel("t")

    a = ax[1, 1]
    a.plot(*_finite(t[1:], history.column("snes_its")[1:]), "o-", ms=3, label="Newton its")
    b = a.twinx()
    b.semilogy(*_finite(t[1:], history.column("dt")[1:]), "r.-", ms=3, label="dt")
    if "rejected" in numeric:
        tr = [x for x, r in zip(t[1:], history.column("rejected")[1:]) if isinstance(r, float) and r > 0]
        if tr:
            a.plot(tr, [0] * len(tr), "kx", label="rejected attempts")
            a.legend(fontsize=7)
    a.set_title("Newton iterations (left), step (right, red)")
    a.set_xlabel("t")

    if columns:
        a = ax[2, 0]
        for c in columns:
            a.plot(*_finite(t, history.column(c)), "o-", ms=3, label=c)
        a.set_xlabel("t")
        a.legend(fontsize=7)
        a.set_title("other columns")
        ax[2, 1].axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def point_sampler(mesh, points):
    """``sample(f)``: values of the UFL expression ``f`` at ``points`` (``(n, dim)``),
    through a vertex-only mesh; collective, works on any number of ranks, and rank 0
    receives all values in the order of ``points`` (for plots)."""
    import firedrake as fd
    vom = fd.VertexOnlyMesh(mesh, points, redundant=True)
    P0 = fd.FunctionSpace(vom, "DG", 0)
    P0_in = fd.FunctionSpace(vom.input_ordering, "DG", 0)

    def sample(f):
        at_points = fd.assemble(fd.interpolate(f, P0))
        return fd.assemble(fd.interpolate(at_points, P0_in)).dat.data_ro.copy()
    return sample


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv", help="history.csv written by generic_fem.run")
    p.add_argument("-o", "--output", default=None, help="PNG file (default: next to the CSV)")
    p.add_argument("--title", default=None)
    p.add_argument("--columns", nargs="*", default=[], help="further numeric columns to plot")
    a = p.parse_args(argv)
    if argv is None:    # (the package's import started PETSc with this command line)
        from .petsc_options import discard_foreign_options
        discard_foreign_options()
    out = a.output or a.csv.rsplit(".", 1)[0] + ".png"
    plot_history(a.csv, out, a.title, a.columns)
    print(out)


if __name__ == "__main__":
    main()
