# Seed 004's threshold γ = −√8: can the Fisher information increase?
# ===================================================================
#
# Junné–Winter–Yoldaş (arXiv:2512.17082, Theorem 1.2) prove that for the Landau
# equation with scattering off infinitely heavy ions,
# ``∂_t f = Q_γ(f, f) + c_ei L f``, ``L f = ∇·(|v|^{2+γ} Π(v) ∇f)``, the Fisher information
# ``I = ∫ |∇f|²/f`` can *increase* at ``t = 0`` when ``−3 ≤ γ < −√8``: their datum ``f_R``
# (§3.2) has an ``L`` part of ``dI/dt`` that grows like ``R² r`` with the sign of
# ``γ² − 8``, while the ``Q`` part stays of order ``1 + R² r^{|γ|−1}``.
#
# This demo shows where the toolkit stands on that statement (docs/rates.rst):
#
# 1. the ``L`` part for their datum (with a positive profile in place of their compact
#    cut-off: :class:`forms.fisher_reference.CounterexampleDatum`), by quadrature of the
#    explicit formula of their Proposition 3.3, for ``γ ∈ {−3, −2.9, −2.85, −2.8, −2.5}``
#    and ``R`` from 1 to 10⁴, against ``(γ² − 8) R² r/3``, and for the even datum;
# 2. ``dI/dt`` of the discretised model at ``R = 10`` on graded half-plane meshes
#    (:func:`generic_fem.time_derivatives`, split into its ``Q`` and ``L`` parts), its
#    ``L`` part against the quadrature.
#
# At ``R = 10`` the ``Q`` part (about −2150) dominates, and for this profile it grows nearly
# like ``R`` (−18000 at ``R = 100``), while the ``L`` part grows like ``R^{4/3}/log R``: the
# discrete sign change needs a profile with a smaller ``Q`` constant (the open part of
# this study, docs/rates.rst).
#
# Run it with ``./gfem run python demos/fisher_counterexample.py`` (about a minute);
# the plot is ``output/fisher_counterexample/l_part.png``.
import argparse
import os
import time
import warnings

import numpy as np
import ufl

from generic_fem import velocity_half_plane, geometric_edges, time_derivatives, discard_foreign_options
from forms.landau_infinite_mass import LandauInfiniteMass
from forms.fisher_reference import CounterexampleDatum

parser = argparse.ArgumentParser(description="seed 004's counterexample: the L part of dI/dt")
parser.add_argument("--gammas", type=float, nargs="*", default=[-3.0, -2.9, -2.85, -2.8, -2.5])
parser.add_argument("--radii", type=float, nargs="*", default=[1.0, 10.0, 100.0, 1000.0, 1e4])
parser.add_argument("--cells", type=int, nargs="*", default=[16, 32, 48], help="n (n x 2n cells) of the FEM check")
parser.add_argument("--output", default="output/fisher_counterexample")
args, _ = parser.parse_known_args()
discard_foreign_options()      # (this script's flags are not PETSc options)
start = time.perf_counter()
from scipy.integrate import IntegrationWarning
warnings.simplefilter("ignore", IntegrationWarning)   # (SciPy's notes on a few shells of the quadrature)

# 1. The L part by quadrature (``ε = 10⁻⁸`` in both profiles: the paper's mechanism; a
#    larger floor at the origin dilutes the angular part of ``log f``, docs/rates.rst).
print("L part of dI/dt (c_ei = 1) by quadrature of Prop. 3.3; in brackets (gamma^2 - 8) R^2 r / 3")
print(f"{'gamma':>6} " + " ".join(f"{'R = %g' % R:>22}" for R in args.radii) + f" {'even, R = 1000':>15}")
table = {}
for g in args.gammas:
    row = []
    for R in args.radii:
        d = CounterexampleDatum(g, R)
        table[g, R] = d.l_part()
        row.append(f"{table[g, R]:10.4g} ({(g * g - 8) * R * R * d.r / 3:9.3g})")
    even = CounterexampleDatum(g, 1000.0, even=True).l_part()
    print(f"{g:6.3g} " + " ".join(f"{c:>22}" for c in row) + f" {even:15.4g}")

# 2. The discretised model at R = 10 (γ = −3): its L part converges to the quadrature,
#    its Q part to about −2150 (``eps=1e-2, eps2=0``: a gentle rise of log f inside the
#    shell, which the mesh resolves).
g, R = -3.0, 10.0
d = CounterexampleDatum(g, R, eps=1e-2, eps2=0.0)
ref = d.l_part()
print(f"\ngamma = {g:g}, R = {R:g}: the discretised model (Q2, n x 2n cells graded geometrically to v = 0)")
print(f"{'cells':>8} {'dI/dt':>12} {'Q part':>12} {'L part':>12} {'L quadrature':>13}")
ratios = {16: 1.3, 24: 1.2, 32: 1.15, 48: 1.1, 64: 1.075}
for n in args.cells:
    edges = geometric_edges(0.0, 4.0, n, ratios.get(n, 1.0 + 4.8 / n))
    mesh = velocity_half_plane(4.0, 4.0, n, 2 * n, perp_edges=edges,
                               par_edges=np.concatenate([-edges[::-1], edges[1:]]))
    model = LandauInfiniteMass(mesh, gamma=g, c_ei=1.0)
    w = model.state_from_density(d.ufl(model), what="the counterexample datum")
    grad = model.velocity.gradient
    r = time_derivatives(model, w, {"I": lambda u: model.density(u) * ufl.inner(grad(u), grad(u)) * model.dx})
    parts = r["I"]["parts"]
    print(f"{n:4d}x{2 * n:<3d} {r['I']['total']:12.5g} {parts['Q']:12.5g} {parts['L']:12.5g} {ref:13.5g}")

# The plot: the L part against R for each γ (log scale in |L|, sign by marker).
os.makedirs(args.output, exist_ok=True)
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(6, 4))
for g in args.gammas:
    vals = np.array([table[g, R] for R in args.radii])
    line, = ax.loglog(args.radii, np.abs(vals), label=f"γ = {g:g}")
    ax.scatter(args.radii, np.abs(vals), marker="o", edgecolors=line.get_color(),
               facecolors=[line.get_color() if v > 0 else "none" for v in vals])
ax.set_xlabel("R")
ax.set_ylabel("|⟨I'(f_R), L f_R⟩|  (filled: > 0, I can grow)")
ax.set_title("L part of dI/dt for seed 004's datum (quadrature)")
ax.legend(fontsize=8)
fig.tight_layout()
path = os.path.join(args.output, "l_part.png")
fig.savefig(path, dpi=120)
print(f"\nplot: {path}; wall time {time.perf_counter() - start:.0f} s")
