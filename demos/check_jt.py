# Checking the energy–dissipation functional J_T
# ===============================================
#
# Duong–He, arXiv:2504.07666 characterises solutions of the fuzzy Landau equation variationally: for
# every curve of pairs ``(f, U)`` that satisfies the transport–grazing-rate equation
# ``∂_t f + v·∇_x f + ½∇̃·U = 0``,
#
# .. math::  J_T(f, U) = H(f_T) − H(f_0) + ½∫_0^T D(f)\,dt + ½∫_0^T A(f, U)\,dt ≥ 0,
#
# with equality exactly for solutions.  This demo evaluates the discrete ``J_T^h``
# (:func:`generic_fem.pair_energy_dissipation`, docs "Checking J_T") term by term
#
# 1. on a solution of the ``"discrete-gradient"`` scheme, whose ``J_T^h`` is zero up to
#    the transport term's quadrature defect (reported apart), and on a backward-Euler
#    solution, whose ``J_T^h`` is not;
# 2. on perturbed curves ``∂_t f = L dE + M(dS + εψ)``: ``J_T^h = ½ε²∫‖ψ‖²_M``, so
#    ``J_T^h/ε²`` is flat in ``ε``;
# 3. on time-rescaled solutions ``f(λt)`` of the collisions alone (a gradient flow):
#    ``J_T^h = ((λ−1)²/(2λ)) ∫ D``.
#
# Each line prints the value and the expected one.  Run it with
# ``./gfem run mpiexec -n 2 python demos/check_jt.py`` (``--model landau`` for the
# homogeneous Landau equation instead).
import argparse
import os
import time

import numpy as np
import ufl
import firedrake as fd
from firedrake.petsc import PETSc

from generic_fem import run, phase_space_box, velocity_box, pair_energy_dissipation
from generic_fem.drivers.grazing import perturbation_norm
from forms.fuzzy_landau import FuzzyLandau, seed003_kappa
from forms.landau import Landau

parser = argparse.ArgumentParser(description="check J_T on solutions, perturbed and rescaled curves")
parser.add_argument("--model", choices=("fuzzy", "landau"), default="fuzzy")
parser.add_argument("--nx", type=int, default=6, help="cells in x (fuzzy)")
parser.add_argument("--nv", type=int, default=4, help="cells per velocity direction")
parser.add_argument("--dt", type=float, default=0.1)
parser.add_argument("--t-end", type=float, default=0.6)
parser.add_argument("--output", default="output/check_jt")
args, _ = parser.parse_known_args()
say = PETSc.Sys.Print

# The model and the datum
# -----------------------
# Fuzzy Landau on ``T × [−V, V]²`` with Duong and He's ``κ``, Coulomb (``γ = −3``); the datum
# is two drifting Maxwellians with a density modulation in ``x``.  ``make(transport)``
# builds the model with or without free transport (the gradient flow of part 3).


def make(transport=True):
    if args.model == "fuzzy":
        ell = 2 * np.pi
        m = FuzzyLandau(phase_space_box(args.nx, args.nv, ell, 4.5), ell, kappa=seed003_kappa(),
                        gamma=-3.0, C=0.5, transport=transport)
        x = m.x
        f0 = m.maxwellian(0.6 * (1 + 0.3 * ufl.cos(x)), (0.9, 0.0), 0.5) + \
            m.maxwellian(0.4 * (1 + 0.3 * ufl.sin(x)), (-1.2, 0.3), 0.4)
        return m, f0
    m = Landau(velocity_box(2, 5.0, 2 * args.nv), gamma=-3.0)
    return m, m.maxwellian(0.6, (0.9, 0.0), 0.5) + m.maxwellian(0.4, (-1.2, 0.3), 0.4)


