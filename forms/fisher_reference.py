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

__all__ = ["r", "theta", "maxwellian", "fisher_rate_along_L", "CounterexampleDatum", "FisherRateStudy",
           "fisher_rate_study", "fisher_information"]

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


class CounterexampleDatum:
    r"""The datum of Junné–Winter–Yoldaş's counterexample (arXiv:2512.17082, §3.2), with a
    positive profile in place of their compact cut-off, axisymmetric about ``e_∥``:

    .. math::

       f = f_1 + f_2, \quad f_1 = e^{R|v|^{|γ|/2} \cos θ} χ(v/r), \quad f_2 = κ χ(v/τ),
       \quad r = R^{2/γ}/\log(2 + R),

       χ(x) = (ε + |x|^{2k}) e^{−k|x|²}/Z, \qquad χ_2(x) = (ε_2 + |x|^{2k}) e^{−k|x|²}/Z_2,

    (``f_2 = κ χ_2(v/τ)``), ``k`` (default 4), ``Z, Z_2`` making ``∫χ = ∫χ_2 = 1``: a positive smooth
    radial bump peaked at ``|x| = 1`` with 95% of its mass in ``½ ≤ |x| ≤ 2`` (for
    ``ε ≤ 10⁻³``; the paper's ``χ`` is supported there) and Gaussian tails, so that
    ``log f`` exists.  ``κ, τ`` give unit mass and kinetic energy ``∫ ½|v|² f = 3/2``
    (closed form once the mass and energy of ``f_1`` are integrated).  Defaults
    ``ε = 10⁻⁸``, ``ε_2 = 0``: ``f_1`` sits on its annulus (the paper's mechanism) and is
    the floor of ``f`` at the origin, where ``f_2`` vanishes like ``|v|^{2k}``, so the
    angular part of ``log f`` is ``f_1``'s there.  With a floor in both profiles the origin
    mixes them: with ``ε = ε_2 = 10⁻³`` the ``L`` part of ``dI/dt`` is negative for every
    ``γ`` measured.  With ``ε = 10⁻²`` a quarter of the ``L`` part comes from ``|v| < r/2``,
    where ``L`` relaxes at rates ``~ c_ei |v|^{−3}`` (docs "Seed 004 on screen").

    :arg gamma: ``γ ∈ [−3, −2]``; :arg R: ``R ≥ 1``; :arg eps: ``ε``; :arg even: the
        symmetrised ``f_1`` (``cosh`` in place of ``exp``: ``f(v) = f(−v)``); :arg eps2:
        ``ε_2`` (``None``: ``ε``); :arg k: the profiles' exponent (a larger ``k``
        concentrates ``f_1`` on its annulus and makes ``log f`` steeper: the ``Q`` part of
        ``dI/dt`` grows like ``k^{1.6}``, measured).
    """

    def __init__(self, gamma, R, eps=1e-8, even=False, eps2=0.0, k=4):
        self.gamma, self.R, self.eps, self.even = float(gamma), float(R), float(eps), bool(even)
        if int(k) != k or k < 1:
            raise ValueError(f"CounterexampleDatum: k must be a positive integer, got {k}")
        self.k = int(k)
        #: the floor ``ε_2`` of ``f_2``'s profile
        self.eps2 = self.eps if eps2 is None else float(eps2)
        k = self.k
        prof = lambda x2: (self.eps + x2 ** k) * np.exp(-k * x2)
        prof2 = lambda x2: (self.eps2 + x2 ** k) * np.exp(-k * x2)
        hint = [0.3, 1.0, 2.0]
        #: ``Z`` (``∫ χ = 1``) of ``f_1``'s and ``f_2``'s profiles
        self.Z = quad(lambda x: 4 * np.pi * x * x * prof(x * x), 0, 20, limit=200, points=hint)[0]
        self.Z2 = quad(lambda x: 4 * np.pi * x * x * prof2(x * x), 0, 20, limit=200, points=hint)[0]
        e_chi = quad(lambda x: 2 * np.pi * x ** 4 * prof2(x * x), 0, 20, limit=200, points=hint)[0] / self.Z2
        self.r = R ** (2.0 / self.gamma) / np.log(2.0 + R)
        p, r0 = abs(self.gamma) / 2, self.r

        def shell(rho):       # ∫ over the sphere of radius rho of f_1 (the μ-integral in closed form)
            a = R * rho ** p
            s = 2.0 if a < 1e-8 else 2 * np.sinh(a) / a     # (∫ e^{aμ} dμ = ∫ cosh(aμ) dμ)
            return 2 * np.pi * rho * rho * s * prof((rho / r0) ** 2) / self.Z
        pts = [r0 / 4, r0, 2 * r0]
        #: mass and kinetic energy of ``f_1``
        self.m1 = quad(shell, 0, 20 * r0, limit=400, points=pts)[0]
        self.e1 = quad(lambda rho: 0.5 * rho * rho * shell(rho), 0, 20 * r0, limit=400, points=pts)[0]
        if not (self.m1 < 1 and self.e1 < 1.5):
            raise ValueError(f"CounterexampleDatum: f_1 alone has mass {self.m1:.3g} and energy {self.e1:.3g}: "
                             "no κ, τ give unit mass and energy 3/2 (take a larger R)")
        self.tau = np.sqrt((1.5 - self.e1) / ((1 - self.m1) * e_chi))
        self.kappa = (1 - self.m1) / self.tau ** 3

    def breaks(self):
        """Radii where the datum changes fast (for :func:`fisher_rate_along_L`)."""
        return [self.r * c for c in (0.1, 0.25, 0.5, 1, 2, 4, 8)] + [self.tau * c for c in (0.25, 0.5, 1, 2)]

    def sympy(self):
        """``f(r, θ)`` as a SymPy expression (:data:`r`, :data:`theta`)."""
        k, Z, p = self.k, self.Z, sp.Float(abs(self.gamma) / 2)
        ang = self.R * r ** p * sp.cos(theta)
        rad1 = -k * r ** 2 / self.r ** 2
        pre1 = (self.eps + (r / self.r) ** (2 * k)) / Z
        f1 = pre1 * (sp.exp(ang + rad1) if not self.even else (sp.exp(ang + rad1) + sp.exp(-ang + rad1)) / 2)
        f2 = self.kappa * (self.eps2 + (r / self.tau) ** (2 * k)) * sp.exp(-k * r ** 2 / self.tau ** 2) / self.Z2
        return f1 + f2

    def ufl(self, model):
        """``f`` as UFL on an axisymmetric model (``model.speed2 = |v|²``, ``v_∥`` its second
        coordinate); the exponentials combined so that none overflows at the box edge."""
        import ufl
        k, Z, p = self.k, self.Z, abs(self.gamma) / 2
        s2 = model.speed2
        v_par = model.coordinates[1]
        ang = self.R * v_par * s2 ** ((p - 1) / 2)       # R |v|^p cos θ (p ≥ 1: finite at 0)
        rad1 = -k * s2 / self.r ** 2
        pre1 = (self.eps + (s2 / self.r ** 2) ** k) / Z
        f1 = pre1 * (ufl.exp(ang + rad1) if not self.even else 0.5 * (ufl.exp(ang + rad1) + ufl.exp(-ang + rad1)))
        f2 = self.kappa * (self.eps2 + (s2 / self.tau ** 2) ** k) * ufl.exp(-k * s2 / self.tau ** 2) / self.Z2
        return f1 + f2

    def extent(self):
        """A radius beyond which ``f`` is below 1e-10 of its peak: ``max(4, 3τ)`` (``f_2``'s
        profile at ``|v| = 3τ`` is 1e-10 of its peak; at ``R = 1`` ``f_1`` holds 93% of the
        mass and ``f_2`` is wide, ``τ = 4.5``)."""
        return max(4.0, 3.0 * self.tau)

    def l_part(self, c_ei=1.0, radius=None, epsrel=1e-8):
        """``c_ei ⟨I'(f), L f⟩`` by :func:`fisher_rate_along_L` over ``|v| ≤ radius`` (default
        twice :meth:`extent`)."""
        radius = 2 * self.extent() if radius is None else radius
        return fisher_rate_along_L(self.sympy(), self.gamma, radius, c_ei, epsrel, self.breaks())


