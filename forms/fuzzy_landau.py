r"""The fuzzy Landau equation in phase space (docs/models.rst, Fuzzy Landau; Gualdani–Guillen–Pavlović–Tasković–Zamponi, arXiv:2507.08689; Duong–He, arXiv:2504.07666), 1x2v.

.. math::

   ∂_t f + v_1 ∂_x f = ∇_v·∫∫ κ(x − x_*)\, a(v − v_*)\,(f_* ∇_v f − f ∇_{v_*} f_*)\,dx_*\,dv_*,
   \qquad a(z) = C A(|z|) Π(z),\ A = |z|^{γ+2},

on ``x ∈ T`` (periodic, length ``ℓ``) × ``v ∈ [−V, V]²``: spatial collisions are not
local, every pair of particles interacts with the weight ``κ(x − x_*)`` (Duong–He, arXiv:2504.07666 (2.2):
``κ(s) = k₁ exp(−k₂⟨s⟩)``; ``κ ≡ 1`` and ``κ → δ`` are the limits).  GENERIC (Duong–He, arXiv:2504.07666
App. A; docs/models.rst, Fuzzy Landau):

* ``E = ½ ∫|v|² f``, ``S = −∫ f log f`` (``H = ∫ f log f``), ``w = log f + 1``;
* ``⟨φ, L(f) g⟩ = ∫ f (∂_x φ ∂_{v_1} g − ∂_{v_1} φ ∂_x g)`` (free transport,
  ``L dE = −v_1 ∂_x f``, ``L dS = 0``; antisymmetric exactly);
* ``⟨φ, M(f) g⟩ = ½ ∫∫ κ f f_* (∇_vφ − ∇_{v_*}φ_*)·a(v − v_*)(∇_v g − ∇_{v_*} g_*)``, the
  shared two-point operator (:class:`~generic_fem.friction.two_point.TwoPointFriction`) over
  phase-space points with the spatial weight ``κ``
  (:class:`~generic_fem.kernels.spatial_weights.PeriodicSpatialWeight`): its sums over ``x_*`` are
  a convolution along ``x``, so one evaluation costs ``O(N_x N_v²)`` pair work
  (``O(N_x N_v)`` for ``γ = 0``), not ``O((N_x N_v)²)``.

Conserved to the solver tolerance: total mass, momentum ``∫ v f`` and energy.  Every
function of ``x`` alone is in the kernel of ``M`` (``∇_v ψ(x) = 0``): the collisions keep
the local density ``∫ f dv`` at every ``x`` exactly, but not the local momentum and
energy (only their ``x``-integrals).  Diagnostics (history columns): the Fisher
informations ``I_x = ∫|∂_x f|²/f``, ``I_v = ∫|∇_v f|²/f`` and
``I_mix(t) = ∫ (|t∂_x f + ∂_{v_1} f|² + |∂_{v_2} f|²)/f`` (Gualdani–Guillen–Pavlović–Tasković–Zamponi, arXiv:2507.08689 Theorems 4, 5 in 1x2v:
``t∇_x + ∇_v`` with ``∇_x`` along ``v_1``; it commutes with free transport).
"""
import numpy as np
import ufl
import firedrake as fd
from generic_fem.core.parameters import value
from mpi4py import MPI

from generic_fem.models.model import GenericModel
from generic_fem.core.errors import InvalidParameterError
from generic_fem.friction.two_point import TwoPointFriction
from generic_fem.kernels.pair_weights import PairWeight
from generic_fem.kernels.spatial_weights import PeriodicSpatialWeight
from generic_fem.core.meshes import is_periodic

__all__ = ["FuzzyLandau", "seed003_kappa"]


def seed003_kappa(k1=1.0, k2=1.0):
    """Duong–He, arXiv:2504.07666 (2.2): ``κ(s) = k₁ exp(−k₂ √(1 + s²))`` (a callable for ``kappa=``)."""
    return lambda s: k1 * ufl.exp(-k2 * ufl.sqrt(1 + s * s))


