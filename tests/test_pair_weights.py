"""Kernel weights A(r) stated in UFL and compiled to C (issue 11, §1)."""
import numpy as np
import pytest
import ufl
import firedrake as fd

from generic_fem import run, velocity_box, InvalidParameterError
from generic_fem.pair_weights import PairWeight
from generic_fem.pair_kernels import pair_sums
from forms.landau import Landau

lam = fd.Constant(1.5)
WEIGHTS = {
    "screened Coulomb": lambda r: ufl.exp(-r / lam) / r,
    "regularised Coulomb": lambda r: r ** 3 / (r ** 2 + 0.04) ** 2.5,
    "cut-off power": lambda r: ufl.conditional(ufl.lt(r, 2.0), r ** 0.5, 2.0 ** 0.5 * ufl.exp(2.0 - r)),
    "min of powers": lambda r: ufl.min_value(r ** 2, ufl.sqrt(r)) * (1 + ufl.cos(r) ** 2),
    "erf": lambda r: ufl.erf(r) / r + abs(ufl.ln(r)),
}


@pytest.mark.parametrize("name", list(WEIGHTS))
def test_compiled_weight_matches_firedrake(name):
    """The C translation against Firedrake's own evaluation of the same UFL."""
    weight = PairWeight(WEIGHTS[name])
    mesh = fd.IntervalMesh(50, 0.01, 6.0)
    V = fd.FunctionSpace(mesh, "CG", 1)
    x = fd.SpatialCoordinate(mesh)[0]
    ref = fd.Function(V).interpolate(WEIGHTS[name](x)).dat.data_ro
    r = fd.Function(V).interpolate(x).dat.data_ro
    assert np.allclose(weight.values(r), ref, rtol=1e-13, atol=0)


def test_powers_are_recognised():
    assert PairWeight(lambda r: r ** -1).gamma == -3.0
    assert PairWeight(lambda r: r).gamma == -1.0
    assert PairWeight(lambda r: r ** 2).quadratic
    assert PairWeight.power(-2.5).exponent == -0.5
    assert PairWeight(lambda r: ufl.exp(-r)).gamma is None
    assert PairWeight(lambda r: r ** fd.Constant(2.0)).quadratic


def test_bad_weights_are_refused():
    """A weight must be finite and >= 0 at the distances of the operator's mesh (checked
    when the operator is made; a weight alone can be checked on any range)."""
    mesh = velocity_box(2, 1.0, 2)                 # distances up to 2√2
    with pytest.raises(InvalidParameterError, match="non-negative"):
        Landau(mesh, weight=PairWeight(lambda r: ufl.sin(2 * r)))       # negative beyond π/2
    Landau(mesh, weight=PairWeight(lambda r: 4.0 - r))                  # fine on this box ...
    with pytest.raises(InvalidParameterError, match="non-negative"):
        Landau(velocity_box(2, 3.0, 2), weight=PairWeight(lambda r: 4.0 - r))   # ... not on this one
    with pytest.raises(InvalidParameterError, match="non-negative"):
        PairWeight(lambda r: ufl.ln(r), check_range=(1e-3, 1.0))          # negative for r < 1
    with pytest.raises(InvalidParameterError, match="finite"):
        PairWeight(lambda r: ufl.sqrt(1.0 - r), check_range=(0.5, 2.0))   # NaN for r > 1
    PairWeight(lambda r: ufl.exp(r))                                      # no range given: accepted
    with pytest.raises(InvalidParameterError, match="not finite"):
        PairWeight(lambda r: r * fd.Constant(np.inf))
    with pytest.raises(InvalidParameterError, match="gamma"):
        Landau(mesh, weight=PairWeight.power(5.0))
    mesh2 = fd.UnitSquareMesh(2, 2)
    u = fd.Function(fd.FunctionSpace(mesh2, "CG", 1))
    with pytest.raises(InvalidParameterError, match="Function is not supported"):
        PairWeight(lambda r: r * u)
    with pytest.raises(InvalidParameterError, match="scalar"):
        PairWeight(lambda r: ufl.as_vector([r, r]))
    with pytest.raises(InvalidParameterError, match="callable"):
        PairWeight(2.0)


@pytest.mark.parametrize("d", [2, 3])
def test_pair_sums_with_a_ufl_weight_match_direct_sums(d):
    weight = PairWeight(WEIGHTS["screened Coulomb"])
    rng = np.random.default_rng(5)
    N = 150
    x, c, g = rng.standard_normal((N, d)), rng.random(N), rng.standard_normal((N, d))
    G, J = pair_sums(weight, x, g, x, c, g)
    z = x[:, None, :] - x[None, :, :]
    r = np.sqrt((z ** 2).sum(-1))
    np.fill_diagonal(r, 1.0)
    s = c[None, :] * np.exp(-r / 1.5) / r / r ** 2
    np.fill_diagonal(s, 0.0)
    a = s[..., None, None] * (r[..., None, None] ** 2 * np.eye(d) - z[..., :, None] * z[..., None, :])
    assert np.abs(G - a.sum(1)).max() <= 1e-13 * np.abs(a.sum(1)).max()
    Jr = np.einsum("qpij,qpj->qi", a, g[:, None, :] - g[None, :, :])
    assert np.abs(J - Jr).max() <= 1e-13 * np.abs(Jr).max()


@pytest.mark.parametrize("dim", [2, 3])
def test_landau_with_a_screened_kernel_conserves_and_dissipates(dim):
    """A user's kernel, written in UFL and nothing else: Coulomb with an exponential cut-off in the relative velocity."""
    weight = PairWeight(lambda r: ufl.exp(-r / lam) / r, name="exp(-r/lambda_D)/r")
    mesh = velocity_box(dim, 5.0, 4 if dim == 2 else 2)
    model = Landau(mesh, weight=weight, C=1.0)
    v = model.coordinates
    f0 = model.maxwellian(1.0, [0.5] + [0.0] * (dim - 1), 1.0) + model.maxwellian(0.5, [-1.0] + [0.3] * (dim - 1), 0.5)
    h = run(model, f0, t_end=0.2, dt=0.1)
    for k in ["mass", "energy"] + [f"momentum_{i}" for i in range(dim)]:
        c = np.array(h.column(k))
        err = np.abs(c - c[0]).max() / max(np.abs(c).max(), 1.0)
        assert err <= 1e-10, (k, err)
    assert np.all(np.diff(h.column("H")) < 0)
    assert "exp(-r/lambda_D)/r" in model.describe()