def fisher_information(model):
    """``w ↦ I = ∫ |∇f|²/f = ∫ F(w) |∇w|²`` as a UFL 0-form (Boltzmann entropy, ``∇ log f =
    ∇w``; the meridian gradient in axisymmetric velocity space), for
    :func:`generic_fem.time_derivatives`."""
    import ufl
    grad = model.velocity.gradient
    return lambda w: model.density(w) * ufl.inner(grad(w), grad(w)) * model.dx


class FisherRateStudy:
    """What :func:`fisher_rate_study` measured: ``total``, ``Q``, ``L`` (``dI/dt`` and its
    parts on the finest mesh used), ``error`` (per part, the change from the previous
    mesh: the discretisation errors fall by about 20 when ``segments`` and
    ``per_doubling`` are both doubled, so this bounds the finest mesh's error with a margin), ``levels`` (per mesh: ``(segments,
    per_doubling, cells, total, Q, L)``) and ``certain`` (``|total| > error["total"]``:
    the sign is settled)."""

    def __init__(self, levels):
        self.levels = levels
        last = levels[-1]
        self.total, self.Q, self.L = last[3], last[4], last[5]
        prev = levels[-2] if len(levels) > 1 else None
        self.error = {k: (abs(last[i] - prev[i]) if prev else float("inf"))
                      for k, i in (("total", 3), ("Q", 4), ("L", 5))}
        self.certain = abs(self.total) > self.error["total"]

    def __repr__(self):
        return (f"FisherRateStudy(dI/dt = {self.total:.4g} ± {self.error['total']:.2g}, "
                f"Q {self.Q:.4g} ± {self.error['Q']:.2g}, L {self.L:.4g} ± {self.error['L']:.2g})")