def line(name, r, expected=None, note=""):
    """One result: ``J_T^h``, the expected value (``—`` where there is none to compare
    with), the four terms and the parts of the identity; the square
    ``J − chain − transport − residual`` is the quantity with a sign (``≥ 0``)."""
    exp = "      —      " if expected is None else f"{expected: .6e}"
    say(f"[{time.perf_counter() - start:6.1f} s] {name:<30s} J_T^h = {r.total: .6e}   expected {exp}   "
        f"[H_T-H_0 {r.entropy_term: .4e}, 1/2 int D {r.dissipation_term:.4e}, 1/2 int A {r.action_term:.4e}; "
        f"transport {r.transport_term: .2e}, residual {r.residual_term: .1e}, square {r.square_term:.2e} >= 0] {note}")


start = time.perf_counter()
model, f0 = make()
say(f"{model.describe()}, dt = {args.dt}, T = {args.t_end}")

# 1. Solutions
# ------------
# With least-action rates (``rates=None``) ``J_T^h`` is a functional of the curve ``f``
# alone: ``A = ‖∂_t f + v·∇_x f‖²_{M⁻¹}`` per interval.  The discrete-gradient scheme
# solves for ``α = α*`` so that the discrete chain rule is exact; its ``J_T^h`` is the
# transport defect.  Backward Euler's is positive (``O(Δt²)`` for a gradient flow; with
# transport the transport term is ``O(Δt)``).
h = run(model, f0, t_end=args.t_end, dt=args.dt, scheme="discrete-gradient", keep_trajectory=True)
sol = pair_energy_dissipation(model, h)
line("discrete-gradient solution", sol, sol.chain_rule_term + sol.transport_term + sol.residual_term,
     "(square 0: J is the transport defect + the solves' residual)")
hb = run(model, f0, t_end=args.t_end, dt=args.dt, scheme="backward-euler", keep_trajectory=True)
be = pair_energy_dissipation(model, hb)
line("backward-Euler solution", be, None, "(square > 0; with transport the transport term is O(dt), of either sign)")
hb2 = run(model, f0, t_end=args.t_end, dt=args.dt / 2, scheme="backward-euler", keep_trajectory=True)
be2 = pair_energy_dissipation(model, hb2)
line("backward-Euler solution, dt/2", be2, None,
     f"(J ratio {be.total / be2.total:.2f}, square ratio {be.square_term / be2.square_term:.2f}: -> 0)")

# 2. Perturbed curves
# -------------------
# ``ψ ∈ V_h`` (a curve in ``V_h`` sees only that part of a perturbation); the forcing
# enters the scheme as ``M(f_*)(θ − εψ)``.  The expected value ``½ε²Σ Δt⟨ψ, M(f_*)ψ⟩`` is
# taken along the perturbed curve itself (then it is exact); its limit along the
# solution is printed too.
X = ufl.SpatialCoordinate(model.mesh)
v = [X[k] for k in model.pairs.velocity] if args.model == "fuzzy" else [X[0], X[1]]
psi = fd.Function(model.V).interpolate(
    (ufl.sin(X[0]) if args.model == "fuzzy" else 1.0) * v[0] * v[1] * ufl.exp(-(v[0] ** 2 + v[1] ** 2) / 4))


def psi_norm(history):
    return perturbation_norm(model, history, psi)


limit = psi_norm(h)
epsilons, ratios = [0.4, 0.2, 0.1], []
for eps in epsilons:
    hp = run(model, f0, t_end=args.t_end, dt=args.dt, scheme="discrete-gradient", keep_trajectory=True,
             forcing=eps * psi)
    r = pair_energy_dissipation(model, hp)
    line(f"perturbed, eps = {eps}", r, eps ** 2 * psi_norm(hp) + r.transport_term + r.residual_term,
         f"(along its own states; J/eps^2 = {r.total / eps ** 2:.6e} -> {limit:.6e}, the solution's)")
    ratios.append(r.total / eps ** 2)

