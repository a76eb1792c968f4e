# Electron–ion relaxation with the multispecies Landau system
# ===========================================================
#
# The multispecies Landau system of docs/models.rst, Multispecies Landau and Infinite-mass limit (Junné–Winter–Yoldaş, arXiv:2512.17082 (1.1)–(1.2)): species ``i``
# with mass ``m_i`` collides with species ``j`` through the Coulomb kernel
# ``A(z) = |z|^{γ+2}Π(z)``, ``γ = −3``, weighted by ``c_ij``,
#
# .. math::  ∂_t f_i = Σ_j \frac{1}{m_i} ∇·∫ c_{ij} A(v − v_*)
#            \Big(\frac{∇}{m_i} − \frac{∇_*}{m_j}\Big)(f_i f_{j*})\,dv_*.
#
# Electrons (``m = 1``) start hotter than the ions and drift against them.  Each
# species lives on the reference mesh scaled to its thermal speed ``√(T/m)``, so the
# mass ratio 1836 costs nothing in resolution; the friction is the toolkit's two-point
# operator over the two species' point sets.  Per-species mass, total momentum
# ``Σ m_i ∫ v f_i`` and total energy are conserved to the solver tolerance, the entropy
# decreases every step, and the drifts and temperatures head for the common ``(u, T)``
# that conservation fixes (the dashed line is that common ``T``).  The weighted Fisher information
# ``𝓘 = Σ (1/m_i) ∫ |∇ log f_i|² f_i`` (seed (1.8)) is plotted too.
#
# The drift relaxes on the electron–ion momentum-exchange time; the temperatures
# equilibrate ``~ m_i/m_e`` times slower (``--mass-ratio 25`` shows the whole way).
#
# With ``--infinite-mass`` the demo runs the limit ``m_i → ∞`` instead (Junné–Winter–Yoldaş, arXiv:2512.17082 (1.10):
# electron–electron collisions plus pitch-angle scattering off fixed ions) and plots the
# Fisher information ``I``, the spherical one ``J`` and ``Λ = I + aJ + R H(f|M_{T°})``.
#
# Run it with ``./gfem run mpiexec -n 2 python demos/multispecies_landau_relaxation.py``;
# ``--dim 3 --gamma -2.5`` checks Junné–Winter–Yoldaş, arXiv:2512.17082 Theorem 1.1 (``𝓘`` non-increasing for
# ``−√8 ≤ γ ≤ −2`` in 3D) along a run.
import argparse
import os
import time

import numpy as np
import ufl
import firedrake as fd

from generic_fem import run, velocity_box
from forms.multispecies_landau import MultispeciesLandau, common_equilibrium
from forms.landau_infinite_mass import LandauInfiniteMass

parser = argparse.ArgumentParser(description="electron-ion relaxation (multispecies Landau)")
parser.add_argument("--dim", type=int, default=2, choices=(2, 3))
parser.add_argument("--cells", type=int, default=None, help="cells per direction (default 8 in 2D, 4 in 3D)")
parser.add_argument("--radius", type=float, default=5.0)
parser.add_argument("--gamma", type=float, default=-3.0)
parser.add_argument("--mass-ratio", type=float, default=1836.0)
parser.add_argument("--dt", type=float, default=0.5)
parser.add_argument("--t-end", type=float, default=20.0)
parser.add_argument("--infinite-mass", action="store_true", help="run the m_i -> infinity limit instead")
parser.add_argument("--c-ei", type=float, default=0.5, help="electron-ion coupling of the limit")
parser.add_argument("--output", default="output/multispecies_landau")
args, _ = parser.parse_known_args()
cells = args.cells or (8 if args.dim == 2 else 4)
mesh = velocity_box(dim=args.dim, radius=args.radius, cells=cells)
d = args.dim
comm = mesh.comm
start = time.perf_counter()

