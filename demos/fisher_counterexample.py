# Seed 004 on screen: the Fisher information can increase (Theorem 1.2)
# ======================================================================
#
# Junné–Winter–Yoldaş (arXiv:2512.17082, Theorem 1.2) prove that for the Landau
# equation with scattering off infinitely heavy ions,
# ``∂_t f = Q_γ(f, f) + c_ei L f``, ``L f = ∇·(|v|^{2+γ} Π(v) ∇f)``, the Fisher information
# ``I = ∫ |∇f|²/f`` can *increase* at ``t = 0`` when ``−3 ≤ γ < −√8``: their datum ``f_R``
# (§3.2), a bump of size ``r = R^{2/γ}/log(2 + R)`` at the origin with the angular profile
# ``exp(R|v|^{|γ|/2} cos θ)``, has an ``L`` part of ``dI/dt`` that grows like ``R² r`` with the
# sign of ``γ² − 8``, while the ``Q`` part grows more slowly.  Even data cannot do it.
#
# This demo computes it (docs "Seed 004 on screen"):
#
# 1. ``dI/dt`` at the datum (:class:`forms.fisher_reference.CounterexampleDatum`) along the
#    discretised model's own semi-discrete dynamics (:func:`generic_fem.time_derivatives`),
#    split into its ``Q`` and ``L`` parts, on half-discs graded geometrically towards
#    ``v = 0`` with cells exact on the spheres (:func:`generic_fem.graded_half_disc`),
#    refined until the sign is certain (:func:`forms.fisher_reference.fisher_rate_study`),
#    with the ``L`` part also by quadrature of their Proposition 3.3;
# 2. the even datum (``f(v) = f(−v)``): ``dI/dt < 0``;
# 3. a short run from a datum with ``dI/dt > 0``: ``I(t)`` rises first, ``H`` falls, mass and
#    energy are exact, and the functional ``Λ = I + aJ + R_Λ H(f|M_{T°})`` of their
#    Theorem 1.3 along it.
#
# Run it with ``./gfem run python demos/fisher_counterexample.py`` (about 14 minutes,
# one core; ``--quick``: about two minutes); the figures are in
# ``output/fisher_counterexample/``.
import argparse
import os
import time
import warnings

import numpy as np

from generic_fem import graded_half_disc, time_derivatives, run, discard_foreign_options
from forms.landau_infinite_mass import LandauInfiniteMass
from forms.fisher_reference import CounterexampleDatum, fisher_rate_study, fisher_information

parser = argparse.ArgumentParser(description="seed 004's counterexample: dI/dt > 0 for gamma < -sqrt(8)")
parser.add_argument("--gammas", type=float, nargs="*", default=[-3.0, -2.9, -2.85, -2.8, -2.5])
parser.add_argument("--radii", type=float, nargs="*", default=[1.0, 10.0, 1e2, 1e3, 1e4, 1e6, 1e8, 1e10, 1e12])
parser.add_argument("--even-radii", type=float, nargs="*", default=[10.0, 1e10],
                    help="R of the even datum (every gamma)")
parser.add_argument("--levels", type=int, default=4, help="at most this many meshes per entry (at least 2)")
parser.add_argument("--run-steps", type=int, default=12, help="steps of the short run (0: none)")
parser.add_argument("--quick", action="store_true", help="gamma -3 and -2.8, three R, two meshes")
parser.add_argument("--output", default="output/fisher_counterexample")
args, _ = parser.parse_known_args()
discard_foreign_options()      # (this script's flags are not PETSc options)
if args.quick:
    args.gammas, args.radii, args.even_radii, args.levels = [-3.0, -2.8], [10.0, 1e4, 1e10], [1e10], 2
start = time.perf_counter()
from scipy.integrate import IntegrationWarning
warnings.simplefilter("ignore", IntegrationWarning)   # (SciPy's notes on a few shells of the quadrature)
levels = ((16, 4), (24, 6), (32, 8), (64, 16))[:max(args.levels, 2)]

# 1. The table
# ------------
# For each ``(γ, R)``: the datum with unit mass and energy ``∫ ½|v|² f = 3/2``; its rate
# ``dI/dt = Q + c_ei L`` at ``c_ei = 1`` (the paper's (3.11)) on graded meshes of
# ``|v| ≤ max(4, 3τ)`` whose innermost circle is ``r/1024``, refined until the change between
# the last two meshes (the error bar) is below ``|dI/dt|``; and the ``L`` part by
# quadrature.  The sign at any other ``c_ei`` follows from the parts:
# ``dI/dt > 0`` iff ``c_ei > −Q/L``.
print("dI/dt at seed 004's datum (c_ei = 1): FEM on graded half-discs, error bar = change on the last refinement")
print(f"{'gamma':>6} {'R':>7} {'r':>9} {'dI/dt':>23} {'Q part':>23} {'L part':>23} {'L quadrature':>13} {'cells':>6}")
table = {}


