"""Checks and small cases shared by several test modules."""
import numpy as np
import ufl
import firedrake as fd


def drift(h, k, scale=None):
    """``max_t |c(t) − c(0)|`` of history column ``k``, relative to ``scale`` (default
    ``max |c|``)."""
    c = np.array(h.column(k))
    return np.max(np.abs(c - c[0])) / (scale or max(np.max(np.abs(c)), 1e-300))


def assert_same_histories(h1, h2, columns, rtol=1e-10):
    """Two runs (1 and 2 ranks) agree column by column, and neither produced NaN."""
    for col in columns:
        a, b = np.array(h1.column(col)), np.array(h2.column(col))
        assert np.all(np.isfinite(b[1:])) and np.all(np.isfinite(a[1:])), col
        np.testing.assert_allclose(b[1:], a[1:], rtol=rtol, atol=0, err_msg=col)


def jacobian_action_errors(stepper, seed=0, eps=1e-6):
    """``(exact, picard)``: relative errors of the exact (matrix-free) and of the frozen
    (Picard) Jacobian action of a stepper built with ``nonlocal_jacobian="exact"``,
    against a central difference of its residual at its current state."""
    st = stepper
    z0 = st.z.dat.data_ro.copy()
    d = np.random.default_rng(seed).standard_normal(z0.shape)

    def residual(z):
        st.z.dat.data[:] = z
        st.refresh()
        return fd.assemble(st.residual).dat.data_ro.copy().ravel()
    fdiff = (residual(z0 + eps * d) - residual(z0 - eps * d)) / (2 * eps)
    st.z.dat.data[:] = z0
    st.refresh()
    P = fd.assemble(fd.derivative(st.residual, st.z)).petscmat
    x, y = P.createVecs()
    x.setArray(d.ravel())
    P.mult(x, y)
    picard = y.getArray().copy()
    st.step_solver.direction.dat.data[:] = d
    for f, g in st.problem.nonlocal_pairs:
        for op in st.model.friction_operators():
            op.refresh_linearization(f, g)
    exact = picard + fd.assemble(st.step_solver.exact_form).dat.data_ro.ravel()
    norm = np.linalg.norm(fdiff)
    return np.linalg.norm(exact - fdiff) / norm, np.linalg.norm(picard - fdiff) / norm


# ----------------------------------------------------------------------------- small cases
def landau_case(comm=None, gamma=-3.0, cells=3, rule=None):
    """Coulomb (or ``gamma``) Landau on ``[−5, 5]²`` and two offset Maxwellians."""
    from generic_fem import velocity_box
    from forms.landau import Landau
    m = Landau(velocity_box(2, 5.0, cells, comm=comm), gamma=gamma, rule=rule)
    return m, m.maxwellian(1.0, (0.5, 0.0), 1.0) + m.maxwellian(0.5, (-1.0, 0.3), 0.6)


def multispecies_case(comm=None, cells=3, rule=None):
    """Two species (masses 1 and 4, scales 1 and ½), Coulomb, on ``cells``² cells."""
    from generic_fem import velocity_box
    from forms.multispecies_landau import MultispeciesLandau
    m = MultispeciesLandau(velocity_box(2, 5.0, cells, comm=comm), masses=[1.0, 4.0], gamma=-3.0, scales=[1.0, 0.5],
                           rule=rule)
    return m, ufl.as_vector([m.maxwellian(0, 1.0, (0.3, 0.0), 1.0), m.maxwellian(1, 0.5, None, 0.8)])


def fuzzy_case(comm=None):
    """Fuzzy Landau (Duong and He's κ, Coulomb) on 3 × 2² cells, a modulated drifting Maxwellian."""
    from generic_fem import phase_space_box
    from forms.fuzzy_landau import FuzzyLandau, seed003_kappa
    m = FuzzyLandau(phase_space_box(3, 2, 2 * np.pi, 4.0, comm=comm), 2 * np.pi, kappa=seed003_kappa(), gamma=-3.0)
    return m, m.maxwellian(1 + 0.3 * ufl.cos(m.x), (0.5, 0.0), 1.0)


def random_pair_inputs(op, seed=0):
    """Random ``(coeff, t, g, T)`` for the pair sums and contractions of the two-point
    operator ``op`` (positive coefficients times the point weights)."""
    rng = np.random.default_rng(seed)
    n, nl, d = op.n_sets, len(op.weights), op.dim
    coeff = rng.uniform(0.1, 1.0, size=(n, nl)) * op.weights
    t = rng.normal(size=(n, nl, d))
    g = rng.normal(size=(n, nl, d))
    T = rng.normal(size=(n, nl, d, d))
    return coeff, t, g, T
