r"""The velocity coordinates of a mesh: Cartesian, or axisymmetric ``(v_⊥, v_∥)``.

A velocity mesh is Cartesian (its coordinates are the velocity, ``d = 2, 3``) unless it
was made by :func:`~generic_fem.core.meshes.velocity_half_plane`, whose coordinates are
``(s, v_∥)`` with ``s = v_⊥²`` on ``[0, R_⊥²] × [−R_∥, R_∥]``: the meridian half-plane
of axisymmetric velocity space (``f(v_⊥, v_∥)``, the azimuth integrated out).  In ``s``:

* the volume element is ``2π v_⊥ dv_⊥ dv_∥ = π ds dv_∥``, a constant: every point of the
  model's rule has a positive weight, also on the axis ``s = 0``.  (In ``(v_⊥, v_∥)`` a
  Gauss–Lobatto point on the axis has weight 0 under ``2π v_⊥``, and for ``Q_2`` even
  the exact integral ``∫ φ_i 2π v_⊥`` of the axis basis function vanishes: its unknown
  would own no density.  In ``s`` each unknown keeps its point density, and the
  invariants ``1, v_∥, v_⊥² + v_∥² = s + v_∥²`` are polynomials of degree ≤ 2 in the
  mesh coordinates, so they lie in ``V_h`` and stay exact.)
* smooth axisymmetric functions are smooth functions of ``s`` (even in ``v_⊥``), and
  the meridian gradient is ``(∂_{v_⊥} g, ∂_{v_∥} g) = (2\sqrt{s}\, ∂_s g, ∂_{v_∥} g)``,
  which vanishes across the axis as it must; the axis is a natural boundary (the flux
  through it is ``2π v_⊥`` times a bounded flux: zero), so no condition is imposed.

:func:`velocity_coordinates` gives a mesh's :class:`CartesianVelocity` or
:class:`AxisymmetricVelocity`; the models and two-point operators ask it for the
velocity components, gradients, measure and invariants instead of assuming Cartesian
coordinates.
"""
import math
import weakref

import numpy as np
import ufl

__all__ = ["CartesianVelocity", "AxisymmetricVelocity", "WeightedMeasure", "velocity_coordinates",
           "set_velocity_coordinates"]


class WeightedMeasure:
    """A UFL measure times a weight: ``integrand * WeightedMeasure(dx, c)`` is
    ``(integrand * c) * dx``."""

    def __init__(self, measure, weight):
        self.measure, self.weight = measure, weight

    def __rmul__(self, integrand):
        return (integrand * self.weight) * self.measure

    def __repr__(self):
        return f"WeightedMeasure({self.measure!r}, {self.weight!r})"


class CartesianVelocity:
    """The mesh coordinates are the velocity (``d = 2, 3``)."""

    kind = "cartesian"
    #: the mesh coordinates' measure is the velocity volume
    volume_factor = 1.0

    def __init__(self, dim):
        #: the velocity dimension of the physics (the Maxwellian's ``(2πT)^{−d/2}``)
        self.physical_dim = int(dim)
        #: the velocity components whose moments are conserved momenta
        self.momentum_indices = tuple(range(int(dim)))
        #: their names (the invariants' keys)
        self.momentum = {f"momentum_{i}": i for i in range(int(dim))}
        #: the dimension as ``describe()`` prints it
        self.label = str(int(dim))

    def components(self, X):
        """The velocity components (UFL) from the mesh coordinates ``X``."""
        return X

    def gradient(self, g):
        """The velocity gradient of ``g`` (UFL) in the components' basis."""
        return ufl.grad(g)

    def speed2(self, X):
        """``|v|²`` (UFL) from the mesh coordinates ``X``."""
        return ufl.dot(X, X)

    def on_boundary(self, V, comm=None):
        """Which of the velocity points ``V`` on the mesh boundary are on the velocity
        domain's boundary (all of them)."""
        return np.ones(len(V), dtype=bool)

    def measure(self, dx):
        """The velocity volume element from the mesh measure ``dx``."""
        return dx

    def point_values(self, X):
        """The velocity components at mesh points ``X`` (``n × d`` arrays)."""
        return np.asarray(X, dtype=float)

    def names(self):
        return tuple(f"v_{i}" for i in range(self.physical_dim))

    def gaussian(self, V, w, f, comm):
        """``(G, T)``: the Gaussian ``ρ Π_a (2πT_a)^{−1/2} exp(−Σ_a (v_a − u_a)²/2T_a)``
        with the mean and per-axis temperatures of the point values ``f`` (weights ``w``,
        velocity points ``V``; collective) as a function of velocity points, and the mean
        temperature; ``None`` when they do not define one."""
        rho = comm.allreduce(float(w @ f))
        if not rho > 0:
            return None
        u = np.array(comm.allreduce((w * f) @ V)) / rho
        Ta = np.array(comm.allreduce((w * f) @ (V - u) ** 2)) / rho
        if not np.all(Ta > 0):
            return None
        return (lambda X: rho * np.prod(2 * np.pi * Ta) ** -0.5 * np.exp(-np.sum((X - u) ** 2 / (2 * Ta), axis=1)),
                float(Ta.mean()))


