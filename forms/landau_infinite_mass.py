r"""Landau equation with scattering off infinitely heavy ions (docs/models.rst, Multispecies Landau and Infinite-mass limit; Junné–Winter–Yoldaş, arXiv:2512.17082 (1.9)–(1.12)).

.. math::

   ∂_t f = Q_γ(f, f) + c_{ei}\, ∇·\big(|v|^{2+γ} Π(v) ∇f\big), \qquad Π(v) = I − \frac{v ⊗ v}{|v|^2},

the electron–electron Landau operator (:class:`forms.landau.Landau`) plus the
infinite-mass limit of electron–ion collisions (pitch-angle scattering; seed (1.10) is
``γ = −3``).  GENERIC gradient flow with ``S = −∫ f log f`` (``w = log f + 1``) and the
friction a *sum of two operator objects*: the shared two-point operator and the local

.. math::  ⟨φ, M_L(f) g⟩ = c_{ei} ∫ ∇φ · f\, |v|^{2+γ} Π(v)\, ∇g\,dv

(:class:`~generic_fem.friction.operators.LocalFriction`), symmetric positive semidefinite with
``Π(v)∇|v|² = 0``: mass and energy are conserved to the solver tolerance, momentum is
not (it decays), and the entropy decreases for every stepper.  The only equilibria are
the centred Maxwellians.

Diagnostics (history columns): the Fisher information ``I = ∫|∇ log f|² f``, the
spherical Fisher information ``J = ∫ |Π(v)∇ log f|² f/|v|`` (seed, after (1.10)), the
relative entropy ``H(f|M_{T°})`` to the centred Maxwellian of the same mass and energy,
and ``Λ = I + aJ + R H(f|M_{T°})`` (seed (1.12); ``a, R`` are the model's parameters).
"""
import numpy as np
import ufl
import firedrake as fd

from generic_fem.core.errors import InvalidParameterError
from generic_fem.core.meshes import cell_extent
from generic_fem.friction.operators import LocalFriction
from forms.landau import Landau

__all__ = ["LandauInfiniteMass"]