def row(g, R, even=False):
    d = CounterexampleDatum(g, R, even=even)
    s = fisher_rate_study(d, levels=levels)
    ref = d.l_part()
    e = s.error
    print(f"{g:6.3g} {R:7.0e} {d.r:9.2e} {s.total:11.4g} ± {e['total']:9.2g} {s.Q:11.4g} ± {e['Q']:9.2g} "
          f"{s.L:11.4g} ± {e['L']:9.2g} {ref:13.5g} {s.levels[-1][2]:6d}"
          + ("  even" if even else ("  > 0" if s.total > 0 and s.certain else "")), flush=True)
    return d, s, ref


for g in args.gammas:
    for R in args.radii:
        table[g, R] = row(g, R)
print("\nthe even datum (f_1 symmetrised: f(v) = f(-v))")
even = {(g, R): row(g, R, even=True) for g in args.gammas for R in args.even_radii}

# What the table says, in numbers: the ``L`` part approaches ``c (γ² − 8) R² r`` with one
# constant ``c`` for every ``γ`` (the sphere integral of §3.2, Step 2, changes sign at
# ``γ² = 8``), the ``Q`` part approaches ``−C_γ/r``, so ``dI/dt`` turns positive where
# ``R² r² > C_γ/(c (γ² − 8))``: beyond ``R ≈ 10⁹`` for ``γ = −3``, later as ``γ² → 8``.
big = max(args.radii)
print("\nat the largest R: L/((gamma^2 - 8) R^2 r) and Q r")
for g in args.gammas:
    d, s, _ = table[g, big]
    print(f"  gamma {g:6.3g}: {s.L / ((g * g - 8) * big * big * d.r):8.4f} {s.Q * d.r:10.4g}")
for g in args.gammas:
    pos = [R for R in args.radii if table[g, R][1].total > 0 and table[g, R][1].certain]
    print(f"  gamma {g:6.3g}: dI/dt > 0 " + (f"from R = {min(pos):.0e} on (in the table)" if pos else "nowhere in the table"))
assert all(s.total < 0 for _, s, _ in even.values()), "an even datum with dI/dt >= 0"

# 2. A short run from a datum with ``dI/dt > 0``
# -----------------------------------------------
# The rise of ``I`` lasts about as long as ``L`` takes to relax the bump's angular profile,
# ``~ r³/c_ei``, and is of the size of ``L part × r³/c_ei``: at ``c_ei = 1`` the datum needs
# ``R ≳ 10⁹`` (``r ≈ 5·10⁻⁸``) and the rise is ``10⁻¹⁵`` of ``I``, below round-off.  So the run
# takes ``R = 10`` and ``c_ei = 3000``, above ``−Q/L ≈ 1100`` there: the same datum, a
# stronger electron–ion coupling.  ``Λ`` takes the paper's parameters for ``γ = −3``
# (§3.3, Case 2, rescaled to ``f``): ``a = 1/(6√6 √I°)``, ``R_Λ = I°``.
if args.run_steps > 0:
    g, R, c_ei = -3.0, 10.0, 3000.0
    d = CounterexampleDatum(g, R)
    mesh = graded_half_disc(d.extent(), d.r / 1024, segments=16, per_doubling=4)
    probe = LandauInfiniteMass(mesh, gamma=g, c_ei=c_ei)
    w0 = probe.state_from_density(d.ufl(probe), what="seed 004's datum")
    I0 = probe.diagnostics(w0)["fisher"]
    model = LandauInfiniteMass(mesh, gamma=g, c_ei=c_ei, a=1.0 / (6 * np.sqrt(6) * np.sqrt(I0)), R=I0)
    rate = time_derivatives(model, w0, {"I": fisher_information(model)})
    diag0 = model.diagnostics(w0)
    lhs = 2 + diag0["spherical_fisher"] / I0 ** 1.5 + diag0["relative_entropy"]
    print(f"\nrun: gamma {g:g}, R {R:g}, c_ei {c_ei:g}, {mesh.num_cells()} cells: dI/dt(0) = {rate['I']['total']:.5g} "
          f"(Q {rate['I']['parts']['Q']:.5g}, L {rate['I']['parts']['L']:.5g}), I(0) = {I0:.6g}")
    print(f"(1.11): 2 + J/I^(3/2) + H(f|M) = {lhs:.4g} against c_ei/K = {c_ei / 3e5:.3g} (K = 3e5, Remark 3.8): "
          + ("met" if lhs <= c_ei / 3e5 else "not met"))
    T = d.r ** 3 / c_ei
    dt = 0.01 * T
    h = run(model, w0=w0, t_end=args.run_steps * dt, dt=dt, scheme="midpoint")
    t = np.array(h.column("t"))
    cols = {k: np.array(h.column(k)) for k in ("fisher", "H", "lyapunov", "mass", "energy")}
    print(f"{'t/(r^3/c_ei)':>13} {'I - I(0)':>12} {'H - H(0)':>12} {'Lambda - Lambda(0)':>19}")
    for k in range(len(t)):
        print(f"{t[k] / T:13.3f} {cols['fisher'][k] - cols['fisher'][0]:12.4e} {cols['H'][k] - cols['H'][0]:12.4e} "
              f"{cols['lyapunov'][k] - cols['lyapunov'][0]:19.4e}")
    drift = max(np.max(np.abs(cols[k] - cols[k][0])) / abs(cols[k][0]) for k in ("mass", "energy"))
    print(f"first step: (I(dt) - I(0))/dt = {(cols['fisher'][1] - cols['fisher'][0]) / dt:.5g}; "
          f"I rises to {np.max(cols['fisher']) - cols['fisher'][0]:.3e} above I(0) at t = {t[np.argmax(cols['fisher'])] / T:.3f} r^3/c_ei; "
          f"max step change of H {np.max(np.diff(cols['H'])):.2e}; mass/energy drift {drift:.1e}; "
          f"Lambda non-increasing: {bool(np.all(np.diff(cols['lyapunov']) <= 0))}")

