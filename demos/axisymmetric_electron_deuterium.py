# Electron–deuterium relaxation in axisymmetric velocity space (2.5D)
# ===================================================================
#
# Plasma collision codes work in ``(v_⊥, v_∥)``: the distribution is invariant under
# rotations about the magnetic field direction ``v_∥`` and the azimuth is integrated
# out (docs/axisymmetric.rst).  Here electrons (``m = 1``) and deuterons
# (``m_D/m_e = 3670.5``) collide through the Coulomb kernel (``γ = −3``) of the
# multispecies Landau system (Junné–Winter–Yoldaş, arXiv:2512.17082 (1.1)–(1.2)).
#
# The electrons start anisotropic (``T_⊥ = 1.2``, ``T_∥ = 0.8``) and drift along the
# field at half their thermal speed; the deuterons are isotropic at ``T = 0.5`` and at
# rest.  Each species lives on the meridian half-plane scaled to its thermal speed, so
# the mass ratio costs no resolution.  Three time scales show: the electron anisotropy
# relaxes first (electron–electron collisions), the drift next (electron–ion momentum
# exchange), the temperatures last, ``~ m_D/m_e`` times slower.  Mass of each species,
# parallel momentum and energy are conserved to the solver tolerance; ``H`` decreases
# every step.
#
# Run it with ``./gfem run mpiexec -n 2 python demos/axisymmetric_electron_deuterium.py``
# (under a minute); the plot shows the electron distribution in the half-plane at the
# start and the end, ``T_⊥, T_∥`` of each species, the drift and ``H``.
import argparse
import os
import time

import numpy as np
import ufl
import firedrake as fd

from generic_fem import run, velocity_half_plane
from forms.multispecies_landau import MultispeciesLandau, common_equilibrium

parser = argparse.ArgumentParser(description="electron-deuterium relaxation in (v_perp, v_par)")
parser.add_argument("--cells", type=int, default=8, help="cells in v_perp (twice as many in v_par)")
parser.add_argument("--radius", type=float, default=5.0, help="R_perp = R_par in thermal units")
parser.add_argument("--mass-ratio", type=float, default=3670.5)
parser.add_argument("--dt", type=float, default=0.25)
parser.add_argument("--t-end", type=float, default=20.0)
parser.add_argument("--output", default="output/axisymmetric_electron_deuterium")
args, _ = parser.parse_known_args()
start = time.perf_counter()

mesh = velocity_half_plane(args.radius, args.radius, args.cells)
comm = mesh.comm
masses = np.array([1.0, args.mass_ratio])
Te, Td = 1.0, 0.5
model = MultispeciesLandau(mesh, masses=masses, coupling=1.0, gamma=-3.0,
                           scales=np.sqrt(np.array([Te, Td]) / masses))


# A Maxwellian with ``T_⊥ ≠ T_∥`` and a drift along ``v_∥``, as a density per ``dξ``
# of species ``i`` (``v = σ_i ξ``; the factor ``σ_i³`` is the volume of the scaling).
def bi_maxwellian(i, density, u_par, T_perp, T_par):
    v_perp, v_par = model.v[i]
    m, s = float(masses[i]), float(model.scales[i])
    norm = density * s ** 3 * (m / (2 * np.pi)) ** 1.5 / (T_perp * np.sqrt(T_par))
    return norm * ufl.exp(-m * v_perp ** 2 / (2 * T_perp) - m * (v_par - u_par) ** 2 / (2 * T_par))


f0 = ufl.as_vector([bi_maxwellian(0, 1.0, 0.5 * np.sqrt(Te), 1.2 * Te, 0.8 * Te),
                    bi_maxwellian(1, 1.0, 0.0, Td, Td)])
n0, u0, T0 = model.moments(f0)
u_eq, T_eq = common_equilibrium(masses, n0, u0, T0, dim=3)


