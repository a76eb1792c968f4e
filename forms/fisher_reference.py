r"""Reference values for the Fisher information of the infinite-mass Landau model: the
rate of ``I(f) = ∫ |∇f|²/f`` along the electron–ion scattering operator
``L f = ∇·(|v|^{2+γ} Π(v) ∇f)`` by quadrature of the explicit formula of
Junné–Winter–Yoldaş, arXiv:2512.17082, Proposition 3.3 (their (3.13)).

In spherical variables ``v = r ω`` (``θ`` the angle from the axis ``e_∥``) and for an
axisymmetric datum, ``g = log f(r, θ)``, Proposition 3.3 reads

.. math::

   ⟨I'(f), L f⟩ = −2 \int_0^∞ \int_0^π r^γ \Bigl[\bigl(r ∂_r g_θ + \tfrac{γ}{2} g_θ\bigr)^2
     + Γ_2(g, g) − \tfrac{γ^2}{4} g_θ^2\Bigr] f \, 2π \sin θ \, dθ \, dr,

with the ``Γ_2`` of the unit sphere, ``Γ_2(g, g) = ‖∇²_{S²} g‖²_{HS} + |∇_{S²} g|² =
g_θθ² + \cot²θ\, g_θ² + g_θ²`` for ``g`` independent of the azimuth (the measure ``dr dω``
is the full ``dv``: the ``r²`` is absorbed, as in the paper's (3.4)).  For their datum
``g = R r^{|γ|/2} cos θ + (radial)`` the first square vanishes and the bracket is
``R² r^{|γ|}(2cos²θ − ((γ² − 4)/4) sin²θ)``, whose sign on the sphere changes at
``γ² = 8``.

The datum is given as a SymPy expression in ``(r, θ)`` (:data:`r`, :data:`theta`); the
derivatives are symbolic, the integral adaptive (SciPy), to about 1e-10 relative for
smooth data.
"""
import numpy as np
import sympy as sp
from scipy.integrate import quad

__all__ = ["r", "theta", "maxwellian", "fisher_rate_along_L"]

#: the spherical variables of the datum (``θ`` from the axis ``e_∥``)
r, theta = sp.symbols("r theta", positive=True)


def maxwellian(density, u_par, temperature):
    """``n (2πT)^{−3/2} exp(−|v − u e_∥|²/(2T))`` in ``(r, θ)`` (SymPy)."""
    v_par, v_perp = r * sp.cos(theta), r * sp.sin(theta)
    return density * (2 * sp.pi * temperature) ** sp.Rational(-3, 2) * \
        sp.exp(-((v_par - u_par) ** 2 + v_perp ** 2) / (2 * temperature))


def fisher_rate_along_L(f, gamma, radius, c_ei=1.0, epsrel=1e-11, breaks=()):
    """``c_ei ⟨I'(f), L f⟩`` (module docstring) for the SymPy datum ``f(r, θ)``, integrated
    over ``|v| ≤ radius``; ``breaks``: radii where the datum changes fast (the radial
    integral is split there, so that the adaptive quadrature sees every feature)."""
    g = sp.log(f)
    gt = sp.diff(g, theta)
    gtt = sp.diff(gt, theta)
    grt = sp.diff(gt, r)
    bracket = ((r * grt + sp.Rational(1, 2) * gamma * gt) ** 2 + gtt ** 2
               + (sp.cos(theta) / sp.sin(theta)) ** 2 * gt ** 2 + gt ** 2 - sp.Rational(1, 4) * gamma ** 2 * gt ** 2)
    integrand = sp.lambdify((r, theta), r ** gamma * bracket * f * 2 * sp.pi * sp.sin(theta), "numpy")
    tiny = 1e-12

    def shell(rr):
        return quad(lambda t: integrand(rr, t), tiny, np.pi - tiny, limit=200, epsabs=0.0, epsrel=epsrel)[0]
    edges = [tiny] + sorted(float(b) for b in breaks if tiny < b < radius) + [float(radius)]
    return -2.0 * float(c_ei) * sum(quad(shell, a, b, limit=200, epsabs=0.0, epsrel=epsrel)[0]
                                    for a, b in zip(edges, edges[1:]))
