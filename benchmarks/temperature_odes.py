"""Two-temperature relaxations against their exact moment ODEs, under mesh refinement.

Two models whose temperatures obey closed ODEs (docs/models.rst):

* ``multispecies_landau``: :class:`forms.multispecies_landau.MultispeciesLandau`,
  ``γ = 0``, masses 1 and 4, couplings ``[[1, 0.8], [0.8, 0.5]]``, scales 1 and ½, zero
  drifts, ``T = 1.5`` and ``0.5``: ``dT_i/dt = 2(d−1) Σ_j c_ij n_j (T_j − T_i)/(m_i m_j)``
  (:func:`forms.multispecies_landau.temperature_odes`);
* ``multispecies_fp``: :class:`forms.multispecies_fp.MultispeciesFokkerPlanck`
  (Hu–Jüngel–Zamponi), ``γ = 0``, masses 1 and 4, scales 1 and 0.6, drifts
  ``(0.5, 0)`` and ``(−0.3, 0.2)``, ``T = 1`` and ``2``: the closed moment ODEs
  (:func:`forms.multispecies_fp.moment_odes`).

Each runs the midpoint scheme on the box ``R = 6`` with ``n`` cells per direction to
``t = 0.4``, and prints the largest error of ``T_i(t)`` against the ODE solution started
from the discrete initial moments (relative to the largest temperature), for the nodal
and the Gauss rule, and the same on the finest mesh with ``Δt`` halved (the time error).

    ./gfem run python benchmarks/temperature_odes.py [--cells 8 12 16 24] [--dt 0.05]
"""
import argparse

import numpy as np
import ufl

from generic_fem import run, velocity_box
from forms.multispecies_landau import MultispeciesLandau, temperature_odes
from forms.multispecies_fp import MultispeciesFokkerPlanck, moment_odes


def landau_case(n, rule):
    model = MultispeciesLandau(velocity_box(2, 6.0, n), masses=[1.0, 4.0], coupling=[[1.0, 0.8], [0.8, 0.5]],
                               gamma=0.0, scales=[1.0, 0.5], rule=rule)
    f0 = ufl.as_vector([model.maxwellian(0, 1.0, None, 1.5), model.maxwellian(1, 0.5, None, 0.5)])

    def temperatures(f):
        return np.asarray(model.moments(f)[2])

    def reference(f_start, t):
        n_, _, T0 = model.moments(f_start)
        return temperature_odes(model.masses, model.coupling, n_, T0, t, model.dim)
    return model, f0, temperatures, reference


def fp_case(n, rule):
    model = MultispeciesFokkerPlanck(velocity_box(2, 6.0, n), masses=[1.0, 4.0], charges=[1.0, 1.0],
                                     scales=[1.0, 0.6], gamma=0.0, log_lambda=10.0, rule=rule)
    f0 = ufl.as_vector([model.maxwellian(0, 1.0, (0.5, 0.0), 1.0), model.maxwellian(1, 0.5, (-0.3, 0.2), 2.0)])

    def temperatures(f):
        return np.asarray(model.moments(f)[2])

    def reference(f_start, t):
        n_, u0, T0 = model.moments(f_start)
        return moment_odes(model, n_, u0, T0, t)[1]
    return model, f0, temperatures, reference


CASES = {"multispecies_landau": landau_case, "multispecies_fp": fp_case}


def error(case, n, rule, dt, t_end):
    model, f0, temperatures, reference = CASES[case](n, rule)
    Ts = []
    h = run(model, f0, t_end=t_end, dt=dt, scheme="midpoint", keep_trajectory=True,
            callback=lambda st, rec: Ts.append(temperatures(st.density())))
    t = np.array(h.column("t"))
    ref = np.asarray(reference(model.density(h.trajectory[0][1]), t))
    T = np.array([temperatures(model.density(h.trajectory[0][1]))] + Ts)
    return np.abs(T - ref).max() / np.abs(ref).max(), np.abs(ref[-1] - ref[0]).max() / np.abs(ref).max()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, nargs="+", default=[8, 12, 16, 24])
    p.add_argument("--dt", type=float, default=0.05)
    p.add_argument("--t-end", type=float, default=0.4)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    a = p.parse_args()
    for case in a.cases:
        print(f"\n{case}: max |T_i - T_ode| / max T (midpoint, dt = {a.dt}, t = 0..{a.t_end})")
        print(f"{'cells':>6} {'nodal':>10} {'gauss':>10}")
        change = None
        for n in a.cells:
            row = []
            for rule in ("nodal", "gauss"):
                e, change = error(case, n, rule, a.dt, a.t_end)
                row.append(e)
            print(f"{n:>6} {row[0]:>10.2e} {row[1]:>10.2e}", flush=True)
        e2, _ = error(case, a.cells[-1], "nodal", a.dt / 2, a.t_end)
        print(f"{a.cells[-1]:>6} {e2:>10.2e} {'':>10}  (nodal, dt/2: the time error)   "
              f"relative change of T over the run {change:.2e}", flush=True)


if __name__ == "__main__":
    main()
