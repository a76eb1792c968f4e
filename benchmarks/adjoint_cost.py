"""Cost of a gradient relative to the forward run, at the main demo's size.

The main demo (``demos/landau_relaxation.py``: Coulomb Landau, 12² cells, degree 2,
backward Euler, ``Δt = 0.2``) is run untaped, then taped; the gradient of the final
entropy with respect to the initial datum ``f_0 e^u`` and to ``C`` is one adjoint sweep
(``ReducedFunctional.derivative``), and a replay is one ``ReducedFunctional`` call.
Printed: times (and their ratios to the untaped run), the memory the tape holds (its
checkpointed Functions) and the growth of the peak resident set size, per rank.

Run: ``./gfem run mpiexec -n 2 python benchmarks/adjoint_cost.py [--steps 30]``.
"""
import argparse
import os
import sys
import resource
import time

import numpy as np
import ufl
import firedrake as fd
import firedrake.adjoint as fa

from generic_fem import Stepper, velocity_box
from generic_fem.core.parameters import real_parameter
from forms.landau import Landau

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_name  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--cells", type=int, default=12)
parser.add_argument("--steps", type=int, default=30)
parser.add_argument("--dt", type=float, default=0.2)
parser.add_argument("--scheme", default="backward-euler")
args, _ = parser.parse_known_args()
Print = fd.PETSc.Sys.Print
comm = fd.COMM_WORLD


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def forward(model, u):
    f0 = (model.maxwellian(1.0, (1.0, 0.0), 0.5) + model.maxwellian(0.5, (-1.0, 0.5), 0.8)) * ufl.exp(u)
    st = Stepper(model, f0, dt=args.dt, scheme=args.scheme)
    for _ in range(args.steps):
        st.advance()
    return st, fd.assemble(model.S(st.density()))


mesh = velocity_box(dim=2, radius=6.0, cells=args.cells)
C = real_parameter(mesh, 1.0)
model = Landau(mesh, gamma=-3.0, C=C, degree=2)
u = fd.Function(model.V)

forward(model, u)       # compiles every kernel: not timed
comm.Barrier()
t0 = time.perf_counter()
forward(model, u)
t_plain = time.perf_counter() - t0
rss0 = peak_mb()

fa.get_working_tape().clear_tape()
fa.continue_annotation()
comm.Barrier()
t0 = time.perf_counter()
st, J = forward(model, u)
t_taped = time.perf_counter() - t0
fa.pause_annotation()
rss1 = peak_mb()

rf = fa.ReducedFunctional(J, [fa.Control(u), fa.Control(C)])
comm.Barrier()
t0 = time.perf_counter()
dJ = rf.derivative()
t_adj = time.perf_counter() - t0
rss2 = peak_mb()
comm.Barrier()
t0 = time.perf_counter()
rf([u, C])
t_replay = time.perf_counter() - t0

tape = fa.get_working_tape()
blocks = tape.get_blocks()
steps = [b for b in blocks if "generic-fem" in str(b)]
ndofs = model.V.dim()
saved = 0
for b in blocks:
    for bv in list(b.get_dependencies()) + list(b.get_outputs()):
        c = bv.checkpoint
        if isinstance(c, fd.Function):
            saved += c.dat.data_ro.nbytes
saved = comm.allreduce(saved) / 2 ** 20

Print(f"CPU: {cpu_name()}; ranks {comm.size}; dim V = {ndofs}; "
      f"{args.steps} {args.scheme} steps of the main demo's Landau problem")
Print(f"forward, untaped   {t_plain:8.2f} s   1.00")
Print(f"forward, taped     {t_taped:8.2f} s   {t_taped / t_plain:5.2f}")
Print(f"gradient (adjoint) {t_adj:8.2f} s   {t_adj / t_plain:5.2f}   ({st.adjoint_stats['solves']} adjoint solves, "
      f"{st.adjoint_stats['ksp_its'] / max(st.adjoint_stats['solves'], 1):.1f} GMRES iterations each)")
Print(f"replay (recompute) {t_replay:8.2f} s   {t_replay / t_plain:5.2f}")
Print(f"tape: {len(blocks)} blocks ({len(steps)} step blocks); checkpointed Functions {saved:.2f} MiB in all "
      f"({saved / max(len(steps), 1) * 1024:.1f} KiB per step; dim V x 8 bytes = {ndofs * 8 / 1024:.1f} KiB)")
Print(f"peak RSS on rank 0: {rss0:.0f} MiB after the untaped run, {rss1:.0f} after taping, {rss2:.0f} after the "
      f"gradient")
g = float(dJ[1].dat.data_ro[0])
Print(f"dS/dC = {g:.6e}, |dS/du| (l2 of the cofunction) = {np.sqrt(comm.allreduce(float((dJ[0].dat.data_ro ** 2).sum()))):.6e}")