class LandauInfiniteMass(Landau):
    """``∂_t f = Q_γ(f, f) + c_ei ∇·(|v|^{2+γ}Π(v)∇f)``.

    :arg mesh: velocity mesh, ``d = 2, 3``.
    :arg gamma: the exponent of the Landau kernel ``C|z|^{γ+2}Π(z)``, ``γ ∈ [−3, 1]``.
    :arg C: its constant.
    :arg c_ei: ``c_ei > 0``, the electron–ion coupling.
    :arg a: the weight of ``J`` in ``Λ = I + aJ + R H(f|M_{T°})`` (seed (1.12)), ``> 0``.
    :arg R: the weight of ``H(f|M_{T°})`` in ``Λ``, ``> 0``.
    :arg rule: the quadrature rule.  A quadrature point at the origin (a node of the
        nodal rule, the centroid of a simplex rule) gets the tensor ``0`` there: for
        ``γ < −2`` ``|v|^{2+γ}Π(v)`` is unbounded at ``v = 0`` (integrably so), and a
        point counts as the origin when ``|v|`` is below ``1e-8`` of its cell's extent (the
        largest spread of the cell's nodes in a mesh coordinate, :func:`~generic_fem.core.meshes.cell_extent`),
        since a node computed as the midpoint of ``[−R, R]`` lies at ``|v| ≈ 1e-16``, not
        ``0`` (where the tensor is ``1e16``).  (Relative to the cell, not to the mesh:
        meshes graded towards the origin have nodes at ``|v| ~ 1e-12`` of the extent,
        :func:`~generic_fem.core.meshes.graded_half_disc`.)
    """
    name = "landau_infinite_mass"

    def __init__(self, mesh, gamma=-3.0, C=1.0, c_ei=1.0, a=1.0, R=1.0, degree=2, quadrature_degree=None, rule=None):
        for label, x in (("c_ei", c_ei), ("a", a), ("R", R)):
            if not (np.isfinite(x) and x > 0):
                raise InvalidParameterError(f"LandauInfiniteMass: {label} must be positive, got {x}")
        if not (np.isfinite(gamma) and -3.0 <= gamma <= 1.0):
            raise InvalidParameterError(f"LandauInfiniteMass: gamma must lie in [-3, 1], got {gamma}")
        super().__init__(mesh, gamma=gamma, C=C, degree=degree, quadrature_degree=quadrature_degree, rule=rule)
        self.c_ei, self.a, self.R = float(c_ei), float(a), float(R)
        #: ``|v|²`` below which a point counts as the origin (class docstring; UFL)
        self.origin_tol2 = (1e-8 * cell_extent(mesh)) ** 2
        #: the local electron–ion operator ``M_L``
        self.ion_scattering = LocalFriction(self._ion_form)
        # (the names of the parts of generic_fem.time_derivatives)
        self.pairs.label, self.ion_scattering.label = "Q", "L"

    def scattering_tensor(self):
        """``c_ei |v|^{2+γ} Π(v) = c_ei |v|^γ (|v|² I − v ⊗ v)`` (UFL)."""
        v = self.coordinates
        r2 = self.speed2
        # |v|^γ(|v|²I − v⊗v) → 0 at v = 0 for γ > −2 and is unbounded for γ < −2; a
        # quadrature point at the origin (up to round-off) gets 0 (class docstring)
        off = ufl.gt(r2, self.origin_tol2)
        scale = ufl.conditional(off, ufl.conditional(off, r2, 1.0) ** (0.5 * self.gamma), 0.0)
        return self.c_ei * scale * (r2 * ufl.Identity(self.dim) - ufl.outer(v, v))

    def _ion_form(self, f, g, phi):
        grad = self.velocity.gradient    # (the meridian gradient in axisymmetric velocity space)
        return ufl.inner(grad(phi), f * ufl.dot(self.scattering_tensor(), grad(g))) * self.dx

    def friction_operators(self):
        return (self.pairs, self.ion_scattering)

    def invariant_densities(self):
        return {"mass": fd.Constant(1.0), "energy": 0.5 * self.speed2}

    def momentum(self, f):
        """``∫ v f`` (not conserved: decays by scattering off the ions)."""
        v = self.coordinates
        return np.array([fd.assemble(v[i] * f * self.dx) if i in self.velocity.momentum_indices else 0.0
                         for i in range(self.dim)])

    def diagnostics(self, w, t=None):
        """``fisher`` ``I``, ``spherical_fisher`` ``J``, ``relative_entropy``
        ``H(f|M_{T°})`` and ``lyapunov`` ``Λ = I + aJ + R H(f|M_{T°})``, with ``∇ log f = ∇w``
        and ``M_{T°}`` the centred Maxwellian of the same mass ``ρ`` and energy
        (``T° = 2E/(dρ)``)."""
        f = self.density(w)
        v = self.coordinates
        r2 = self.speed2
        gw = self.velocity.gradient(w)
        off = ufl.gt(r2, self.origin_tol2)
        safe = ufl.conditional(off, r2, 1.0)      # a point at v = 0 contributes 0 to J
        Pg = gw - ufl.dot(v, gw) / safe * v
        I = float(fd.assemble(ufl.dot(gw, gw) * f * self.dx))
        J = float(fd.assemble(ufl.conditional(off, ufl.dot(Pg, Pg) * f / ufl.sqrt(safe), 0.0) * self.dx))
        rho = float(fd.assemble(f * self.dx))
        E = float(fd.assemble(0.5 * r2 * f * self.dx))
        d = self.velocity_dim
        T = 2 * E / (d * rho)
        logM = np.log(rho) - 0.5 * d * np.log(2 * np.pi * T) - r2 / (2 * T)
        Hrel = float(fd.assemble(f * (w - 1.0 - logM) * self.dx))
        return {"fisher": I, "spherical_fisher": J, "relative_entropy": Hrel,
                "lyapunov": I + self.a * J + self.R * Hrel}

    def describe(self):
        return (f"LandauInfiniteMass(dim={self.velocity.label}, gamma={self.gamma:g}, C={self.C:g}, c_ei={self.c_ei:g}, "
                f"degree={self.degree}, N_q={self.pairs.n_global})")
