r"""Two-point (nonlocal) friction operators over one or several point sets.

The operator (docs/two_point.rst "Two-point operators"; docs/models.rst, Homogeneous Landau and Multispecies Landau: the weak forms)

.. math::

   ⟨φ, M(f) g⟩ = ½ ∑_{i,j} c_{ij} ∑_q ∑_p ω_q ω_p\, m_{i,q} m_{j,p}\,
       𝕎φ · a(v_{i,q} − v_{j,p})\, 𝕎g, \qquad
   𝕎g = \frac{∇g_i(v_{i,q})}{μ_i} − \frac{∇g_j(v_{j,p})}{μ_j},\quad
   a(z) = A(|z|)\, Π(z),

couples ``N`` point sets (species): set ``i`` is the model's one quadrature rule
``(ξ_q, ω_q)`` on a reference mesh, scaled to ``v_{i,q} = σ_i ξ_q`` (``∇_v = ∇_ξ/σ_i``),
with a pointwise mobility ``m_i = m_i(f)`` (``f`` for Landau, ``f(1 − εf)`` for
Fermi–Dirac, ``f_i`` per ``dξ`` for a species), gradient weights ``1/μ_i`` (the masses),
a symmetric coupling ``c_ij ≥ 0`` and the weight ``A`` of a
:class:`~generic_fem.kernels.pair_weights.PairWeight` (``A = r^{γ+2}`` for the Landau family, or
any UFL expression of ``r``).  One set with ``σ = μ = 1`` and ``c = C`` is the
single-species Landau operator.  By the swap symmetry ``(i,q) ↔ (j,p)`` of the double sum
it is evaluated as the *local* form

.. math::

   ⟨φ, M(f) g⟩ = ∑_i ∫ \frac{∇_ξ φ_i}{σ_i μ_i} · m_i\, \hat J_i\,dξ, \qquad
   \hat J_{i,q} = ∑_j c_{ij} ∑_p ω_p m_{j,p}\, a(v_{i,q} − v_{j,p})\,(G_{i,q} − G_{j,p}),

``G_j = ∇_ξ g_j/(σ_j μ_j)``, with ``Ĵ_i`` and ``Ĝ_i = Σ_j c_ij Σ_p ω_p m_{j,p} a(v_{i,q} − v_{j,p})``
Quadrature-space Functions refreshed by :meth:`TwoPointFriction.refresh` (the form
is linear in ``g`` through ``Ĝ_i G_i``: see :meth:`TwoPointFriction.form`).  Because the form is integrated
with exactly the points of the sums, the discrete operator is symmetric positive
semidefinite and ``𝕎φ = 0`` or ``𝕎φ ∥ z`` gives ``M(f)φ = 0``: each set's mass,
``Σ_i μ_i ∫ v f_i`` and ``½ Σ_i μ_i ∫ |v|² f_i`` are conserved as exactly as the nonlinear
residual (``a(z) z = 0``; ``∇(μ_i|v|²/2)/μ_i − ∇(μ_j|v_*|²/2)/μ_j = v − v_* = z``).  A pair
of coincident points (``v_{i,q} = v_{j,p}``) is skipped, symmetrically (no singularity for
``γ ≤ −2``; within one set it cancels in ``Ĵ`` anyway).

Jacobians: the UFL derivative of the local form with ``Ĝ, ĝ, Ĵ`` frozen
(Picard in the nonlocal part, Newton in the local factor ``m(f)``), or the exact
Jacobian action with :meth:`TwoPointFriction.linearization`.

Parallel: each rank gathers ``(v, ω m, G)`` of all points of all sets (one
``MPI_Allgatherv``, ``O(N N_q)`` memory) and computes ``Ĝ, Ĵ`` at its own points, so the
``O((N N_q)²)`` work divides by the rank count.  For ``A = r²`` (``γ = 0``) the sums reduce
exactly to moments (:func:`~generic_fem.kernels.pair_kernels.moment_sums`, ``O(N N_q)``, one
``MPI_Allreduce``).

Phase space: with a :class:`~generic_fem.kernels.spatial_weights.PeriodicSpatialWeight` the points
are ``(x, v)`` (``velocity`` names the velocity coordinates, the remaining one is ``x``),
every pair is weighted by ``κ(x − x_*)`` and only ``∇_v`` enters ``𝕎``.  The points of a
box mesh are a tensor product ``x_a × v_p``, so

.. math::  \hat G(x_a, v_q) = c ∑_p a(v_q − v_p)\, \tilde C_{ap}, \qquad
           \hat J(x_a, v_q) = c ∑_p a(v_q − v_p)\,(\tilde C_{ap} G_{aq} − \tilde B_{ap}),

with the convolutions ``C̃ = κ * (ω m)`` and ``B̃ = κ * (ω m G)`` along ``x`` (an
``N_x × N_x`` matrix product): ``O(N_x N_v²)`` pair work plus ``O(N_x² N_v)``, instead of
``O((N_x N_v)²)``; for ``A = r²`` the moment reduction per ``x_a``.  The velocities of the
points are snapped to one value per ``v``-point (two columns' roundings differ by
``~10⁻¹⁶``, and a pair at that distance would not be skipped as coincident).

Why Quadrature-space coefficients and not Firedrake's external operators
(``firedrake.external_operators``): the operator's output enters the residual only
through two fields per set at the quadrature points, which the local form then
integrates with the very same rule; that is all the exact conservation needs, costs one
interpolation per field, and leaves the Jacobian a sparse assembled matrix
(frozen-coefficient part) that PETSc preconditioners can use, with the exact part as a
matrix-free correction.  An external operator would be assembled as a new operand of
the form (its Jacobian action would have to be supplied anyway as pair-sum passes) and
would hide the sparse part from the preconditioner.  What it would give, visibility to
``firedrake.adjoint``, is had with one pyadjoint block per time step
(:mod:`generic_fem.solvers.adjoint`) and :meth:`TwoPointFriction.coefficient_adjoint`.
"""
import time

