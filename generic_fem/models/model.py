r"""The model interface: a GENERIC system stated as UFL.

A model is *data*: it states, for a state ``z`` (a density ``f``),

* ``E(f) = ∫ e(f, v) dv``    energy,   ``energy_density(f)``   (``None``: pure gradient flow)
* ``S(f) = ∫ s(f, v) dv``    entropy,  ``entropy_density(f)``  (non-decreasing; ``H = −S``)
* ``⟨φ, L(f) g⟩``           Poisson operator (antisymmetric in ``g, φ``), ``poisson(f, g, φ)``
* ``⟨φ, M(f) g⟩``           friction operator (symmetric, positive semidefinite), ``friction(f, g, φ)``
* the inverse entropy-variable map ``f = F(w)`` with ``w = −dS/df``, ``density(w)``
* conserved quantities ``∫ φ_k f``, ``invariant_densities()``

and the toolkit derives the rest: ``dE = ∂e/∂f`` and ``dS = ∂s/∂f`` by UFL
differentiation (:func:`ufl.diff`), the residuals of the time steppers, the
structure checks and the energy-dissipation functional.  The evolution equation is
docs/checking_jt.rst (G):

.. math::  ∂_t f = L(f)\,dE(f) + M(f)\,dS(f).

The discrete unknown is the entropy variable ``w_h ∈ V_h`` (continuous Lagrange,
degree ≥ 2); the density ``f = F(w_h)`` is evaluated at the quadrature points of the
model's one quadrature rule ``self.dx``, so ``f`` stays in the state space (``f > 0``
for the Boltzmann entropy) by construction (docs/two_point.rst).

``M`` may be a sum of friction operator objects (:mod:`generic_fem.friction.operators`,
:meth:`GenericModel.friction_operators`): local ones, and nonlocal (two-point) ones
whose local UFL form has coefficients (Quadrature-space Functions holding sums over
all points) that the operator refreshes itself; the steppers ask every operator to
refresh before each residual and Jacobian evaluation with the current ``(f, g)``.
"""
import numpy as np
import ufl
from mpi4py import MPI
import firedrake as fd

from ..core.errors import InvalidParameterError, InvalidStateError
from ..core.quadrature import QuadratureRule
from ..core.velocity import velocity_coordinates

__all__ = ["GenericModel"]