# 3. Time-rescaled curves
# -----------------------
# A gradient flow (collisions without transport): the states of a discrete-gradient
# solution at the times ``t_k/λ`` form the curve ``f(λt)``; its ``J_T^h`` is
# ``((λ−1)²/(2λ)) Σ Δt D_k`` of the solution, exactly.
gmodel, g0 = make(transport=False)
hg = run(gmodel, g0, t_end=args.t_end, dt=args.dt, scheme="discrete-gradient", keep_trajectory=True)
rg = pair_energy_dissipation(gmodel, hg)
Dint = sum((i["t1"] - i["t0"]) * i["dissipation"] for i in rg.intervals)
ws = [w for _, w in hg.trajectory]
lams, rescaled = [0.5, 0.8, 1.25, 2.0, 3.0], []
for lam in lams:
    r = pair_energy_dissipation(gmodel, ws, times=[t / lam for t, _ in hg.trajectory])
    line(f"time-rescaled, lambda = {lam}", r, (lam - 1) ** 2 / (2 * lam) * Dint)
    rescaled.append(r.total)
say(f"total {time.perf_counter() - start:.1f} s on {model.mesh.comm.size} rank(s)")

# Plots
# -----
# (a) the terms of ``J_T^h`` of the discrete-gradient solution accumulated in time:
# ``H(f_t) − H(f_0)`` and ``½∫D + ½∫A`` cancel; (b) the relative distance of ``J_T^h/ε²``
# from its limit, ``O(ε)``; (c) ``J_T^h`` of the rescaled curves against ``λ`` with
# ``((λ−1)²/(2λ))∫D``.  Rescaling needs ``L = 0``: with transport ``f(λt)`` breaks the
# local conservation of mass and its ``J_T^h`` is ``+∞``.
if model.mesh.comm.rank == 0:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(args.output, exist_ok=True)
    t = np.array([0.0] + [i["t1"] for i in sol.intervals])
    dts = np.array([i["t1"] - i["t0"] for i in sol.intervals])
    H = np.array(h.column("H"))
    cD = np.concatenate([[0.0], np.cumsum(0.5 * dts * np.array([i["dissipation"] for i in sol.intervals]))])
    cA = np.concatenate([[0.0], np.cumsum(0.5 * dts * np.array([i["action"] for i in sol.intervals]))])
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    ax[0].plot(t, H - H[0], "o-", label=r"$H(f_t) - H(f_0)$")
    ax[0].plot(t, cD + cA, "s--", label=r"$\frac{1}{2}\int D + \frac{1}{2}\int A$")
    ax[0].plot(t, H - H[0] + cD + cA, "k.-", label=r"$J_t^h$")
    ax[0].set_xlabel("t")
    ax[0].set_title(f"discrete-gradient solution: max $|J_t^h|$ = {np.max(np.abs(H - H[0] + cD + cA)):.1e}")
    ax[0].legend()
    rel = np.abs(np.array(ratios) - limit) / limit
    ax[1].loglog(epsilons, rel, "o-", label=r"$|J_T^h/\varepsilon^2 - L|/L$")
    ax[1].loglog(epsilons, rel[-1] * np.array(epsilons) / epsilons[-1], "k:", label=r"$\propto \varepsilon$")
    ax[1].set_xlabel(r"$\varepsilon$")
    ax[1].set_title(r"perturbed curves, $L = \frac{1}{2}\int\|\psi\|_M^2$ = " + f"{limit:.4e}")
    ax[1].legend()
    lg = np.linspace(0.4, 3.2, 100)
    ax[2].plot(lg, (lg - 1) ** 2 / (2 * lg) * Dint, "k--", label=r"$\frac{(\lambda-1)^2}{2\lambda}\int D$")
    ax[2].plot(lams, rescaled, "o", label=r"$J_T^h$")
    ax[2].set_xlabel(r"$\lambda$")
    ax[2].set_title("time-rescaled solutions (no transport)")
    ax[2].legend()
    fig.tight_layout()
    path = os.path.join(args.output, "check_jt.png")
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")