import numpy as np
import ufl
import ufl.algorithms
import firedrake as fd
from mpi4py import MPI

from ..core.assembly import compiled_interpolation
from ..core.errors import InvalidParameterError
from .operators import FrictionOperator
from ..kernels.pair_kernels import as_weight
from ..kernels.pair_summation import MomentSums, DirectSums, DistinctPositionSums, PhaseSpaceSums, AxisymmetricSums
from ..kernels.fmm_sums import FMMSums, fmm_available
from ..kernels.lattice_sums import LatticeSums
from .point_sets import PointSets, coincidence_representatives
from .two_point_linearization import CoefficientLinearization
from ..core.taping import annotating
from ..core.parameters import is_parameter, is_real_function, value, parameter_matrix

__all__ = ["TwoPointFriction", "CoefficientSet", "coincidence_representatives"]


def _coupling_spec(coupling):
    """``coupling`` as a square object array of numbers and parameters (``Constant`` s,
    Real-space Functions: :mod:`generic_fem.core.parameters`)."""
    try:
        return parameter_matrix(coupling)
    except ValueError as exc:
        raise InvalidParameterError(f"two-point operator: coupling: {exc}") from None


def _constants_of(expr):
    """The parameters (``Constant`` s and Real-space Functions) in a UFL expression."""
    from ufl.algorithms.analysis import extract_type
    return list(extract_type(expr, fd.Constant)) + \
        [c for c in ufl.algorithms.extract_coefficients(expr) if is_real_function(c)]


class CoefficientSet:
    """The coefficients of one ``(f, g)`` pair (:meth:`TwoPointFriction.coefficient_set`), per set: coefficients ``Ĝ_i, Ĵ_i`` of one ``(f, g)`` pair, the point values of
    ``m_i`` and ``G_i`` and the interpolations that feed them."""

    def __init__(self, owner, m, G):
        n = owner.n_sets
        self.G = [fd.Function(owner.Qt, name=f"G_hat_{i}") for i in range(n)]
        self.J = [fd.Function(owner.Qv, name=f"J_hat_{i}") for i in range(n)]
        self.mq = [fd.Function(owner.Q) for _ in range(n)]
        self.gq = [fd.Function(owner.Qv) for _ in range(n)]
        self.interpolations = [compiled_interpolation(m[i], self.mq[i]) for i in range(n)] + \
            [compiled_interpolation(G[i], self.gq[i]) for i in range(n)]
        self.last_input = None
        self.coeff = None   # ω m per set, of the last evaluation
        self.linearization = None

    def read(self, d):
        for op in self.interpolations:
            op()
        m = np.array([np.asarray(x.dat.data_ro) for x in self.mq])
        g = np.array([np.asarray(x.dat.data_ro).reshape(-1, d) for x in self.gq])
        return m, g


