"""The same 3D Coulomb run with direct, lattice (FFT) and fast multipole pair sums: what
the FMM tolerance does to ``f``, to ``H(t)``, to the dissipation's sign and to the
collision invariants' directions of the frozen operator (the lattice sums: round-off).

One run per summation (direct, the lattice, then FMM at each ``--tolerances``): Landau ``γ = −3``, two
beams (the main demo's datum) on the ``[−R, R]³`` box of ``n³`` Q2 cells, ``--steps``
backward-Euler steps of ``--dt`` with default settings.  Printed per FMM tolerance, against
the direct run:

* ``max |Δf| / max f`` at the nodes at the end, and ``max_t |ΔH(t)|`` (row "lattice":
  the FFT convolution);
* the invariants' largest drift (the stepper's invariant projection makes them exact
  whatever the sums) and the smallest step dissipation ``⟨w, M w⟩`` of the run;
* the frozen operator on the collision invariants at the final state: ``⟨ψ, M ψ⟩`` for
  ``ψ = v_x`` and ``|v|²/2`` (zero for the exact sums: ``a(z) z = 0``; the FMM's error
  leaves it at the tolerance's level, of either sign: the approximate frozen operator is
  positive semidefinite only up to that level on these directions), and the smallest
  ``⟨g, M g⟩ / ⟨g, M_direct g⟩`` over random smooth ``g``.

    ./gfem run python benchmarks/fmm_accuracy.py                   # 6³ cells, 6 steps (~1 min)
    ./gfem run python benchmarks/fmm_accuracy.py --cells 8 --steps 10 --tolerances 1e-4 1e-6 1e-10
"""
import argparse
import os
import sys
import time

import numpy as np
import ufl
import firedrake as fd

from generic_fem import run, velocity_box
from forms.landau import Landau

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_name  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--cells", type=int, default=6, help="Q2 cells per axis")
parser.add_argument("--radius", type=float, default=5.0)
parser.add_argument("--steps", type=int, default=6)
parser.add_argument("--dt", type=float, default=0.1)
parser.add_argument("--tolerances", type=float, nargs="*", default=[1e-6, 1e-10])
parser.add_argument("--probes", type=int, default=4, help="random directions g for the ratio")
args = parser.parse_args()


def beams(model):
    v = model.coordinates
    u = ufl.as_vector([1.5, 0.0, 0.0])
    return 0.5 * (ufl.exp(-ufl.dot(v - u, v - u) / 0.6) + ufl.exp(-ufl.dot(v + u, v + u) / 0.6))


def one(summation, tolerance=None):
    model = Landau(velocity_box(3, args.radius, args.cells), gamma=-3.0, summation=summation)
    if tolerance is not None:
        model.pairs.set_summation("fmm", tolerance)
    t0 = time.time()
    h = run(model, beams(model), t_end=args.steps * args.dt, dt=args.dt)
    wall = time.time() - t0
    f_nodes = np.array(fd.Function(model.V).interpolate(model.density(h.stepper.w)).dat.data_ro)
    return model, h, f_nodes, wall


def form_value(model, f, g):
    """``⟨g, M(f) g⟩`` with the coefficients refreshed at ``(f, g)``."""
    model.refresh_friction(f, g)
    return float(fd.assemble(model.friction(f, g, g)))


print(f"3D Coulomb run, {args.cells}^3 Q2 cells on [-{args.radius:g}, {args.radius:g}]^3, "
      f"{args.steps} backward-Euler steps of {args.dt:g}; one rank, {cpu_name()}")
ref_model, ref, f_ref, wall = one("direct")
inv = [k for k in ref.columns if k.startswith(("mass", "momentum", "energy"))]
H_ref = np.array(ref.column("H"))
print(f"direct: {wall:.1f} s, N = {len(f_ref)} points, its/step "
      f"{np.mean(ref.column('snes_its')[1:]):.1f}, smallest dissipation {min(ref.column('dissipation')[1:]):.3e}")

# random smooth directions (the same for every summation), and the final state's density
rng = np.random.default_rng(3)
weights = rng.normal(size=(args.probes, 6))
invariants = {"v_x": lambda v: v[0], "|v|^2/2": lambda v: 0.5 * ufl.dot(v, v)}


def probe_values(model, w):
    v = model.coordinates
    f = model.density(w)
    out = {name: form_value(model, f, g(v)) for name, g in invariants.items()}
    basis = (v[0], v[1], v[2], v[0] * v[1], v[2] ** 2, ufl.sin(v[0] + v[2]))
    out["probes"] = [form_value(model, f, sum(c * e for c, e in zip(row, basis))) for row in weights]
    scale = form_value(model, f, w)
    return out, scale


ref_probe, ref_scale = probe_values(ref_model, ref.stepper.w)
print(f"direct, final state: <w, M w> = {ref_scale:.3e}; "
      + ", ".join(f"<psi, M psi> ({k}) = {ref_probe[k]:.1e}" for k in invariants))
print(f"{'tolerance':>10} {'wall (s)':>9} {'max|df|/max f':>14} {'max|dH(t)|':>11} {'drift':>9} "
      f"{'min diss.':>10} {'<vx,M vx>':>10} {'<|v|2,M|v|2>':>13} {'min ratio g':>12}")
for tol in ["lattice"] + list(args.tolerances):
    model, h, f_nodes, wall = one("lattice") if tol == "lattice" else one("fmm", tol)
    df = np.max(np.abs(f_nodes - f_ref)) / np.max(f_ref)
    dH = np.max(np.abs(np.array(h.column("H")) - H_ref))
    mass = abs(h.column("mass")[0])
    drift = max(np.max(np.abs(np.array(h.column(k)) - h.column(k)[0])) / mass for k in inv)
    # the same frozen operators on the direct run's final state
    model_state = fd.Function(model.V)
    model_state.dat.data[...] = ref.stepper.w.dat.data_ro
    probe, _ = probe_values(model, model_state)
    ratio = min(p / r for p, r in zip(probe["probes"], ref_probe["probes"]))
    print(f"{tol if tol == 'lattice' else format(tol, '.0e'):>10} {wall:>9.1f} {df:>14.2e} {dH:>11.2e} {drift:>9.1e} "
          f"{min(h.column('dissipation')[1:]):>10.3e} {probe['v_x']:>10.1e} {probe['|v|^2/2']:>13.1e} "
          f"{ratio:>12.9f}")
