"""Axisymmetric (2.5D) against 3D: the same axisymmetric Coulomb relaxation run on a
3D box and on the meridian half-plane (docs/axisymmetric.rst, "Against 3D").

Two beams along ``v_∥`` with ``T_⊥ ≠ T_∥`` (not normalised),
``f0 = exp(−v_⊥²/1 − (v_∥ − 1.2)²/0.5) + 0.7 exp(−v_⊥²/1.5 − (v_∥ + 1)²/0.8)``,
Landau ``γ = −3``, ``C = 1``, backward Euler ``Δt = 0.05`` to ``t = 0.5``, ``R = 5``.
Prints, per mesh, the mass, ``u_∥``, ``T_⊥ = ∫ v_⊥² f/(2ρ)`` and ``T_∥`` at ``t = 0`` and
``t = 0.5``, the wall time, and the differences of the 3D runs from the finest 2.5D run.

    ./gfem run python benchmarks/axisymmetric_vs_3d.py                 # 2.5D 8, 16, 24; 3D 6, 8, 10, 12 cells
    ./gfem run python benchmarks/axisymmetric_vs_3d.py --axi 8 16 --box 6 8
"""
import argparse
import time

import numpy as np
import ufl
import firedrake as fd

from generic_fem import velocity_half_plane, velocity_box, Stepper
from forms.landau import Landau


def beams(v_perp2, v_par):
    return ufl.exp(-v_perp2 / 1.0 - (v_par - 1.2) ** 2 / 0.5) + 0.7 * ufl.exp(-v_perp2 / 1.5 - (v_par + 1.0) ** 2 / 0.8)


def moments(model, f, axisymmetric):
    v = model.coordinates
    vp2, vz = (v[0] ** 2, v[1]) if axisymmetric else (v[0] ** 2 + v[1] ** 2, v[2])
    rho, p, e_par, e_perp = (fd.assemble(a * f * model.dx) for a in (1, vz, vz ** 2, vp2))
    u = p / rho
    return np.array([rho, u, e_perp / (2 * rho), e_par / rho - u * u])


def case(axisymmetric, cells, radius=5.0, dt=0.05, steps=10):
    mesh = velocity_half_plane(radius, radius, cells) if axisymmetric else velocity_box(3, radius, cells)
    model = Landau(mesh, gamma=-3.0)
    v = model.coordinates
    f0 = beams(v[0] ** 2, v[1]) if axisymmetric else beams(v[0] ** 2 + v[1] ** 2, v[2])
    t0 = time.time()
    st = Stepper(model, f0, dt=dt)
    a = moments(model, st.density(), axisymmetric)
    for _ in range(steps):
        st.advance()
    b = moments(model, st.density(), axisymmetric)
    return a, b, time.time() - t0, model.pairs.n_global


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--axi", nargs="*", type=int, default=[8, 16, 24], help="cells in v_perp (2.5D)")
    p.add_argument("--box", nargs="*", type=int, default=[6, 8, 10, 12], help="cells per direction (3D)")
    args = p.parse_args()
    rows = [("2.5D", n, *case(True, n)) for n in args.axi] + [("3D", n, *case(False, n)) for n in args.box]
    ref = rows[len(args.axi) - 1][3] if args.axi else None
    print(f"{'mesh':>5} {'cells':>5} {'N_q':>6} {'mass(0)':>9} {'u_par':>9} {'T_perp':>9} {'T_par':>9} "
          f"{'|dT_perp|':>9} {'|dT_par|':>9} {'|du_par|':>9} {'time':>7}")
    for kind, n, a, b, secs, nq in rows:
        d = np.abs(b - ref) if ref is not None else np.full(4, np.nan)
        print(f"{kind:>5} {n:5d} {nq:6d} {a[0]:9.5f} {b[1]:9.5f} {b[2]:9.5f} {b[3]:9.5f} "
              f"{d[2]:9.2e} {d[3]:9.2e} {d[1]:9.2e} {secs:6.1f}s")
    print("(differences at t = 0.5 from the finest 2.5D run)")


if __name__ == "__main__":
    main()
