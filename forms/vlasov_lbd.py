r"""Free transport with a conservative Lenard–Bernstein/Dougherty collision operator,
in 1x1v phase space ``(x, v) ∈ T × [−V, V]`` (the transport ``L`` as in the fuzzy Landau model, docs/models.rst).

.. math::  ∂_t f + v ∂_x f = ν ∂_v ( ∂_v f + (v − u(x)) f / T(x) )

GENERIC structure:

* ``E = ∫∫ ½ v² f``, ``S = −∫∫ (f log f − f)``, entropy variable ``w = log f``,
  ``f = e^{w}``;
* ``L(f) g = −∇·(f J ∇g)``, ``J = [[0, 1], [−1, 0]]`` in ``(x, v)``:
  ``⟨φ, L(f) g⟩ = ∫∫ f ∇φ · J∇g``, so ``L dE = −v ∂_x f`` (docs/models.rst, Fuzzy Landau in 1x1v);
* ``⟨φ, M(f) g⟩ = ∫∫ ν f (∂_v g − P_f ∂_v g)(∂_v φ − P_f ∂_v φ)``, where ``P_f`` is the
  ``f``-weighted ``L²`` projection onto ``{a(x) + b(x) v : a, b ∈ V_x}``, the ``v``-gradients
  of the local collision invariants ``ψ(x)(1, v, ½v²)`` (``V_x``: the ``x``-part of
  ``V_h``, constant in ``v``).  Pointwise in ``x`` this gives
  ``P_f ∂_v log f = −(v − u)/T``, i.e. the LBD operator above with the *local* ``u, T``.

The projection is the model's auxiliary field ``q = (a, b)``, fixed by
``∫∫ ν f (∂_v g − a − b v)(α + β v) = 0`` for all ``α, β ∈ V_x``; the steppers solve
for ``(w, q)`` together.  For every ``ψ ∈ V_x``, ``ψ``, ``ψ v`` and ``ψ v²/2`` are in the
kernel of the discrete ``M``: local mass, momentum and energy are conserved exactly
by the collisions; transport conserves the global ones (``L`` antisymmetric,
natural boundary in ``v``, periodic ``x``).
"""
import numpy as np
import ufl
import finat.ufl
import firedrake as fd

from generic_fem.models.model import GenericModel
from generic_fem.core.errors import InvalidParameterError

__all__ = ["VlasovLBD"]


class VlasovLBD(GenericModel):
    """1x1v free transport + locally conservative LBD collisions.

    :arg mesh: from :func:`generic_fem.core.meshes.phase_space_mesh` (extruded, coordinates
        ``(x, v)``).
    :arg nu: collision frequency ``ν > 0``.
    :arg transport: include ``v ∂_x f`` (``False`` gives the collisions alone).
    """
    name = "vlasov_lbd"
    supported_dimensions = (2,)
    min_degree = 2
    #: the Gauss rule: the nodal rule lumps the time-derivative term, and lumped-mass
    #: Galerkin transport is dispersive; in the tails the free streaming then drives
    #: nodal densities towards 0 (docs/theory.rst, "The nodal rule")
    default_rule = "gauss"

    def __init__(self, mesh, nu=1.0, degree=2, quadrature_degree=None, transport=True, rule=None):
        if not getattr(mesh, "extruded", False):
            raise InvalidParameterError(
                "VlasovLBD needs an extruded phase-space mesh (generic_fem.phase_space_mesh)")
        super().__init__(mesh, degree, quadrature_degree, rule)
        if not (nu > 0 and nu < float("inf")):
            raise InvalidParameterError(
                f"VlasovLBD: nu must be positive and finite, got {nu} (with nu = 0 the "
                "collision projection is undetermined; use a small positive nu)")
        self.nu = fd.Constant(float(nu))
        self.transport = transport
        self.x, self.v = self.coordinates[0], self.coordinates[1]
        ex = finat.ufl.FiniteElement("CG", ufl.interval, self.degree)
        ev = finat.ufl.FiniteElement("R", ufl.interval, 0)
        self.Vx_element = finat.ufl.TensorProductElement(ex, ev)
        self.Vx = fd.FunctionSpace(mesh, self.Vx_element)
        self.W = fd.VectorFunctionSpace(mesh, self.Vx_element, dim=2)

    def entropy_density(self, f):
        return -(f * ufl.ln(f) - f)

    def energy_density(self, f):
        return 0.5 * self.v ** 2 * f

    def density(self, w):
        return ufl.exp(w)

    def poisson(self, f, g, phi):
        if not self.transport:
            return None
        Jgrad_g = ufl.as_vector([g.dx(1), -g.dx(0)])
        return f * ufl.inner(ufl.grad(phi), Jgrad_g) * self.dx

    def friction_auxiliary_space(self):
        return self.W

    def _fluct(self, g, q):
        return g.dx(1) - q[0] - q[1] * self.v

    def friction(self, f, g, phi, q):
        return self.nu * f * self._fluct(g, q) * phi.dx(1) * self.dx

    def friction_auxiliary_equation(self, f, g, q, r):
        return -self.nu * f * self._fluct(g, q) * (r[0] + r[1] * self.v) * self.dx

    def invariant_densities(self):
        return {"mass": fd.Constant(1.0), "momentum": self.v, "energy": 0.5 * self.v ** 2}

    # the kernel of M also holds ψ(x)(1, v, v²/2) for every ψ ∈ V_x: J_T's M⁻¹ solve
    # then checks compatibility through its residual
    friction_kernel_complete = False

    def velocity_length(self):
        """``2V``, the length of the velocity interval (from the mesh coordinates; collective)."""
        from mpi4py import MPI
        v = np.asarray(self.mesh.coordinates.dat.data_ro)[:, 1]
        comm = self.mesh.comm
        hi = float(v.max()) if v.size else -np.inf
        lo = float(v.min()) if v.size else np.inf
        return comm.allreduce(hi, op=MPI.MAX) - comm.allreduce(lo, op=MPI.MIN)

    def local_moments(self, f):
        """``(ρ, ρu, ρ(u² + T))`` as functions of ``x`` (``L²`` projections onto ``V_x``;
        ``∫ dv`` over the velocity interval)."""
        out = []
        vol = self.velocity_length()
        for phi in (1.0, self.v, self.v ** 2):
            m = fd.Function(self.Vx)
            u_, t_ = fd.TrialFunction(self.Vx), fd.TestFunction(self.Vx)
            fd.solve(u_ * t_ * self.dx == vol * phi * f * t_ * self.dx, m)
            out.append(m)
        return out