class TwoPointFriction(FrictionOperator):
    """The two-point operator above on one (reference) mesh and quadrature rule.

    :arg mesh: the (reference) velocity mesh, ``d = 2`` or ``3``.
    :arg rule: the model's quadrature rule (:class:`~generic_fem.core.quadrature.QuadratureRule`;
        a number is the degree of a Gauss rule).
    :arg dx: the model's measure (must be ``rule.measure``).
    :arg weight: the kernel weight ``A``: a :class:`~generic_fem.kernels.pair_weights.PairWeight`,
        or a number ``γ`` for ``A = r^{γ+2}``.
    :arg mobility: ``f ↦ m(f)``, a UFL scalar for one set or a UFL vector of length
        ``N`` (``m_i`` per set); default ``f``.
    :arg coupling: ``c_ij``: a number for one set, or a symmetric ``N × N`` array with
        entries ``≥ 0`` (constants such as ``C_γ`` go here).
    :arg scales: ``σ_i > 0`` (``v = σ_i ξ`` for set ``i``); default all 1.
    :arg masses: ``μ_i > 0`` (gradient weights ``1/μ_i``); default all 1.
    :arg velocity: the indices of the mesh coordinates that are velocity (default all);
        the others are space, and then ``spatial_weight`` is required.
    :arg spatial_weight: a :class:`~generic_fem.kernels.spatial_weights.PeriodicSpatialWeight`
        ``κ(x − x_*)`` for phase-space points ``(x, v)`` (one set, one space coordinate):
        every pair is weighted by ``κ``, and the sums over ``x_*`` are a convolution
        (module docstring, "Phase space").
    :arg summation: how the pair sums over distinct positions are summed (velocity
        space): ``"direct"`` (every pair), ``"lattice"`` (FFT convolution, when the
        positions lie on a uniform lattice: any weight, 2D and 3D,
        :class:`~generic_fem.kernels.lattice_sums.LatticeSums`), ``"fmm"`` (the fast
        multipole method, for the 3D Coulomb kernel ``A = 1/r``:
        :class:`~generic_fem.kernels.fmm_sums.FMMSums`), or ``"auto"`` (the default: the
        lattice from :attr:`lattice_crossover` distinct sources where the points lie on
        one, else the FMM where it applies, ``fmm3dpy`` imports and the distinct sources
        number at least :attr:`fmm_crossover` per rank, else direct).  See :meth:`set_summation`.
    :arg fmm_tolerance: the FMM's relative precision (default 1e-10).

    With ``N > 1`` sets, ``g`` and ``φ`` of :meth:`form` are vectors of length ``N``
    (components on the same reference mesh), and the mobility a vector.
    """

    is_nonlocal = True

    #: the distinct source positions per rank from which ``summation="auto"`` takes the FMM
    #: (measured: ``benchmarks/fmm_landau.py``, docs "Fast multipole sums")
    fmm_crossover = 100000
    #: the distinct source positions from which ``summation="auto"`` takes the lattice
    #: sums where the points lie on a uniform lattice (measured: ``benchmarks/fmm_landau.py``)
    lattice_crossover = 2000

    def __init__(self, mesh, rule, dx, weight, mobility=None, coupling=1.0,
                 scales=None, masses=None, velocity=None, spatial_weight=None, summation="auto",
                 fmm_tolerance=1e-10):
        vel, space = PointSets.coordinates(mesh, velocity)
        if space and spatial_weight is None:
            raise InvalidParameterError(f"two-point operator: coordinates {space} are not velocity: give a "
                                        "spatial_weight for them")
        if spatial_weight is not None and len(space) != 1:
            raise InvalidParameterError("two-point operator: a spatial weight needs exactly one space "
                                        f"coordinate, got {len(space)}")
        spec = _coupling_spec(coupling)
        c = np.vectorize(value, otypes=[float])(spec) if spec.size else np.zeros((0, 0))
        n = c.shape[0]
        if c.shape != (n, n):
            raise InvalidParameterError(f"two-point operator: coupling must be a square matrix, got shape {c.shape}")
        if not np.all(np.isfinite(c)) or np.any(c < 0) or not np.any(c > 0):
            raise InvalidParameterError(f"two-point operator: coupling must be finite, >= 0 and not all zero, got {c}")
        if np.max(np.abs(c - c.T)) > 1e-14 * np.max(np.abs(c)):
            raise InvalidParameterError(
                f"two-point operator: coupling c_ij must be symmetric (else momentum and energy are not "
                f"conserved and M is not symmetric), got {c}")
        sig = np.ones(n) if scales is None else np.atleast_1d(np.asarray(scales, dtype=float))
        mu = np.ones(n) if masses is None else np.atleast_1d(np.asarray(masses, dtype=float))
        for name, a in (("scales", sig), ("masses", mu)):
            if a.shape != (n,) or not np.all(np.isfinite(a)) or np.any(a <= 0):
                raise InvalidParameterError(
                    f"two-point operator: {name} must be {n} positive number(s) (one per set), got {a}")
        if spatial_weight is not None and n != 1:
            raise InvalidParameterError("two-point operator: a spatial weight is supported for one point set")
        self.n_sets = n
        self.spatial = spatial_weight
        self._coupling_spec = spec
        self._kappa_parameters = _constants_of(spatial_weight.expression) if spatial_weight is not None else []
        self._parameters = []
        for c in list(spec.ravel()) + self._kappa_parameters:
            if is_parameter(c) and all(c is not o for o in self._parameters):
                self._parameters.append(c)
        self.scales, self.masses = sig, mu
        self.weight = as_weight(weight)
        self.mobility = mobility if mobility is not None else (lambda f: f)
        self.dx = dx
        #: the points of the sums (:class:`~generic_fem.friction.point_sets.PointSets`)
        self.point_sets = P = PointSets(mesh, rule, dx, vel, sig)
        #: axisymmetric velocity space (:mod:`generic_fem.core.velocity`): the points are rings
        self.axisymmetric = P.velocity_coordinates.kind == "axisymmetric"
        #: whether taped runs can be differentiated
        self.has_adjoint = True
        self.mesh, self.dim, self.velocity, self.rule = mesh, P.dim, P.velocity, P.rule
        self.Q, self.Qv, self.Qt = P.Q, P.Qv, P.Qt
        #: this rank's space coordinates of the points (phase space), or None
        self.positions = P.positions
        self.weights, self.comm, self.counts, self.n_global = P.weights, P.comm, P.counts, P.n_global
        comm = self.comm
        # A must be finite and >= 0 at the distances that occur
        diam = P.diameter
        self.weight.check(1e-6 * diam, diam)
        #: pair interactions evaluated by this rank; operator evaluations done / skipped;
        #: linearised evaluations (exact Jacobian actions, two pair-sum passes each);
        #: seconds spent in the evaluations and linearisations (this rank)
        self.stats = {"pairs": 0, "evaluations": 0, "skipped": 0, "linearized": 0, "seconds": 0.0}
        #: sum over unique point positions (coincident points merged: a node shared by
        #: neighbouring cells under the nodal rule); ``False``: over every point, per cell
        self.merge_coincident = True
        # the summation backends (generic_fem.pair_summation)
        self._phase_space = self._moments = self._direct = self._distinct = None
        if self.spatial is not None:
            self._phase_space = PhaseSpaceSums(self.positions, self.reference_points, sig[0], self.weight,
                                               self.spatial, self.gather, comm, self.stats)
            P.set_reference_points(self._phase_space.reference_points)
            #: ``κ(x_a − x_b)`` between the distinct x-values of the points
            self._kappa = self._phase_space.kappa()
        else:
            P.snap_coincident()
            args = (self.points, self.weight, self.gather, comm, self.stats)
            if self.axisymmetric:
                self._distinct = AxisymmetricSums(*args)
            else:
                self._moments = MomentSums(*args) if self.weight.quadratic else None
                self._direct = DirectSums(*args)
                self._distinct = DistinctPositionSums(*args)
        self._entries = {}
        self._linearization = CoefficientLinearization(self)
        self._fmm = self._lattice = None
        self.summation_method = None
        #: the FMM's relative precision
        self.fmm_tolerance = 1e-10
        self.set_summation(summation, fmm_tolerance)

    def set_summation(self, summation="auto", tolerance=None):
        """Choose the summation of the pair sums over distinct positions: ``"direct"``,
        ``"lattice"`` (an error where the points of a set and of the sets it couples to do
        not lie on one uniform lattice, or in axisymmetric or phase space), ``"fmm"`` (an
        error where it does not apply: another kernel or dimension, axisymmetric or phase
        space, no ``fmm3dpy``) or ``"auto"`` (the lattice from :attr:`lattice_crossover`
        distinct sources where the points lie on one, else the FMM from
        :attr:`fmm_crossover` distinct sources per rank: every rank builds the tree of all
        sources, else direct), and the FMM's ``tolerance`` (``None``: keep it).  Collective."""
        if summation not in ("auto", "direct", "lattice", "fmm"):
            raise InvalidParameterError(f"two-point operator: summation must be 'auto', 'direct', 'lattice' or "
                                        f"'fmm', got {summation!r}")
        tolerance = self.fmm_tolerance if tolerance is None else tolerance
        if not (np.isfinite(tolerance) and 0 < tolerance < 1):
            raise InvalidParameterError(f"two-point operator: fmm_tolerance must lie in (0, 1), got {tolerance}")
        self.fmm_tolerance = float(tolerance)
        cartesian = self._distinct is not None and not self.axisymmetric
        where = (f"(this operator: A(r) = {self.weight.name}, {self.dim}D"
                 + (", axisymmetric" if self.axisymmetric else "") + (", phase space" if self.spatial else "") + ")")
        applies = cartesian and self.dim == 3 and self.weight.exponent == -1.0
        if summation == "fmm" and not applies:
            raise InvalidParameterError(
                "summation='fmm': the fast multipole sums are for the 3D Coulomb kernel A(r) = 1/r in Cartesian "
                "velocity space " + where)
        if summation == "lattice" and not cartesian:
            raise InvalidParameterError("summation='lattice': the lattice sums are for Cartesian velocity space "
                                        + where)
        sources = self._distinct.counts()[1] if cartesian else 0
        # the sets that may couple (an entry that is a parameter may become nonzero later)
        pattern = np.vectorize(lambda e: is_parameter(e) or float(e) != 0.0, otypes=[float])(self._coupling_spec)
        if summation == "auto":
            if cartesian and sources >= self.lattice_crossover and self._lattice_sums().applies(pattern):
                summation = "lattice"
            elif applies and fmm_available() and sources >= self.fmm_crossover * self.comm.size:
                summation = "fmm"
            else:
                summation = "direct"
        if summation == "lattice" and not self._lattice_sums().applies(pattern):
            raise InvalidParameterError(
                f"summation='lattice': {self._lattice_sums().why_not(pattern)} (the lattice sums need the nodes of "
                "a box of uniform cells, Q2 under the nodal rule, and species' scales whose points share one "
                "lattice): use 'direct' or 'auto'")
        if summation == "fmm":
            if self._fmm is None:
                self._fmm = FMMSums(self.points, self.weight, self.gather, self.comm, self.stats, tolerance,
                                    layout=self._distinct)
            self._fmm.tolerance = self.fmm_tolerance
        if summation != self.summation_method:
            for e in self._entries.values():     # (the coefficients of the other summation)
                e.last_input = None
        #: the summation the pair sums over distinct positions use (``"direct"``,
        #: ``"lattice"`` or ``"fmm"``; with ``merge_coincident = False`` the sums run over
        #: every point, directly)
        self.summation_method = summation

    def _lattice_sums(self):
        """The lattice summation (:class:`~generic_fem.kernels.lattice_sums.LatticeSums`), made on first use."""
        if self._lattice is None:
            self._lattice = LatticeSums(self.points, self.weight, self.gather, self.comm, self.stats,
                                        layout=self._distinct)
        return self._lattice

    # ---------------------------------------------------------------------------
    @property
    def reference_points(self):
        """This rank's reference points ``ξ_q`` (:class:`~generic_fem.friction.point_sets.PointSets`)."""
        return self.point_sets.reference_points

    @property
    def points(self):
        """``points[i]``: this rank's points of set ``i`` (``σ_i ξ_q``)."""
        return self.point_sets.points

    def unique_points(self):
        """``(targets, sources)``: this rank's distinct point positions and all ranks'
        (per set, summed over the sets), i.e. the pairs per evaluation are their product
        (``merge_coincident``); the point counts otherwise."""
        if self.spatial is not None or (not self.merge_coincident and not self.axisymmetric):
            return self.n_sets * len(self.weights), self.n_sets * self.n_global
        return self._distinct.counts()

    def _component(self, g, i):
        """Set ``i``'s component of ``g`` (``g`` itself for one set on a scalar space)."""
        return g if ufl.as_ufl(g).ufl_shape == () else g[i]

    def _grad(self, g):
        """The velocity part of the gradient."""
        if self.axisymmetric:
            return self.point_sets.velocity_coordinates.gradient(g)
        gr = ufl.grad(g)
        if self.positions is None:
            return gr
        return ufl.as_vector([gr[k] for k in self.velocity])

    def scaled_gradients(self, g):
        """``G_i = ∇_ξ g_i/(σ_i μ_i)`` (UFL, one per set; velocity components)."""
        return [self._grad(self._component(g, i)) / float(self.scales[i] * self.masses[i]) for i in range(self.n_sets)]

    @property
    def x_values(self):
        """Phase space: the distinct ``x``-values of the points (global)."""
        return self._phase_space.x_values

    @property
    def v_points(self):
        """Phase space: the distinct reference velocities of the points (global)."""
        return self._phase_space.v_points

    @property
    def x_index(self):
        """Phase space: for every (global) point, its index in :attr:`x_values`."""
        return self._phase_space.x_index

    @property
    def v_index(self):
        """Phase space: for every (global) point, its index in :attr:`v_points`."""
        return self._phase_space.v_index

    @property
    def coupling(self):
        """``c_ij`` (symmetric), with the current values of any ``Constant`` entries."""
        c = np.vectorize(value, otypes=[float])(self._coupling_spec)
        return 0.5 * (c + c.T)

    @property
    def kappa(self):
        """``κ(x_a − x_b)`` between the distinct x-values of the points (re-evaluated when
        ``κ`` has parameters, so that their current values are used)."""
        if self._kappa_parameters:
            return self._phase_space.kappa()
        return self._kappa

    def check_parameters(self):
        """The current coupling must be finite, ``≥ 0`` and not all zero, and ``κ``
        finite and positive at the separations of the points (parameters may have been
        changed since construction)."""
        if not self.parameters():
            return
        c = self.coupling
        if not np.all(np.isfinite(c)) or np.any(c < 0) or not np.any(c > 0):
            raise InvalidParameterError(
                f"two-point operator: the coupling has become {c.tolist()} (a parameter was set to a value that "
                "is negative, zero or not finite, e.g. in a replay of a taped run: bound the control)")
        if self.spatial is not None:
            K = self.kappa
            if not np.all(np.isfinite(K)) or np.any(K <= 0):
                raise InvalidParameterError(
                    f"two-point operator: the spatial weight {self.spatial.name} is no longer finite and positive "
                    f"at the points' separations (min {np.nanmin(K):.3g}) with the current parameter values")

    def parameters(self):
        """The parameters (``Constant`` s, Real-space Functions) that the pair sums depend
        on outside UFL (entries of the coupling, parameters of the spatial weight): the
        operator's own controls for ``firedrake.adjoint`` (:meth:`coefficient_adjoint`).
        Found once, at construction."""
        return self._parameters

    def mobilities(self, f):
        """``m_i(f)`` (UFL, one per set): the mobility of each set of points."""
        m = self.mobility(f)
        shape = ufl.as_ufl(m).ufl_shape
        want = () if self.n_sets == 1 else (self.n_sets,)
        if shape != want and not (self.n_sets == 1 and shape == (1,)):
            raise InvalidParameterError(f"two-point operator: the mobility must have shape {want}, got {shape}")
        return [m if shape == () else m[i] for i in range(self.n_sets)]

    def coefficient_set(self, f, g):
        """The :class:`CoefficientSet` of ``(f, g)`` (made once): the Quadrature
        Functions ``Ĝ_i`` (``G``), ``Ĵ_i`` (``J``), the point values of ``m_i`` and ``G_i``
        (``mq``, ``gq``) that :meth:`refresh` fills, and the interpolations feeding them."""
        key = (f, g)
        e = self._entries.get(key)
        if e is None:
            if isinstance(g, ufl.Argument) or ufl.algorithms.extract_arguments(g):
                raise InvalidParameterError(
                    "a two-point (nonlocal) friction operator can not be assembled as a sparse "
                    "matrix: use its action (apply_friction) or checks.friction_matrix_dense")
            e = CoefficientSet(self, self.mobilities(f), self.scaled_gradients(g))
            self._entries[key] = e
        return e

    def share_coefficients(self, f_alias, f, g):
        """``form(f_alias, g, φ)`` uses the coefficients ``Ĝ, Ĵ, ĝ`` of ``(f, g)``
        (:meth:`FrictionOperator.share_coefficients`)."""
        self._entries[(f_alias, g)] = self.coefficient_set(f, g)
        return True

    def form(self, f, g, phi):
        """``⟨φ, M g⟩ = Σ_i ∫ ∇_ξφ_i/(σ_i μ_i) · m_i (Ĝ_i (G_i − ĝ_i) + Ĵ_i)`` with the
        coefficients of ``(f, g)``: ``ĝ_i`` is ``G_i`` at the points at the last refresh and
        ``Ĵ_i`` is summed pairwise, so the value is ``Σ_i ∫ ∇φ_i · m_i Ĵ_i`` without
        cancellation error and the UFL derivative in ``g`` is the frozen-coefficient
        (Picard) Jacobian."""
        e = self.coefficient_set(f, g)
        m, G, P = self.mobilities(f), self.scaled_gradients(g), self.scaled_gradients(phi)
        out = 0
        for i in range(self.n_sets):
            out = out + ufl.inner(P[i], m[i] * (ufl.dot(e.G[i], G[i] - e.gq[i]) + e.J[i])) * self.dx
        return out

    def refresh(self, f, g):
        """Recompute ``Ĝ_i, Ĵ_i`` for the current values of ``f`` and ``g`` (collective).

        Skipped (no pair sums) when ``m`` and ``G`` at the points are unchanged since the
        last refresh of this pair, e.g. the Jacobian right after a residual."""
        if annotating():
            raise InvalidParameterError(
                "a two-point operator evaluated while firedrake.adjoint annotates, outside a time step (e.g. "
                "apply_friction or a structure check): its pair sums are invisible to the tape and the gradient "
                "would be that of frozen coefficients. Evaluate it with the annotation paused; taped steps are "
                "differentiated exactly (generic_fem.adjoint).")
        started = time.perf_counter()
        e = self.coefficient_set(f, g)
        mloc, gloc = e.read(self.dim)
        pvals = [value(p) for p in self.parameters()]    # a changed c or κ changes the sums
        same = e.last_input is not None and np.array_equal(e.last_input[0], mloc) \
            and np.array_equal(e.last_input[1], gloc) and e.last_input[2] == pvals
        if self.comm.allreduce(same, op=MPI.LAND):
            self.stats["skipped"] += 1
            return
        e.last_input = (mloc.copy(), gloc.copy(), pvals)
        coeff = self.weights[None, :] * mloc
        e.coeff = coeff
        for i, (G, H) in enumerate(self.pair_sums(gloc, coeff, gloc)):
            e.G[i].dat.data_wo[:] = G.reshape(e.G[i].dat.data_ro.shape)
            e.J[i].dat.data_wo[:] = H.reshape(e.J[i].dat.data_ro.shape)
        self.stats["evaluations"] += 1
        self.stats["seconds"] += time.perf_counter() - started

    def summation(self):
        """The summation backend of the next evaluation (:mod:`generic_fem.kernels.pair_summation`):
        the phase-space convolution with a spatial weight, the moments for a quadratic
        weight, else the pairs over distinct positions (``merge_coincident``, the
        default) or over every point; in axisymmetric velocity space always the rings over
        distinct positions (:class:`~generic_fem.kernels.pair_summation.AxisymmetricSums`)."""
        if self._phase_space is not None:
            return self._phase_space
        if self._moments is not None:
            return self._moments
        if self.axisymmetric:
            return self._distinct
        if self.summation_method == "fmm" and self.merge_coincident:
            return self._fmm
        if self.summation_method == "lattice" and self.merge_coincident:
            return self._lattice
        return self._distinct if self.merge_coincident else self._direct

    def pair_sums(self, target_vectors, coeff, vectors, coupling=None, kappa=None):
        """Per target set ``i``: ``(Σ_j c_ij Σ_p k_jp a_qp, Σ_j c_ij Σ_p k_jp a_qp (t_iq − g_jp))``
        at this rank's points, ``k = coeff`` (``N × n_local``), ``t = target_vectors``,
        ``g = vectors`` (``N × n_local × d``); ``coupling`` and ``kappa`` replace ``c`` and
        ``κ`` (the sums are linear in each).  Collective."""
        cpl = self.coupling if coupling is None else coupling
        if self.spatial is not None and kappa is None:
            kappa = self.kappa
        return self.summation().sums(target_vectors, coeff, vectors, cpl, kappa)

    def pair_contractions(self, tensors, coupling=None):
        """Per target set ``i``: ``K_iq = Σ_j c_ij Σ_p κ a(v_iq − v_jp) : T_jp`` at this
        rank's points, for symmetric tensors ``T`` (``N × n_local × d × d``, weights
        included).  Collective."""
        cpl = self.coupling if coupling is None else coupling
        T = 0.5 * (tensors + np.swapaxes(tensors, -1, -2))
        return self.summation().contractions(T, cpl, self.kappa if self.spatial is not None else None)

    def coefficient_adjoint(self, f, g, seeds, parameters=()):
        """The transposed linearisation of the coefficients of ``(f, g)``
        (:meth:`~generic_fem.friction.two_point_linearization.CoefficientLinearization.adjoint`)."""
        return self._linearization.adjoint(f, g, seeds, parameters)

    def parameter_derivatives(self, p):
        """The replacements of ``c`` and ``κ`` by their derivatives in the parameter ``p``
        (keyword arguments of :meth:`pair_sums`; the sums are linear in both), one per
        place where ``p`` enters."""
        out = []
        E = np.vectorize(lambda c: 1.0 if c is p else 0.0, otypes=[float])(self._coupling_spec)
        if np.any(E):
            out.append({"coupling": 0.5 * (E + E.T)})
        if any(c is p for c in self._kappa_parameters):
            xs = self._phase_space.x_values
            out.append({"kappa": self.spatial.derivative_matrix(xs, xs, p)})
        return out

    def adjoint_pullback(self, psi, f, g):
        """The pull-back of a 0-form's cotangents through the coefficients of ``(f, g)``
        (:class:`~generic_fem.solvers.adjoint.TwoPointPullBack`, built on :meth:`coefficient_adjoint`)."""
        from .pullbacks import TwoPointPullBack
        return TwoPointPullBack(self, psi, f, g)

    def point_count(self):
        """Points the pair sums run over (all sets)."""
        return self.n_sets * self.n_global

    def internal_coefficients(self):
        """The Functions this operator writes itself (not inputs of a taped step)."""
        out = []
        for e in self._entries.values():
            out += list(e.G) + list(e.gq) + list(e.J) + list(e.mq)
        return out

    def linearization(self, f, g, df, dg):
        """The pairs ``(c, δc)`` of the coefficients of ``(f, g)`` and their directional
        derivatives in the directions ``df, dg``
        (:meth:`~generic_fem.friction.two_point_linearization.CoefficientLinearization.register`):
        with them, the derivative of the form in the coefficients plus the
        frozen-coefficient Jacobian is the exact Jacobian action (Newton instead of
        Picard)."""
        return self._linearization.register(f, g, df, dg)

    def refresh_linearization(self, f, g):
        """Fill the ``δc`` of :meth:`linearization` for the current direction (two pair-sum
        passes; collective)."""
        self._linearization.refresh(f, g)

    def passes(self):
        """Pair-sum passes so far: one per operator evaluation, two per linearised one
        (``O(N_q²)`` work each; ``O(N_q)`` on the ``γ = 0`` moment path)."""
        return self.stats["evaluations"] + 2 * self.stats["linearized"]

    def dense_matrix(self, f, V, max_points=4000):
        """The matrix ``M_ij = ⟨φ_i, M φ_j⟩`` on ``V`` as a dense array on every rank.

        ``M = Bᵀ K B`` with ``B`` the (gathered) interpolation matrix ``V → G_i`` at the
        points of every set and ``K`` the two-point matrix with blocks
        ``δ_{(q,i),(p,j)} ω_q m_{i,q} Ĝ_{i,q} − c_ij ω_q m_{i,q} ω_p m_{j,p} κ_qp a(v_{i,q} − v_{j,p})``
        (``κ = 1`` without a spatial weight; coincident pairs skipped).  For validation on small meshes (``N · N_q ≤ max_points``)."""
        from .checks import gather_matrix
        if self.axisymmetric:
            return None    # (the checks build it column by column from the action)
        n, d = self.n_sets, self.dim
        if n * self.n_global > max_points:
            raise ValueError(f"dense two-point matrix: N N_q = {n * self.n_global} > max_points = {max_points}")
        m = self.mobilities(f)
        cols = []
        for i in range(n):
            mq = fd.Function(self.Q).interpolate(m[i])
            cols.append(np.column_stack([self.points[i], self.weights * np.asarray(mq.dat.data_ro)]))
        if self.spatial is not None:
            cols.append(self.positions[:, None])
        data = self.gather(np.concatenate(cols, axis=1))
        xpos = data[:, -1] if self.spatial is not None else None
        data = data[:, :n * (d + 1)].reshape(self.n_global, n, d + 1)
        x = data[:, :, :d].reshape(-1, d)             # (q, i) point-major
        c = data[:, :, d].ravel()
        sets = np.tile(np.arange(n), self.n_global)
        z = x[:, None, :] - x[None, :, :]
        r2 = np.einsum("qpi,qpi->qp", z, z)
        coincident = r2 == 0
        r = np.sqrt(np.where(coincident, 1.0, r2))
        s = self.weight.values(r.ravel()).reshape(r.shape) / r ** 2
        s *= self.coupling[sets[:, None], sets[None, :]] * c[:, None] * c[None, :]
        if xpos is not None:
            s *= self.spatial.matrix(xpos, xpos)
        s[coincident] = 0.0
        A = s[:, :, None, None] * (r2[:, :, None, None] * np.eye(d) - z[:, :, :, None] * z[:, :, None, :])
        K = -A
        idx = np.arange(len(c))
        K[idx, idx] += A.sum(axis=1)
        K = K.transpose(0, 2, 1, 3).reshape(len(c) * d, len(c) * d)
        u = fd.TrialFunction(V)
        G = self.scaled_gradients(u)
        # rows of B in the (q, i, a) order of K
        blocks = []
        for i in range(n):
            Bi = fd.assemble(fd.interpolate(G[i], self.Qv)).petscmat
            blocks.append(gather_matrix(Bi, self.comm).toarray().reshape(self.n_global, d, -1))
        B = np.stack(blocks, axis=1).reshape(self.n_global * n * d, -1)
        return B.T @ K @ B

    # ------------------------------------------------------------------ pairs
    def pair_points(self, f):
        """The pair set of the operator at the mobility state ``f`` (collective), for
        grazing rates on pairs (:mod:`generic_fem.drivers.grazing`): a dict of global arrays in
        the *set-major* order ``k = i N_q + q`` (``q`` in rank order), on every rank:

        ``v`` (velocities ``σ_i ξ_q``), ``x`` (space coordinates, or ``None``), ``set``,
        ``omega`` (``ω_q``), ``m`` (``m_i(f)`` at the point), and ``rows`` (the indices of
        this rank's points)."""
        if self.axisymmetric:
            raise InvalidParameterError("grazing rates on pairs are not available in axisymmetric velocity space")
        n, ng = self.n_sets, self.n_global
        cols = [np.column_stack([self.points[i], fd.Function(self.Q).interpolate(mi).dat.data_ro])
                for i, mi in enumerate(self.mobilities(f))]
        data = self.gather(np.concatenate(cols, axis=1)).reshape(ng, n, self.dim + 1).transpose(1, 0, 2)
        own = self.point_sets.owned_range()
        omega = self.gather(self.weights[:, None])[:, 0]
        x = None if self.positions is None else np.tile(self.gather(self.positions[:, None])[:, 0], n)
        return {"v": data[:, :, :self.dim].reshape(-1, self.dim), "m": data[:, :, self.dim].ravel(),
                "set": np.repeat(np.arange(n), ng), "omega": np.tile(omega, n), "x": x,
                "rows": np.concatenate([i * ng + own for i in range(n)])}

    def pair_mobility(self, pts, rows, cols):
        """``m_qp = c_{s(q)s(p)} κ(x_q − x_p) A(|v_q − v_p|) m_q m_p`` for the index arrays
        ``rows × cols`` of :meth:`pair_points`, and the mask of coincident pairs (skipped:
        ``m = 0`` there).  Then ``⟨φ, M g⟩ = ½ Σ_{q,p} ω_q ω_p m_qp ∇̃φ_qp · ∇̃g_qp`` with
        ``∇̃g_qp = Π(v_q − v_p)(∇g_{s(q)}(v_q)/μ_{s(q)} − ∇g_{s(p)}(v_p)/μ_{s(p)})``."""
        z = pts["v"][rows][:, None, :] - pts["v"][cols][None, :, :]
        r = np.sqrt(np.einsum("qpk,qpk->qp", z, z))
        same = r == 0
        A = self.weight.values(np.where(same, 1.0, r).ravel()).reshape(r.shape)
        m = self.coupling[pts["set"][rows][:, None], pts["set"][cols][None, :]] * A \
            * pts["m"][rows][:, None] * pts["m"][cols][None, :]
        if self.spatial is not None:
            m = m * self.spatial(pts["x"][rows][:, None] - pts["x"][cols][None, :])
        m[same] = 0.0
        return m, z, same

    def flux_form(self, V, phi):
        """``Σ_i ∫ ∇_ξφ_i/(σ_i μ_i) · V_i dξ = Σ_q ω_q ∇φ(v_q)/μ · V_q`` for per-set
        Quadrature vector Functions ``V_i`` (the weak divergence of a flux on pairs)."""
        P = self.scaled_gradients(phi)
        return sum(ufl.inner(P[i], V[i]) * self.dx for i in range(self.n_sets))

    def flux_space(self):
        """The Quadrature space of the ``V_i`` of :meth:`flux_form`."""
        return self.Qv

    def gather(self, local):
        """All ranks' rows of ``local`` (``(n_local, k)``), concatenated in rank order."""
        return self.point_sets.gather(local)
