"""The invariants of a state under the nodal rule from nodal values
(:class:`~generic_fem.invariants.InvariantMoments`) against the assembled forms."""
import numpy as np
import pytest
import firedrake as fd

from generic_fem.invariants import InvariantMoments
from robustness_cases import build


@pytest.mark.parametrize("case", [("landau_g-3", "box5", "two_bumps"),
                                  ("fermi_dirac", "box5", "near_saturated"),
                                  ("multispecies", "box5", "heating")])
def test_nodal_moments_match_assembled_forms(case):
    _check_moments(case)


@pytest.mark.parallel(nprocs=2)
def test_nodal_moments_two_ranks():
    """The same on two ranks (owned nodes summed over the ranks)."""
    _check_moments(("multispecies", "box5", "heating"))


def _check_moments(case):
    model, f0 = build(*case)
    assert model.rule.kind == "nodal"
    w = model.state_from_density(f0)
    psi = [fd.Function(model.V).interpolate(p) for p in model.invariant_densities().values()]
    nodal = InvariantMoments(model, psi, w)
    forms = InvariantMoments(model, psi, w, nodal=False)
    assert not forms.nodal and nodal.nodal
    for name in ("values", "absolute", "jacobian"):
        a, b = getattr(nodal, name)(), getattr(forms, name)()
        err = np.max(np.abs(a - b)) / np.max(np.abs(b))
        print(f"{case[0]} {name}: relative difference {err:.1e}")
        assert err < 1e-13
