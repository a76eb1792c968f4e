"""Plot a run's history: ``python -m generic_fem.plot out/history.csv -o out/history.png``.

Panels: entropy ``H = −S`` (and energy if present), relative drift of every
invariant, dissipation rate, step size and iterations.
"""
import argparse
import math

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .history import History  # noqa: E402

__all__ = ["plot_history", "main"]

_NOT_INVARIANT = {"step", "t", "dt", "E", "S", "H", "dissipation", "dH", "snes_its", "ksp_its",
                  "rejected", "substeps", "alpha", "edi_lhs", "edi_rhs"}


def plot_history(history, path, title=None):
    """Write a PNG summary of ``history`` (a History or a CSV path) to ``path``."""
    if isinstance(history, str):
        history = History.read_csv(history)
    t = history.column("t")
    fig, ax = plt.subplots(2, 2, figsize=(10, 7))
    ax[0, 0].plot(t, history.column("H"), "o-", ms=3, label="H = −S")
    if "E" in history.columns:
        ax[0, 0].plot(t, history.column("E"), "s-", ms=3, label="E")
    ax[0, 0].set_xlabel("t")
    ax[0, 0].legend()
    ax[0, 0].set_title("entropy / energy")
    for c in history.columns:
        if c in _NOT_INVARIANT:
            continue
        vals = history.column(c)
        ref = vals[0]
        scale = abs(ref) if ref else 1.0
        drift = [max(abs(x - ref) / scale, 1e-17) for x in vals]
        ax[0, 1].semilogy(t, drift, label=c)
    ax[0, 1].set_title("relative drift of invariants")
    ax[0, 1].set_xlabel("t")
    ax[0, 1].legend(fontsize=7)
    diss = [d for d in history.column("dissipation")]
    if any(not math.isnan(d) for d in diss[1:]):
        ax[1, 0].semilogy(t[1:], [max(d, 1e-300) for d in diss[1:]], "o-", ms=3)
    ax[1, 0].set_title("dissipation ⟨θ, M θ⟩")
    ax[1, 0].set_xlabel("t")
    ax[1, 1].plot(t[1:], history.column("snes_its")[1:], "o-", ms=3, label="SNES its")
    ax2 = ax[1, 1].twinx()
    ax2.semilogy(t[1:], history.column("dt")[1:], "r.-", ms=3, label="dt")
    ax[1, 1].set_title("Newton iterations (left), dt (right, red)")
    ax[1, 1].set_xlabel("t")
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
    a = p.parse_args(argv)
    out = a.output or a.csv.rsplit(".", 1)[0] + ".png"
    plot_history(a.csv, out, a.title)
    print(out)


if __name__ == "__main__":
    main()