class FuzzyLandau(GenericModel):
    """The fuzzy Landau equation on ``T × [−V, V]²`` (module docstring).

    :arg mesh: a 1x2v phase-space mesh periodic in ``x``
        (:func:`generic_fem.core.meshes.phase_space_box`), coordinates ``(x, v_1, v_2)``.
    :arg length: the period ``ℓ`` of ``x`` (must be the mesh's).
    :arg kappa: ``s ↦ κ(s)`` (UFL; even, positive), default ``κ ≡ 1``; see :func:`seed003_kappa`.
    :arg gamma: ``γ ∈ [−3, 1]`` (``A = r^{γ+2}``); or ``weight``: a
        :class:`~generic_fem.kernels.pair_weights.PairWeight`.
    :arg C: kernel constant ``> 0``.
    :arg transport: include ``v_1 ∂_x f`` (``False``: the collisions alone).
    :arg collisions: include the collision operator (``False``: free transport alone,
        ``M = 0``, for checking what transport does to the Fisher informations).
    """
    name = "fuzzy_landau"
    supported_dimensions = (3,)
    min_degree = 2
    #: the Gauss rule: the nodal rule lumps the time-derivative term, and lumped-mass
    #: Galerkin transport is dispersive; in the tails the free streaming then drives
    #: nodal densities towards 0 (docs/theory.rst, "The nodal rule")
    default_rule = "gauss"

    def __init__(self, mesh, length, kappa=None, gamma=-3.0, C=1.0, weight=None, transport=True,
                 collisions=True, degree=2, quadrature_degree=None, rule=None):
        cls = type(self).__name__
        if weight is None:
            if not (np.isfinite(gamma) and -3.0 <= gamma <= 1.0):
                raise InvalidParameterError(f"{cls}: gamma must lie in [-3, 1], got {gamma}")
            weight = PairWeight.power(gamma)
        C_param, C = C, value(C)     # C may be a Real-space Function (a control)
        if not (np.isfinite(C) and C > 0):
            raise InvalidParameterError(f"{cls}: the kernel constant C must be positive, got {C}")
        if int(degree) == degree and degree < self.min_degree:
            raise InvalidParameterError(f"{cls}: degree {degree} does not contain |v|^2; use degree >= 2")
        super().__init__(mesh, degree, quadrature_degree, rule)
        _check_periodic_in_x(mesh, length, cls)
        self.length, self.C, self.transport = float(length), float(C), bool(transport)
        self.collisions = bool(collisions)
        if not (self.transport or self.collisions):
            raise InvalidParameterError(f"{cls}: neither transport nor collisions: nothing to solve")
        self.gamma = weight.gamma
        self.kappa = PeriodicSpatialWeight(kappa if kappa is not None else (lambda s: 1.0), length,
                                           name=None if kappa is not None else "1")
        self.x = self.coordinates[0]
        self.v = ufl.as_vector([self.coordinates[1], self.coordinates[2]])
        #: the phase-space two-point operator (velocity coordinates 1, 2; κ along x)
        self.pairs = TwoPointFriction(mesh, self.rule, self.dx, weight, mobility=lambda f: f,
                                      coupling=C_param, velocity=(1, 2), spatial_weight=self.kappa)

    # ------------------------------------------------------------------ GENERIC data
    def entropy_density(self, f):
        return -f * ufl.ln(f)

    def energy_density(self, f):
        return 0.5 * ufl.dot(self.v, self.v) * f

    def density(self, w):
        return ufl.exp(w - 1.0)

    def poisson(self, f, g, phi):
        if not self.transport:
            return None
        return f * (phi.dx(0) * g.dx(1) - phi.dx(1) * g.dx(0)) * self.dx

    def friction_operators(self):
        return (self.pairs,) if self.collisions else ()

    def friction(self, f, g, phi):
        if not self.collisions:
            return fd.Constant(0.0) * phi * self.dx
        return super().friction(f, g, phi)

    def invariant_densities(self):
        return {"mass": fd.Constant(1.0), "momentum_0": self.v[0], "momentum_1": self.v[1],
                "energy": 0.5 * ufl.dot(self.v, self.v)}

    def friction_kernel(self):
        """``ker M`` on ``V_h``: every function of ``x`` alone (the ``2 n_x`` functions of
        ``V_h`` equal to one ``x``-basis function of the periodic CG space, constant in
        ``v``) and ``v_1, v_2, |v|²``."""
        if getattr(self, "_kernel", None) is None:
            V = self.V
            X = fd.Function(self.rule.unknown_space(dim=self.mesh.coordinates.ufl_shape[0])) \
                .interpolate(ufl.SpatialCoordinate(self.mesh))
            xd = self.kappa.wrap(np.asarray(X.dat.data_ro)[:, 0])
            key = np.round(xd / (1e-9 * self.length)).astype(np.int64)
            keys = np.unique(np.concatenate(self.mesh.comm.allgather(np.unique(key))))
            out = []
            for k in keys:
                psi = fd.Function(V)
                psi.dat.data[:] = (key == k).astype(float)
                out.append(psi)
            self._kernel = out + [self.v[0], self.v[1], ufl.dot(self.v, self.v)]
        return self._kernel

    friction_kernel_complete = True

    def diagnostics(self, w, t=None):
        """``fisher_x``, ``fisher_v``, ``fisher_mix`` (``I_x, I_v, I_mix(t)``; ``∇ log f = ∇w``)."""
        f = self.density(w)
        wx, w1, w2 = w.dx(0), w.dx(1), w.dx(2)
        t = 0.0 if t is None else float(t)
        out = {"fisher_x": wx * wx * f, "fisher_v": (w1 * w1 + w2 * w2) * f,
               "fisher_mix": ((t * wx + w1) ** 2 + w2 * w2) * f}
        return {k: float(fd.assemble(e * self.dx)) for k, e in out.items()}

    # ------------------------------------------------------------------ data
    def maxwellian(self, density=1.0, velocity=None, temperature=1.0):
        """``ρ(x) (2πT)^{−1} exp(−|v − u|²/(2T))`` (``density`` a number or a UFL expression of ``x``)."""
        u = np.zeros(2) if velocity is None else np.asarray(velocity, float)
        if not temperature > 0:
            raise InvalidParameterError("maxwellian: temperature must be positive")
        z = self.v - ufl.as_vector([float(a) for a in u])
        return density / (2 * np.pi * temperature) * ufl.exp(-ufl.dot(z, z) / (2 * temperature))

    def local_density(self, f, nx=None):
        """``(x_a, ρ(x_a) = ∫ f(x_a, v) dv)`` at the distinct ``x`` of the quadrature points
        (the rule's own sums; collective), for plots.  What the collisions conserve
        exactly is ``∫ ψ(x) f`` for every ``ψ(x)`` in ``V_h``, not these point values."""
        pairs = self.pairs
        fq = fd.Function(self.Q).interpolate(f)
        vals = pairs.gather(np.column_stack([np.asarray(fq.dat.data_ro) * pairs.weights]))[:, 0]
        rho = np.zeros(len(pairs.x_values))
        np.add.at(rho, pairs.x_index, vals)
        # the weights integrate over x as well: divide by the x-weights of one column
        xw = np.zeros(len(pairs.x_values))
        np.add.at(xw, pairs.x_index, pairs.gather(pairs.weights[:, None])[:, 0])
        vol_v = float(fd.assemble(fd.Constant(1.0) * self.dx)) / self.length
        return pairs.x_values, rho / xw * vol_v

    def describe(self):
        return (f"FuzzyLandau(1x2v, length={self.length:g}, kappa={self.kappa.name}, "
                f"weight={self.pairs.weight.name}, C={self.C:g}, transport={self.transport}, collisions={self.collisions}, "
                f"degree={self.degree}, N_x={len(self.pairs.x_values)}, N_v={len(self.pairs.v_points)})")


def _check_periodic_in_x(mesh, length, cls):
    """The mesh must be periodic in ``x`` with period ``length`` (discontinuous coordinates,
    ``x``-extent ``length``)."""
    continuous = not is_periodic(mesh)
    X = mesh.coordinates.dat.data_ro[:, 0]
    lo = mesh.comm.allreduce(X.min() if len(X) else np.inf, op=MPI.MIN)
    hi = mesh.comm.allreduce(X.max() if len(X) else -np.inf, op=MPI.MAX)
    if continuous:
        raise InvalidParameterError(f"{cls}: the mesh is not periodic in x (use generic_fem.phase_space_box)")
    if not np.isclose(hi - lo, length, rtol=1e-10, atol=0):
        raise InvalidParameterError(f"{cls}: length = {length} is not the mesh's x-period ({hi - lo:g})")