class GenericModel:
    """Base class of every model in ``forms/``.

    :arg mesh: the (velocity or phase-space) mesh.
    :arg degree: polynomial degree of the continuous space of the entropy variable.
        Degree 2 contains ``1, v, |v|²``, so mass, momentum and energy are exact
        test functions.
    :arg rule: the single quadrature rule used by every integral
        (:class:`~generic_fem.core.quadrature.QuadratureRule`): ``"nodal"`` (the points are
        the nodes of ``V_h``, Gauss–Lobatto on tensor-product cells, KMV on simplices) or
        ``"gauss"``; ``None`` (default): the class's :attr:`default_rule`, which is
        :data:`~generic_fem.core.quadrature.DEFAULT_RULE` (``"nodal"``) unless the model
        declares another; ``"gauss"`` when ``quadrature_degree`` is given.
    :arg quadrature_degree: ``rule="gauss"`` only: its degree (default ``2*degree + 2``).
    """

    #: short name used in file names and tables
    name = "generic"
    #: mesh (topological = geometric) dimensions the model supports
    supported_dimensions = (1, 2, 3)
    #: smallest polynomial degree the model supports
    min_degree = 1
    #: the rule used when ``rule=None``; ``None``: :data:`~generic_fem.core.quadrature.DEFAULT_RULE`.
    #: A model whose Poisson part transports the density in phase space declares
    #: ``"gauss"``: the nodal rule lumps the time-derivative term, and lumped-mass
    #: Galerkin transport is dispersive (docs/theory.rst, "The nodal rule").
    default_rule = None
    #: whether the model runs in axisymmetric velocity space (a
    #: :func:`~generic_fem.core.meshes.velocity_half_plane`): its forms use the model's
    #: ``coordinates``, ``dx`` and the operators' gradients, not ``ufl.grad`` of the mesh
    #: coordinates, and its invariants the velocity's ``momentum``
    supports_axisymmetric = False

    def __init__(self, mesh, degree=2, quadrature_degree=None, rule=None):
        dim = mesh.geometric_dimension() if callable(getattr(mesh, "geometric_dimension", None)) \
            else mesh.geometric_dimension
        if dim not in self.supported_dimensions:
            raise InvalidParameterError(
                f"{type(self).__name__}: mesh dimension {dim} is not supported "
                f"(supported: {self.supported_dimensions})")
        if int(degree) != degree or degree < self.min_degree:
            raise InvalidParameterError(
                f"{type(self).__name__}: degree must be an integer >= {self.min_degree}, got {degree}")
        self.mesh = mesh
        self.dim = dim
        self.degree = int(degree)
        if rule is None:
            rule = "gauss" if quadrature_degree is not None else self.default_rule
        self.rule = QuadratureRule(mesh, self.degree, rule, quadrature_degree)
        self.quadrature_degree = self.rule.quadrature_degree
        self.V = self.rule.unknown_space()
        self._Q = None
        #: the velocity coordinates (:mod:`generic_fem.core.velocity`): Cartesian, or
        #: axisymmetric ``(s = v_⊥², v_∥)`` on a :func:`~generic_fem.core.meshes.velocity_half_plane`
        self.velocity = velocity_coordinates(mesh)
        if self.velocity.kind == "axisymmetric" and not self.supports_axisymmetric:
            raise InvalidParameterError(
                f"{type(self).__name__} does not run in axisymmetric velocity space yet (a velocity_half_plane "
                "mesh); use a velocity_box or velocity_ball")
        #: the velocity dimension of the physics (3 in axisymmetric velocity space)
        self.velocity_dim = self.velocity.physical_dim
        #: the one measure of every integral: the rule's, times ``π`` in axisymmetric
        #: velocity space (``2π v_⊥ dv_⊥ dv_∥ = π ds dv_∥``)
        self.dx = self.velocity.measure(self.rule.measure)
        #: the velocity components (UFL): the mesh coordinates, or ``(v_⊥, v_∥)``
        self.coordinates = self.velocity.components(ufl.SpatialCoordinate(mesh))
        #: ``|v|²`` (UFL; ``s + v_∥²`` in axisymmetric velocity space, not ``(\sqrt{s})² + v_∥²``)
        self.speed2 = self.velocity.speed2(ufl.SpatialCoordinate(mesh))

    @property
    def Q(self):
        """Values at the quadrature points of ``self.dx`` (built on first use)."""
        if self._Q is None:
            self._Q = self.quadrature_space()
        return self._Q

    def quadrature_space(self, shape=()):
        """Values (of the given shape) at the points of the model's rule ``self.dx``."""
        return self.rule.space(shape)

    # ------------------------------------------------------------------ stated by a model
    def entropy_density(self, f):
        """``s(f, v)`` with ``S = ∫ s``; concave in ``f``."""
        raise NotImplementedError

    def energy_density(self, f):
        """``e(f, v)`` with ``E = ∫ e``, or ``None`` for a pure gradient flow."""
        return None

    def density(self, w):
        """``f = F(w)``: the inverse of the entropy-variable map ``w = −∂s/∂f``."""
        raise NotImplementedError

    def poisson(self, f, g, phi):
        """``⟨φ, L(f) g⟩`` as a UFL form, or ``None`` when ``L = 0``."""
        return None

    def friction_operators(self):
        """The friction operators (:mod:`generic_fem.friction.operators`) whose sum is ``M(f)``,
        the same objects at every call: e.g. ``(TwoPointFriction(...),)`` for Landau,
        ``(TwoPointFriction(...), LocalFriction(...))`` for its infinite-mass limit.
        Default ``()``: the model states ``friction`` itself as a local UFL form."""
        return ()

    def friction(self, f, g, phi):
        """``⟨φ, M(f) g⟩`` as a UFL form (symmetric in ``g, φ``): by default the sum of
        the forms of :meth:`friction_operators`."""
        ops = self.friction_operators()
        if not ops:
            raise NotImplementedError(f"{type(self).__name__} states neither friction() nor friction_operators()")
        out = 0
        for op in ops:
            out = out + op.form(f, g, phi)
        return out

    @property
    def nonlocal_friction(self):
        """Whether ``M`` has a nonlocal part (then it has no sparse matrix; checks and
        ``J_T`` use its action or dense matrices, small problems)."""
        return any(op.is_nonlocal for op in self.friction_operators())

    def refresh_friction(self, f, g):
        """Refresh the nonlocal coefficients of every friction operator for ``(f, g)``
        (collective; nothing for local models)."""
        for op in self.friction_operators():
            op.refresh(f, g)

    def friction_auxiliary_space(self):
        """``None``, or the space ``W`` of an auxiliary field ``q`` through which ``M`` is
        defined (e.g. a projection onto collision invariants with local moments).

        Then ``friction(f, g, φ, q)`` takes ``q`` as a fourth argument and
        :meth:`friction_auxiliary_equation` states the linear equation that fixes
        ``q = Q_f(g)``; ``⟨φ, M(f) g⟩ = friction(f, g, φ, Q_f(g))``.  The steppers solve
        for ``(w, q)`` together."""
        return None

    def friction_auxiliary_equation(self, f, g, q, r):
        """``a(f; g, q; r)``, linear in ``(g, q)``: ``q = Q_f(g)`` solves ``a = 0 ∀ r ∈ W``."""
        raise NotImplementedError

    def invariant_densities(self):
        """``{name: φ}``: the conserved quantities ``∫ φ f``."""
        return {"mass": fd.Constant(1.0)}

    def friction_kernel(self):
        """UFL expressions in the kernel of ``M(f)`` in ``V_h`` (for ``M⁻¹`` solves).

        Default: the invariant densities (the collision invariants).  Set
        :attr:`friction_kernel_complete` to ``False`` when they span only part of it."""
        return list(self.invariant_densities().values())

    #: whether :meth:`friction_kernel` spans the whole kernel of ``M`` on ``V_h``
    friction_kernel_complete = True

    def diagnostics(self, w, t=None):
        """``{name: value}``: the model's own history columns for the state with entropy
        variable ``w`` (a Function on ``V``) at time ``t``, e.g. Fisher informations.
        Collective.  Default: none."""
        return {}

    def check_parameters(self):
        """Raise :class:`InvalidParameterError` if a parameter's *current* value is out of
        range (parameters given as Real-space Functions can change after construction,
        e.g. in the replays of a taped run).  Default: the friction operators' checks."""
        for op in self.friction_operators():
            op.check_parameters()

    def validate_density_values(self, values):
        """Model-specific admissibility of density values (a numpy array).

        Return an error message, or ``None``.  The default asks ``f > 0``."""
        if np.any(values <= 0):
            return f"density must be positive (min value {values.min():.3e})"
        return None

    # ------------------------------------------------------------------ derived
    def dS(self, f):
        """``dS = ∂s/∂f`` (UFL differentiation)."""
        fv = ufl.variable(f)
        return ufl.diff(self.entropy_density(fv), fv)

    def dE(self, f):
        """``dE = ∂e/∂f`` (UFL differentiation), ``None`` for a gradient flow."""
        fv = ufl.variable(f)
        e = self.energy_density(fv)
        return None if e is None else ufl.diff(e, fv)

    def reversible_rate(self, f, phi):
        """``⟨φ, L(f) dE(f)⟩`` (UFL), the reversible part of the rate tested with ``φ``;
        ``None`` for a gradient flow (or a model whose ``poisson`` gives none)."""
        dE = self.dE(f)
        return None if dE is None else self.poisson(f, dE, phi)

    def dissipative_rate(self, f0, f1, dt, fL):
        """``s(φ) = ⟨φ, f¹ − f⁰⟩/Δt − ⟨φ, L(f_L) dE(f_L)⟩``: what the friction
        ``⟨φ, M(f_*) g⟩`` of one interval must balance (the ``s`` of Duong–He,
        arXiv:2504.07666 (1.13)); returns ``φ ↦ s(φ)`` (UFL)."""
        def s_of(phi):
            s = ufl.inner(phi, f1 - f0) / dt * self.dx
            Lt = self.reversible_rate(fL, phi)
            return s if Lt is None else s - Lt
        return s_of

    def entropy_variable(self, f):
        """``w = −dS(f)`` (UFL expression)."""
        return -self.dS(f)

    def S(self, f):
        """The entropy functional as a UFL 0-form."""
        return self.entropy_density(f) * self.dx

    def E(self, f):
        """The energy functional as a UFL 0-form (``None`` for a gradient flow)."""
        e = self.energy_density(f)
        return None if e is None else e * self.dx

    def invariants(self, f):
        """``{name: ∫ φ f}`` as UFL 0-forms."""
        return {k: ufl.inner(phi, f) * self.dx for k, phi in self.invariant_densities().items()}

    def friction_with_auxiliary(self, f, g, phi, q=None):
        """``friction(f, g, φ[, q])`` whatever the model's signature."""
        if self.friction_auxiliary_space() is None:
            return self.friction(f, g, phi)
        return self.friction(f, g, phi, q)

    def auxiliary_for(self, f, g, solver_parameters=None):
        """The auxiliary field ``q = Q_f(g)`` (a Function on ``W``), or ``None``."""
        W = self.friction_auxiliary_space()
        if W is None:
            return None
        p, r = fd.TrialFunction(W), fd.TestFunction(W)
        F = self.friction_auxiliary_equation(f, g, p, r)   # affine in p
        q = fd.Function(W)
        params = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}
        params.update(solver_parameters or {})
        fd.solve(ufl.lhs(F) == ufl.rhs(F), q, solver_parameters=params)
        return q

    def apply_friction(self, f, g, phi):
        """``⟨φ, M(f) g⟩`` as a UFL form with any auxiliary field solved for and the
        nonlocal coefficients refreshed: the operator itself, for diagnostics."""
        form = self.friction_with_auxiliary(f, g, phi, self.auxiliary_for(f, g))
        self.refresh_friction(f, g)
        return form

    def output_fields(self, f):
        """``[(name, density, scale)]``: what :class:`~generic_fem.core.output.VTKOutput`
        writes for the density ``f``: ``"f"`` (scalar) or ``"f_0", "f_1", …`` (one per
        component), on the model's mesh (``scale`` ``None``).  A model whose components
        live in scaled coordinates ``v = σ_k X`` returns ``σ_k`` and the density per
        ``dv`` (:mod:`generic_fem.core.output`)."""
        shape = ufl.as_ufl(f).ufl_shape
        if shape == ():
            return [("f", f, None)]
        return [(f"f_{i}", f[i], None) for i in range(shape[0])]

    # ------------------------------------------------------------------ states
    def check_density(self, f, what="initial data"):
        """Evaluate ``f`` at the quadrature points; raise :class:`InvalidStateError`
        if it is not finite or not admissible.  Collective."""
        shape = ufl.as_ufl(f).ufl_shape if not isinstance(f, (int, float)) else ()
        expected = tuple(self.V.value_shape)
        if shape != expected:
            def says(s):
                return "a scalar density" if s == () else f"a density with {s[0]} components (shape {s})"
            raise InvalidParameterError(
                f"{what}: {type(self).__name__} expects {says(expected)}, got {says(shape)}"
                + ("; give one density per species, e.g. ufl.as_vector([f_1, f_2])" if expected else ""))
        Q = self.Q if shape == () else self.quadrature_space(shape)
        fq = fd.Function(Q)
        try:
            fq.interpolate(f)
        except Exception as exc:  # a UFL shape/domain error: say what was wrong
            raise InvalidStateError(f"{what}: cannot be evaluated on the model's mesh ({exc})") from exc
        vals = fq.dat.data_ro
        comm = self.mesh.comm
        bad = comm.allreduce(int(np.count_nonzero(~np.isfinite(vals))))
        if bad:
            raise InvalidStateError(f"{what}: {bad} non-finite value(s) at quadrature points")
        msg = self.validate_density_values(vals)
        msgs = comm.allgather(msg)
        msgs = [m for m in msgs if m]
        if msgs:
            raise InvalidStateError(f"{what}: {msgs[0]}")
        return fq

    def state_from_density(self, f, what="initial data"):
        """The entropy variable ``w_h ∈ V_h`` interpolating ``−dS(f)``, after checking
        ``f`` (positivity, finiteness, model bounds) at the quadrature points."""
        fq = self.check_density(f, what)
        fn = fd.Function(self.V if not ufl.as_ufl(f).ufl_shape else self.V)
        try:
            fn.interpolate(f)
        except Exception:   # an expression that does not fit V: the quadrature check decides
            fn = None
        if fn is not None:
            msgs = [m for m in self.mesh.comm.allgather(self.validate_density_values(fn.dat.data_ro)) if m]
            if msgs:
                raise InvalidStateError(f"{what}: at the mesh nodes: {msgs[0]}")
        w = fd.Function(self.V, name="w")
        w.interpolate(self.entropy_variable(f))
        if not np.all(np.isfinite(w.dat.data_ro)):
            raise InvalidStateError(f"{what}: entropy variable is not finite at some nodes "
                                    "(density zero or out of range at a mesh node)")
        self._warn_if_mass_is_not_resolved(f, w, what)
        self._warn_if_the_box_truncates(fq, fn, what)
        return w

    def _warn_if_mass_is_not_resolved(self, f, w, what, rtol=1e-3):
        """Warn when the discrete state ``F(w_h)`` holds a mass (per component) that
        differs from the datum's integral over the mesh, computed with a high-degree
        Gauss rule, by more than ``rtol``: the mesh does not resolve the datum."""
        fh = self.density(w)
        shape = ufl.as_ufl(f).ufl_shape
        comps = [(None, f, fh)] if shape == () else [(i, f[i], fh[i]) for i in range(shape[0])]
        fine = self.velocity.measure(ufl.dx(domain=self.mesh, degree=max(4 * self.degree + 4, 10)))
        for i, fi, fhi in comps:
            m_exact = float(fd.assemble(fi * fine))
            m_h = float(fd.assemble(fhi * self.dx))
            if m_exact != 0 and abs(m_h - m_exact) > rtol * abs(m_exact) and self.mesh.comm.rank == 0:
                import warnings
                which = "" if i is None else f" (component {i})"
                warnings.warn(f"{what}{which}: the discrete state holds {m_h / m_exact:.4f} of the datum's "
                              f"mass on this mesh ({m_h:.6g} against {m_exact:.6g}): the mesh does not resolve "
                              "the datum; refine it where the datum varies", stacklevel=3)

    def point_layout(self):
        """``(X_q, ω_q)``: the coordinates and weights of the rule's points (cached; the
        same compiled kernels for every datum)."""
        if getattr(self, "_points_weights", None) is None:
            d = self.mesh.geometric_dimension
            d = d() if callable(d) else d
            X = fd.Function(self.quadrature_space((d,))).interpolate(ufl.SpatialCoordinate(self.mesh))
            w = fd.assemble(fd.TestFunction(self.Q) * self.dx)
            self._points_weights = (np.array(X.dat.data_ro).reshape(-1, d), np.array(w.dat.data_ro).reshape(-1))
        return self._points_weights

    def _boundary_nodes(self):
        """``(indices, coordinates)`` of the nodes of ``V_h`` on the mesh boundary (cached,
        halo nodes included), or ``None`` for a periodic or extruded mesh."""
        if getattr(self, "_edge_nodes", None) is None:
            from ..core.meshes import is_periodic
            mesh = self.mesh
            if getattr(mesh, "extruded", False) or is_periodic(mesh):
                self._edge_nodes = False
            else:
                P = self.V if self.V.value_shape == () else self.V.sub(0).collapse()
                nodes = fd.DirichletBC(P, 0.0, "on_boundary").nodes
                self._edge_nodes = (nodes, self.node_coordinates(halos=True)[nodes])
        return self._edge_nodes or None

    def node_coordinates(self, halos=False):
        """Coordinates of the nodes of ``V_h`` (of one component), one row per node:
        this rank's owned nodes, or with ``halos`` its halo nodes too (cached)."""
        if getattr(self, "_node_X", None) is None:
            mesh = self.mesh
            P = self.V if self.V.value_shape == () else self.V.sub(0).collapse()
            self._node_X = fd.Function(fd.VectorFunctionSpace(mesh, P.ufl_element())).interpolate(
                ufl.SpatialCoordinate(mesh))
        d = self._node_X.function_space().value_shape[0]
        data = self._node_X.dat.data_ro_with_halos if halos else self._node_X.dat.data_ro
        return np.array(data).reshape(-1, d)

    def _warn_if_the_box_truncates(self, fq, fn, what, level=1e-6, factor=100.0, cut=1e-4):
        """Velocity meshes (not periodic, not extruded): warn when the datum at a boundary
        node is above ``level`` times its peak and ``factor`` times the Gaussian
        ``ρ Π_a (2πT_a)^{−1/2} exp(−Σ_a (v_a − u_a)²/2T_a)`` with its own mean and per-axis
        temperatures (in axisymmetric velocity space the 3D one; the axis is no edge) (a tail the box cuts off:
        a bump near the edge, a heavy tail), or above ``cut`` times its peak whatever its
        shape (the box cuts the datum well above round-off).  Per component.  ``fq``: the
        datum at the rule's points (moments by the rule), ``fn``: its ``V_h`` interpolant
        (values at the boundary nodes).  Collective; no new compiled kernels per datum."""
        edge = self._boundary_nodes()
        if edge is None or fn is None:
            return
        nodes, xe = edge
        Xq, wq = self.point_layout()
        comm = self.mesh.comm
        vel = self.velocity
        Vq, ve = vel.point_values(Xq), vel.point_values(xe)
        keep = vel.on_boundary(ve, comm)       # (the axis is no edge of velocity space)
        nodes, xe, ve = nodes[keep], xe[keep], ve[keep]
        vals_q = np.array(fq.dat.data_ro).reshape(len(wq), -1)
        vals_n = np.array(fn.dat.data_ro_with_halos).reshape(-1, vals_q.shape[1])[nodes]
        for i in range(vals_q.shape[1]):
            f = vals_q[:, i]
            # per-axis temperatures: an anisotropic datum is compared with the Gaussian of
            # its own diagonal covariance, not an isotropic one
            fit = vel.gaussian(Vq, wq, f, comm)
            if fit is None:
                continue
            gauss, T = fit
            peak = comm.allreduce(float(np.max(f, initial=-np.inf)), op=MPI.MAX)
            fe = vals_n[:, i]
            Me = gauss(ve)
            with np.errstate(divide="ignore"):
                ratio = np.where(Me > 0, fe / np.where(Me > 0, Me, 1.0), np.inf)
            bad = ((fe > level * peak) & (ratio > factor)) | (fe > cut * peak)
            k = int(np.argmax(np.where(bad, fe, -np.inf))) if np.any(bad) else -1
            local = (float(fe[k]), float(ratio[k]), tuple(ve[k])) if k >= 0 else (-np.inf, 0.0, ())
            worst = max(comm.allgather(local), key=lambda t: t[0])
            if worst[0] > -np.inf and comm.rank == 0:
                import warnings
                which = "" if vals_q.shape[1] == 1 and not self.V.value_shape else f" (component {i})"
                where = ", ".join(f"{x:.3g}" for x in worst[2])
                warnings.warn(f"{what}{which}: at the box edge (mesh coordinates ({where})) the datum is "
                              f"{worst[0] / peak:.2e} of its peak and {worst[1]:.3g} times the Gaussian with its "
                              f"moments (mean temperature {T:.3g} in mesh coordinates; a species scaled by "
                              "σ has v = σ ξ): the box truncates it; enlarge the box", stacklevel=3)

    def describe(self):
        """One line for logs and history files."""
        return f"{type(self).__name__}(dim={self.dim}, degree={self.degree}, rule={self.rule.describe()})"