# 3. The figures
# --------------
os.makedirs(args.output, exist_ok=True)
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(15, 4))
rs = np.array(args.radii)
for g in args.gammas:
    st = [table[g, R][1] for R in rs]
    val = np.array([abs(s.total) for s in st])
    line = ax0.errorbar(rs, val, yerr=[min(s.error["total"], 0.99 * abs(s.total)) for s in st], capsize=2,
                        label=f"γ = {g:g}")[0]
    ax0.scatter(rs, val, s=18, zorder=3, edgecolors=line.get_color(),
                facecolors=[line.get_color() if s.total > 0 and s.certain else "none" for s in st])
    ratio = np.array([abs(s.L) / abs(s.Q) for s in st])
    line, = ax1.loglog(rs, ratio, label=f"γ = {g:g}")
    ax1.scatter(rs, ratio, s=18, edgecolors=line.get_color(),
                facecolors=[line.get_color() if s.L > 0 else "none" for s in st])
    ax2.semilogx(rs, [s.L / ((g * g - 8) * R * R * table[g, R][0].r) for s, R in zip(st, rs)], marker="o", ms=4,
                 label=f"γ = {g:g}")
ax0.set_xscale("log")
ax0.set_yscale("log")
ax0.set_xlabel("R")
ax0.set_ylabel("|dI/dt|  (filled: dI/dt > 0, certain)")
ax0.set_title("dI/dt at seed 004's datum, c_ei = 1")
ax0.legend(fontsize=8)
ax1.axhline(1.0, color="k", lw=0.8)
ax1.set_xlabel("R")
ax1.set_ylabel("|L part| / |Q part|")
ax1.set_title("dI/dt > 0 where a filled (L > 0) point is above 1")
ax1.legend(fontsize=8)
ax2.set_xlabel("R")
ax2.set_ylabel("L part / ((γ² − 8) R² r)")
ax2.set_title("the L part has the sign of γ² − 8")
ax2.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(args.output, "rates.png"), dpi=120)
if args.run_steps > 0:
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].plot(t / T, cols["fisher"] - cols["fisher"][0], "o-", ms=3, label="I(t) − I(0)")
    ax[0].plot(t / T, rate["I"]["total"] * t, "--", label="dI/dt(0) · t (time_derivatives)")
    ax[0].set_xlabel("t / (r³/c_ei)")
    ax[0].set_title(f"γ = −3, R = 10, c_ei = {c_ei:g}")
    ax[0].legend(fontsize=8)
    ax[1].plot(t / T, cols["H"] - cols["H"][0], "o-", ms=3, label="H(t) − H(0)")
    ax[1].plot(t / T, cols["lyapunov"] - cols["lyapunov"][0], "s-", ms=3, label="Λ(t) − Λ(0)")
    ax[1].set_xlabel("t / (r³/c_ei)")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.output, "run.png"), dpi=120)
print(f"\nfigures in {args.output}; wall time {time.perf_counter() - start:.0f} s")
