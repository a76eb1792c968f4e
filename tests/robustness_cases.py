"""The robustness matrix of issue 10: ordinary data on ordinary velocity meshes.

Each case is ``(model, mesh, data, scheme, steps)``; :func:`build` makes the model,
the initial density and the run parameters.  Shared by ``tests/test_robust_solves.py``
(the cases that run today, coarse meshes, few steps) and ``benchmarks/robustness.py``
(the whole matrix, with timings and iteration counts)."""
import numpy as np
import ufl

from generic_fem import velocity_box, velocity_ball
from forms.landau import Landau, maxwellian
from forms.landau_fermi_dirac import LandauFermiDirac
from forms.multispecies_fp import MultispeciesFokkerPlanck


def _vec(d, *c):
    return ufl.as_vector([float(x) for x in c] + [0.0] * (d - len(c)))


# --------------------------------------------------------------------------- data
def two_gaussians(v, d):
    """Two Maxwellians of different widths, the narrow one at ``T = 0.2``."""
    return maxwellian(v, 0.7, [1.0] + [0.0] * (d - 1), 0.2) + \
        maxwellian(v, 0.3, [-1.0, 0.5] + [0.0] * (d - 2), 1.0)


def two_bumps(v, d):
    """``exp(−|v−(1,0)|²) + 0.8 exp(−2|v+(1,0.3)|²)`` (the first case of issue 10)."""
    a, b = v - _vec(d, 1.0), v + _vec(d, 1.0, 0.3)
    return ufl.exp(-ufl.dot(a, a)) + 0.8 * ufl.exp(-2 * ufl.dot(b, b))


def shifted_narrow(v, d):
    """``exp(−|v−(1.5,0)|²/0.5)``."""
    a = v - _vec(d, 1.5)
    return ufl.exp(-ufl.dot(a, a) / 0.5)


def anisotropic(v, d):
    """A Gaussian with temperatures 1.5, 0.3 (, 0.8)."""
    T = [1.5, 0.3, 0.8][:d]
    return ufl.exp(-sum(v[i] ** 2 / (2 * T[i]) for i in range(d)))


def ring(v, d):
    """``exp(−(|v|−2)²/0.3)``."""
    r = ufl.sqrt(ufl.dot(v, v))
    return ufl.exp(-(r - 2.0) ** 2 / 0.3)


def bump_on_tail(v, d):
    """A bulk Maxwellian with a 10 % cold beam at ``v_1 = 3``."""
    return maxwellian(v, 0.9, None, 1.0) + maxwellian(v, 0.1, [3.0] + [0.0] * (d - 1), 0.3)


def modulated(v, d):
    """A Maxwellian times ``1 + 0.5 cos(2 v_1)``."""
    return maxwellian(v, 1.0, None, 1.0) * (1 + 0.5 * ufl.cos(2 * v[0]))


LANDAU_DATA = {"two_gaussians": two_gaussians, "two_bumps": two_bumps,
               "shifted_narrow": shifted_narrow, "anisotropic": anisotropic, "ring": ring,
               "bump_on_tail": bump_on_tail, "modulated": modulated}


# --------------------------------------------------------------------------- meshes
#: ``name: (dimension, half-width R, cells per direction)`` of the boxes
BOXES = {"box5": (2, 5.0, 6), "box6": (2, 6.0, 8), "box8": (2, 8.0, 8), "box10": (2, 10.0, 10),
         "box3d5": (3, 5.0, 4), "box3d6": (3, 6.0, 4)}


def _box(name, refine=1.0):
    dim, R, cells = BOXES[name]
    return lambda: velocity_box(dim, R, int(round(cells * refine)))


MESHES = {k: _box(k) for k in BOXES}
MESHES["ball6"] = lambda: velocity_ball(2, 6.0, 2)
# (insertion order: the 2D boxes, the ball, the 3D boxes)
MESHES = {k: MESHES[k] for k in ("box5", "box6", "box8", "box10", "ball6", "box3d5", "box3d6")}


def build(model_name, mesh_name, data_name, rule=None, refine=1.0):
    """``(model, f0)`` for one case (``rule``: the models' quadrature rule; ``refine``:
    a factor on the cells per direction of a box)."""
    mesh = MESHES[mesh_name]() if refine == 1.0 else _box(mesh_name, refine)()
    if model_name.startswith("landau_g"):
        gamma = float(model_name[len("landau_g"):])
        model = Landau(mesh, gamma=gamma, C=1.0, rule=rule)
        return model, LANDAU_DATA[data_name](model.coordinates, model.dim)
    if model_name == "fermi_dirac":
        eps = 0.3
        model = LandauFermiDirac(mesh, eps=eps, gamma=-3.0, C=1.0, rule=rule)
        v, d = model.coordinates, model.dim
        if data_name == "near_saturated":
            # a flat-topped core at eps f = 0.99 with Gaussian flanks (no underflow)
            a = v - _vec(d, 0.5)
            f0 = (0.97 * ufl.exp(-(ufl.dot(a, a) / 1.5) ** 2) + 0.02 * ufl.exp(-ufl.dot(a, a) / 2)) / eps
        elif data_name == "dense_two_bumps":
            f0 = 2.5 * two_bumps(v, d)
        else:
            f0 = LANDAU_DATA[data_name](v, d)
        return model, f0
    if model_name == "multispecies":
        # two species, heated by the other (T: 0.5 -> about 1.5, a factor 3) on a box
        # scaled to the final temperature
        d = mesh.geometric_dimension() if callable(mesh.geometric_dimension) else mesh.geometric_dimension
        T_cold, T_hot = (0.5, 2.5) if data_name == "heating3" else (0.5, 2.17)
        sigma = np.sqrt(0.5 * (T_cold + T_hot))   # the final temperature's thermal speed
        model = MultispeciesFokkerPlanck(mesh, masses=[1.0, 1.0], charges=[1.0, 1.0],
                                         scales=[sigma, sigma], gamma=0.0, log_lambda=10.0, rule=rule)
        f0 = ufl.as_vector([model.maxwellian(0, 0.5, None, T_cold),
                            model.maxwellian(1, 0.5, [0.3] + [0.0] * (d - 1), T_hot)])
        return model, f0
    raise KeyError(model_name)