if args.infinite_mass:
    # Electrons only; the ions are a fixed background (pitch-angle scattering).
    model = LandauInfiniteMass(mesh, gamma=args.gamma, c_ei=args.c_ei)
    f0 = model.maxwellian(0.6, [1.0] + [0.0] * (d - 1), 0.5) + model.maxwellian(0.4, [-0.5] + [0.5] * (d - 1), 0.8)
    history = run(model, f0, t_end=args.t_end, dt=args.dt, output=args.output, progress=True)
    ts = np.array(history.column("t"))
    png = os.path.join(args.output, "infinite_mass.png")
    if comm.rank == 0:
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
        for k, lab in (("fisher", "I"), ("spherical_fisher", "J"), ("lyapunov", "Λ = I + aJ + R H(f|M)")):
            ax[0].plot(ts, history.column(k), "o-", ms=3, label=lab)
        ax[0].set(xlabel="t", title=f"Fisher informations (γ = {args.gamma:g}, c_ei = {args.c_ei:g})")
        ax[0].legend()
        ax[1].plot(ts, history.column("H"), "o-", ms=3)
        ax[1].set(xlabel="t", ylabel="H", title="entropy")
        fig.tight_layout()
        fig.savefig(png, dpi=110)
    fd.PETSc.Sys.Print(f"{model.describe()}, ranks = {comm.size}, steps = {len(history) - 1}")
    for k in ("mass", "energy"):
        c = np.array(history.column(k))
        fd.PETSc.Sys.Print(f"{k:8s} drift (relative): {np.max(np.abs(c - c[0])) / np.max(np.abs(c)):.2e}")
    for k in ("fisher", "spherical_fisher", "lyapunov"):
        c = np.array(history.column(k))
        fd.PETSc.Sys.Print(f"{k:17s}: {c[0]:.4f} -> {c[-1]:.4f}, non-increasing: {bool(np.all(np.diff(c) <= 0))}")
else:
    ratio = args.mass_ratio
    masses = np.array([1.0, ratio])
    Te, Ti = 1.0, 0.5
    model = MultispeciesLandau(mesh, masses=masses, coupling=1.0, gamma=args.gamma,
                               scales=np.sqrt(np.array([Te, Ti]) / masses))
    ue = np.array([0.5 * np.sqrt(Te)] + [0.0] * (d - 1))   # electrons drift at half their thermal speed
    f0 = ufl.as_vector([model.maxwellian(0, 1.0, ue, Te), model.maxwellian(1, 1.0, None, Ti)])
    n0, u0, T0 = model.moments(f0)
    u_eq, T_eq = common_equilibrium(masses, n0, u0, T0)

    moments = []
    history = run(model, f0, t_end=args.t_end, dt=args.dt, output=args.output, progress=True,
                  callback=lambda st, rec: moments.append(model.moments(st.density())))
    moments = [(n0, u0, T0)] + moments
    ts = np.array(history.column("t"))
    T = np.array([m[2] for m in moments])
    du = np.array([np.linalg.norm(m[1][0] - m[1][1]) for m in moments])
    png = os.path.join(args.output, "relaxation.png")
    if comm.rank == 0:
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 3, figsize=(15, 4))
        ax[0].plot(ts, T[:, 0], "o-", ms=3, label="T_e")
        ax[0].plot(ts, T[:, 1], "s-", ms=3, label="T_i")
        ax[0].axhline(T_eq, color="k", ls="--", lw=0.8, label="common T (conservation)")
        ax[0].set(xlabel="t", ylabel="T", title=f"temperatures (m_i/m_e = {ratio:g})")
        ax[0].legend()
        ax[1].semilogy(ts, du, "o-", ms=3)
        ax[1].set(xlabel="t", title="|u_e − u_i|")
        ax[2].plot(ts, history.column("fisher"), "o-", ms=3)
        ax[2].set(xlabel="t", title="weighted Fisher information (seed (1.8))")
        fig.tight_layout()
        fig.savefig(png, dpi=110)
    fd.PETSc.Sys.Print(f"{model.describe()}, ranks = {comm.size}, steps = {len(history) - 1}")
    for k in ("mass_0", "mass_1", "momentum_0", "momentum_1", "energy"):
        c = np.array(history.column(k))
        fd.PETSc.Sys.Print(f"{k:10s} drift (relative to max(|value|, 1)): "
                           f"{np.max(np.abs(c - c[0])) / max(np.max(np.abs(c)), 1.0):.2e}")
    fd.PETSc.Sys.Print(f"T_e: {T[0, 0]:.4f} -> {T[-1, 0]:.4f}, T_i: {T[0, 1]:.4f} -> {T[-1, 1]:.4f} "
                       f"(common T = {T_eq:.4f}); |u_e - u_i|: {du[0]:.3e} -> {du[-1]:.3e}")
    fi = np.array(history.column("fisher"))
    fd.PETSc.Sys.Print(f"weighted Fisher information: {fi[0]:.4f} -> {fi[-1]:.4f}, "
                       f"non-increasing: {bool(np.all(np.diff(fi) <= 0))}")
fd.PETSc.Sys.Print(f"H decreasing every step: {bool(np.all(np.diff(history.column('H')) < 0))}; "
                   f"Newton iterations per step: {np.nanmean(history.column('snes_its')):.1f}; "
                   f"wall time {time.perf_counter() - start:.1f} s")
fd.PETSc.Sys.Print(f"plot: {png}; history: {args.output}/history.csv")