# The species' parallel and perpendicular temperatures, from four moments of each
# species (fixed forms: their kernels are compiled once).
def temperatures(f):
    out = []
    for i in range(2):
        v_perp, v_par = model.v[i]
        n, p, e_par, e_perp = (fd.assemble(a * f[i] * model.dx) for a in (1, v_par, v_par ** 2, v_perp ** 2))
        u = p / n
        out.append((masses[i] * e_perp / (2 * n), masses[i] * (e_par / n - u * u), u))
    return np.array(out)      # rows: species; columns T_perp, T_par, u_par


# The electron distribution in the half-plane at the nodes (gathered on rank 0).
def electron_nodes(w):
    X = model.node_coordinates()
    fe = fd.Function(model.V).interpolate(model.density(w)).dat.data_ro[:, 0] / float(model.scales[0]) ** 3
    data = comm.gather(np.column_stack([np.sqrt(X[:, 0]) * model.scales[0], X[:, 1] * model.scales[0], fe]))
    return np.concatenate(data) if comm.rank == 0 else None


records = [temperatures(f0)]
first = []
history = run(model, f0, t_end=args.t_end, dt=args.dt, output=args.output, progress=True,
              callback=lambda st, rec: (first.append(electron_nodes(st.w)) if not first else None,
                                        records.append(temperatures(st.density()))))
last = electron_nodes(history.stepper.w)
ts = np.array(history.column("t"))
R = np.array(records)

png = os.path.join(args.output, "relaxation.png")
if comm.rank == 0:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 4, figsize=(19, 4.2))
    for a, data, when in ((ax[0], first[0], f"t = {ts[1]:g}"), (ax[1], last, f"t = {ts[-1]:g}")):
        c = a.tricontourf(data[:, 1], data[:, 0], data[:, 2], levels=20)
        a.set(xlabel="v_∥", ylabel="v_⊥", title=f"electrons, {when}", aspect="equal")
        fig.colorbar(c, ax=a)
    for i, name, mark in ((0, "e", "o"), (1, "D", "s")):
        ax[2].plot(ts, R[:, i, 0], mark + "-", ms=3, label=f"T_⊥ {name}")
        ax[2].plot(ts, R[:, i, 1], mark + "--", ms=3, label=f"T_∥ {name}")
    ax[2].axhline(T_eq, color="k", lw=0.8, ls=":", label="common T")
    ax[2].set(xlabel="t", title=f"temperatures (m_D/m_e = {args.mass_ratio:g})")
    ax[2].legend(fontsize=8)
    ax[3].plot(ts, R[:, 0, 2] - R[:, 1, 2], "o-", ms=3, label="u_∥e − u_∥D")
    ax3 = ax[3].twinx()
    ax3.plot(ts, history.column("H"), "k.-", ms=3, label="H")
    ax[3].set(xlabel="t", title="drift and entropy H (right)")
    fig.tight_layout()
    fig.savefig(png, dpi=110)

fd.PETSc.Sys.Print(f"{model.describe()}, ranks = {comm.size}, steps = {len(history) - 1}")
for k in ("mass_0", "mass_1", "momentum_par", "energy"):
    c = np.array(history.column(k))
    fd.PETSc.Sys.Print(f"{k:12s} drift (relative to max(|value|, 1)): {np.max(np.abs(c - c[0])) / max(np.max(np.abs(c)), 1.0):.2e}")
fd.PETSc.Sys.Print(f"electrons T_perp {R[0, 0, 0]:.4f} -> {R[-1, 0, 0]:.4f}, T_par {R[0, 0, 1]:.4f} -> {R[-1, 0, 1]:.4f}; "
                   f"deuterons T {R[0, 1, 0]:.4f} -> {R[-1, 1, 0]:.4f} (common T = {T_eq:.4f}); "
                   f"drift {R[0, 0, 2] - R[0, 1, 2]:.4f} -> {R[-1, 0, 2] - R[-1, 1, 2]:.2e}")
fd.PETSc.Sys.Print(f"H decreasing every step: {bool(np.all(np.diff(history.column('H')) < 0))}; "
                   f"Newton iterations per step: {np.nanmean(history.column('snes_its')):.1f}; "
                   f"wall time {time.perf_counter() - start:.1f} s")
fd.PETSc.Sys.Print(f"plot: {png}; history: {args.output}/history.csv")