#: the meshes of :func:`fisher_rate_study`: ``(segments, per_doubling)`` of
#: :func:`~generic_fem.core.meshes.graded_half_disc`
STUDY_LEVELS = ((16, 4), (24, 6), (32, 8), (64, 16))


def fisher_rate_study(datum, c_ei=1.0, levels=STUDY_LEVELS, radius=None, comm=None):
    """``dI/dt`` of the infinite-mass Landau model (:class:`forms.landau_infinite_mass.
    LandauInfiniteMass`, ``γ`` and ``R`` of ``datum``, ``c_ei``) at the datum, with its
    ``Q`` and ``L`` parts (:func:`generic_fem.time_derivatives`), on
    :func:`~generic_fem.core.meshes.graded_half_disc` meshes of ``|v| ≤ radius`` (default
    :meth:`CounterexampleDatum.extent`) whose innermost circle is ``r/1024`` (the bump's scale ``r`` resolved at every ``R``: the
    meshes are the same up to scale near the origin), refined through ``levels`` until the
    sign of ``dI/dt`` is certain (at least two meshes, unless ``levels`` has one: then
    no error bar).  Returns a :class:`FisherRateStudy`."""
    from generic_fem.core.meshes import graded_half_disc
    from generic_fem.drivers.rates import time_derivatives
    from forms.landau_infinite_mass import LandauInfiniteMass
    if not len(levels):
        raise ValueError("fisher_rate_study: levels must name at least one (segments, per_doubling)")
    out = []
    radius = datum.extent() if radius is None else float(radius)
    for segments, per_doubling in levels:
        mesh = graded_half_disc(radius, datum.r / 1024, segments, per_doubling, comm=comm)
        model = LandauInfiniteMass(mesh, gamma=datum.gamma, c_ei=c_ei)
        w = model.state_from_density(datum.ufl(model), what="seed 004's datum")
        rate = time_derivatives(model, w, {"I": fisher_information(model)})
        cells = mesh.comm.allreduce(mesh.cell_set.size)
        out.append((segments, per_doubling, cells, rate["I"]["total"], rate["I"]["parts"]["Q"],
                    rate["I"]["parts"]["L"]))
        if len(out) >= 2 and FisherRateStudy(out).certain:
            break
    return FisherRateStudy(out)