class AxisymmetricVelocity:
    """Mesh coordinates ``(s, v_∥)`` with ``s = v_⊥²`` (module docstring)."""

    kind = "axisymmetric"
    volume_factor = math.pi
    physical_dim = 3
    momentum_indices = (1,)
    momentum = {"momentum_par": 1}
    label = "2.5 (axisymmetric)"

    def components(self, X):
        """``(v_⊥, v_∥) = (\\sqrt{s}, v_∥)``: the meridian components, ``|v|² = s + v_∥²``."""
        return ufl.as_vector([ufl.sqrt(X[0]), X[1]])

    def speed2(self, X):
        """``|v|² = s + v_∥²`` (UFL; a polynomial, so its gradient has no ``1/\\sqrt{s}``
        to meet ``\\sqrt{s} = 0`` on the axis, as ``(\\sqrt{s})²`` would)."""
        return X[0] + X[1] ** 2

    def gradient(self, g):
        """``(2\\sqrt{s}\\, ∂_s g, ∂_{v_∥} g)``."""
        X = ufl.SpatialCoordinate(ufl.domain.extract_unique_domain(g))
        return ufl.as_vector([2.0 * ufl.sqrt(X[0]) * g.dx(0), g.dx(1)])

    def measure(self, dx):
        """``π ds dv_∥`` (``= 2π v_⊥ dv_⊥ dv_∥``)."""
        return WeightedMeasure(dx, math.pi)

    def point_values(self, X):
        """``(v_⊥, v_∥)`` at mesh points ``X = (s, v_∥)`` (``s`` rounded below 0 clipped)."""
        X = np.asarray(X, dtype=float)
        return np.column_stack([np.sqrt(np.maximum(X[:, 0], 0.0)), X[:, 1]])

    def names(self):
        return ("v_perp", "v_par")

    def on_boundary(self, V, comm=None):
        """Points of the mesh boundary off the axis (the axis is not a boundary of
        velocity space), and the axis points at the ends ``v_∥ = ±R_∥`` (collective with
        ``comm``: the ends are the extremes of ``v_∥`` over every rank's points)."""
        from mpi4py import MPI
        z = V[:, 1]
        lo, hi = (float(z.min()), float(z.max())) if len(z) else (np.inf, -np.inf)
        if comm is not None:
            lo, hi = comm.allreduce(lo, op=MPI.MIN), comm.allreduce(hi, op=MPI.MAX)
        tol = 1e-12 * max(abs(lo), abs(hi), 1.0)
        return (V[:, 0] > 0) | (z <= lo + tol) | (z >= hi - tol)

    def gaussian(self, V, w, f, comm):
        """The Gaussian of :meth:`CartesianVelocity.gaussian` in 3D for axisymmetric data:
        mean ``(0, 0, u_∥)``, temperatures ``T_⊥ = ∫ v_⊥² f/(2ρ)`` (two axes) and ``T_∥``."""
        rho = comm.allreduce(float(w @ f))
        if not rho > 0:
            return None
        u = comm.allreduce(float((w * f) @ V[:, 1])) / rho
        Tp = comm.allreduce(float((w * f) @ V[:, 0] ** 2)) / (2 * rho)
        Tz = comm.allreduce(float((w * f) @ (V[:, 1] - u) ** 2)) / rho
        if not (Tp > 0 and Tz > 0):
            return None
        return (lambda X: rho / ((2 * np.pi * Tp) * np.sqrt(2 * np.pi * Tz))
                * np.exp(-X[:, 0] ** 2 / (2 * Tp) - (X[:, 1] - u) ** 2 / (2 * Tz)), (2 * Tp + Tz) / 3)


_REGISTRY = weakref.WeakKeyDictionary()


def set_velocity_coordinates(mesh, coordinates):
    """Declare the velocity coordinates of ``mesh`` (the mesh helpers do)."""
    _REGISTRY[mesh] = coordinates


def velocity_coordinates(mesh):
    """The velocity coordinates of ``mesh``: what :func:`set_velocity_coordinates`
    declared, else Cartesian in the mesh's dimension."""
    got = _REGISTRY.get(mesh)
    if got is not None:
        return got
    gdim = mesh.geometric_dimension() if callable(mesh.geometric_dimension) else mesh.geometric_dimension
    return CartesianVelocity(gdim)
