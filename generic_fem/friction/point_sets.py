r"""The points a two-point operator sums over.

A two-point operator (:mod:`generic_fem.friction.two_point`) evaluates its pair sums at the
points ``ξ_q`` of the model's quadrature rule, with weights ``ω_q``: under the nodal rule
the nodes of the unknown's space, so that every unknown owns its point density.  With
``N`` sets of points (species) the set ``i`` sits at ``v = σ_i ξ_q``.  In phase space the
mesh has space and velocity coordinates, and a point is ``(x_q, ξ_q)``.

:class:`PointSets` holds that layout on this rank and globally (the points are spread over
the ranks as the mesh is; the sums gather the sources), and gives points that coincide
up to rounding one position: a node shared by neighbouring cells is computed by each
cell, and the kernel must see such a pair as coincident (``r = 0``, left out) on every
rank alike, not as a pair at ``r ~ 1e-16``.
"""
import itertools

import numpy as np
import ufl
import firedrake as fd
from mpi4py import MPI

from ..core.errors import InvalidParameterError
from ..core.quadrature import as_rule
from ..core.velocity import velocity_coordinates
from ..core.meshes import cell_extent

__all__ = ["PointSets", "coincidence_representatives"]


def coincidence_representatives(points, tol):
    """For points (rows), the index of one representative per cluster of points
    closer than ``tol`` in every coordinate (the smallest index in the cluster; points
    up to a few ``tol`` apart may join a cluster too).  ``tol`` is one positive number
    or one per point (points of graded meshes: a tolerance relative to each point's
    size).

    Points are binned on ``2^d`` grids of spacing ``2 t`` shifted by half a bin per
    coordinate, so two points within ``t`` share a bin in at least one grid whatever
    their position relative to the bin edges; clusters are merged across grids.  With
    one tolerance per point the points are binned by the octave of their tolerance, each
    octave with the next (two copies of a point have tolerances within an octave), with
    ``t`` the largest tolerance of the two octaves."""
    n, d = points.shape
    rep = np.arange(n)
    if n == 0:
        return rep
    tol = np.asarray(tol, dtype=float)
    if tol.shape not in ((), (n,)) or not np.all(np.isfinite(tol) & (tol > 0)):
        raise InvalidParameterError(f"coincidence_representatives: tol must be one positive number or one per "
                                    f"point ({n}), got shape {tol.shape}")
    if not np.all(np.isfinite(points)):
        raise InvalidParameterError("coincidence_representatives: the points must be finite")
    if tol.ndim == 0:
        windows = [(np.arange(n), float(tol))]
    else:
        octave = np.floor(np.log2(tol)).astype(np.int64)
        windows = [(np.flatnonzero((octave == k) | (octave == k + 1)), 2.0 ** (k + 2))
                   for k in np.unique(octave)]
    for _ in range(2):      # a second sweep makes the merge across grids transitive
        for sel, t in windows:
            scaled = points[sel] / (2.0 * t)
            if np.abs(scaled).max(initial=0.0) > 2.0 ** 62:
                raise InvalidParameterError("coincidence_representatives: tol is too small for the points' "
                                            "size (their bins overflow 64-bit integers)")
            sub = rep[sel]
            for shift in itertools.product((0.0, 0.5), repeat=d):
                keys = np.floor(scaled + np.array(shift)).astype(np.int64)
                _, inv = np.unique(keys, axis=0, return_inverse=True)
                inv = inv.ravel()
                low = np.full(inv.max() + 1, n, dtype=rep.dtype)
                np.minimum.at(low, inv, sub)
                sub = low[inv]
            rep[sel] = sub
    while True:             # every point to its cluster's smallest index
        nxt = rep[rep]
        if np.array_equal(nxt, rep):
            return rep
        rep = nxt


class PointSets:
    """The quadrature points of ``rule`` on ``mesh`` as ``N`` sets ``σ_i ξ_q`` (module
    docstring).

    :arg mesh: the (reference) mesh.
    :arg rule: the quadrature rule (:class:`~generic_fem.core.quadrature.QuadratureRule`, or a
        degree).
    :arg dx: its measure (the weights are ``∫ φ_q dx``).
    :arg velocity: the indices of the mesh coordinates that are velocity (default all);
        exactly one other is the space coordinate of phase-space points.
    :arg scales: ``σ_i > 0``, one per set.

    Attributes: ``dim`` (velocity dimension, 2 or 3), ``velocity``, ``space`` (the space
    coordinate indices), ``rule``, ``Q``, ``Qv``, ``Qt`` (its scalar, vector and tensor
    Quadrature spaces), ``reference_points`` (this rank's ``ξ_q``), ``points`` (per set,
    ``σ_i ξ_q``), ``positions`` (this rank's space coordinates, or ``None``), ``weights``
    (``ω_q``), ``counts`` (points per rank), ``n_global``, ``diameter`` (of the largest
    set: an upper bound of the pair distances).
    """

    @staticmethod
    def coordinates(mesh, velocity=None):
        """``(velocity, space)``: the indices of the mesh coordinates that are velocity
        (default all; 2 or 3 of them, else an error) and the others."""
        gdim = mesh.geometric_dimension() if callable(mesh.geometric_dimension) else mesh.geometric_dimension
        vel = tuple(range(gdim)) if velocity is None else tuple(int(k) for k in velocity)
        dim = len(vel)
        if dim not in (2, 3) or len(set(vel)) != dim or not all(0 <= k < gdim for k in vel):
            raise InvalidParameterError(f"two-point operator: velocity dimension must be 2 or 3, got {dim} "
                                        f"(velocity coordinates {vel} of a {gdim}D mesh)")
        return vel, [k for k in range(gdim) if k not in vel]

    def __init__(self, mesh, rule, dx, velocity=None, scales=(1.0,)):
        vel, self.space = self.coordinates(mesh, velocity)
        gdim = len(vel) + len(self.space)
        self.mesh, self.dim, self.velocity = mesh, len(vel), vel
        dim = self.dim
        self.scales = np.asarray(scales, dtype=float)
        self.rule = as_rule(mesh, rule)
        self.Q = self.rule.space()
        self.Qv = self.rule.space((dim,))
        self.Qt = self.rule.space((dim, dim))
        X = fd.Function(self.rule.space((gdim,))).interpolate(ufl.SpatialCoordinate(mesh))
        X = np.array(X.dat.data_ro).reshape(-1, gdim)
        self.positions = X[:, self.space[0]].copy() if len(self.space) == 1 else None
        self.weights = np.array(fd.assemble(fd.TestFunction(self.Q) * dx).dat.data_ro)
        self.comm = comm = mesh.comm
        self.counts = np.array(comm.allgather(len(self.weights)))
        self.n_global = int(self.counts.sum())      # points per set
        #: the velocity coordinates of the mesh (:mod:`generic_fem.core.velocity`): the points
        #: are velocities (``(v_⊥, v_∥)`` in axisymmetric velocity space, not the mesh's ``s``)
        self.velocity_coordinates = velocity_coordinates(mesh)
        if self.velocity_coordinates.kind != "cartesian" and self.space:
            raise InvalidParameterError("two-point operator: axisymmetric velocity in phase space is not supported")
        self.set_reference_points(self.velocity_coordinates.point_values(X[:, list(vel)]))
        ext = np.abs(self.reference_points).max(axis=0) if len(self.weights) else np.zeros(dim)
        ext_global = np.empty_like(ext)
        comm.Allreduce(ext, ext_global, op=MPI.MAX)
        self.diameter = 2 * self.scales.max() * np.linalg.norm(ext_global)
        #: the smallest cell extent of the mesh (every rank), times the smallest scale
        self.smallest_cell = self.scales.min() * comm.allreduce(
            float(np.min(cell_extent(mesh).dat.data_ro, initial=np.inf)), op=MPI.MIN)

    @property
    def n_sets(self):
        return len(self.scales)

    def set_reference_points(self, xi):
        """This rank's reference points ``ξ_q`` (and so every set's ``σ_i ξ_q``)."""
        self.reference_points = np.ascontiguousarray(xi)
        self.points = [s * self.reference_points for s in self.scales]

    def snap_coincident(self):
        """Give points that coincide up to rounding one position, the same on every rank
        (over every set: two species' points coincide too, ``σ_0 ξ_p = σ_1 ξ_q`` on a
        uniform mesh).  Coincide: within ``1e-10 max(|v|_∞, h)`` of each other, ``h`` the
        smallest cell extent of the mesh (:func:`~generic_fem.core.meshes.cell_extent`):
        relative to the point, as meshes graded towards ``v = 0`` have distinct points far
        closer than the diameter's rounding (:func:`~generic_fem.core.meshes.graded_half_disc`),
        and relative to the cells near the origin, where a node computed as a midpoint
        lies at ``|v| ~ 1e-16 h`` instead of 0.  Collective."""
        allp = self.gather(self.reference_points)
        if len(allp) == 0:
            return
        scaled = np.concatenate([s * allp for s in self.scales])
        size = np.maximum(np.abs(scaled).max(axis=1), self.smallest_cell)
        rep = coincidence_representatives(scaled, 1e-10 * size)
        n = len(allp)
        mine = self.owned_range()
        self.points = [np.ascontiguousarray(scaled[rep[i * n:(i + 1) * n][mine]]) for i in range(self.n_sets)]
        self.reference_points = np.ascontiguousarray(self.points[0] / self.scales[0])

    def owned_range(self):
        """The global indices of this rank's points (rank order)."""
        start = int(self.counts[:self.comm.rank].sum())
        return np.arange(start, start + len(self.weights))

    def gather(self, local):
        """All ranks' rows of ``local`` (``(n_local, k)``), concatenated in rank order."""
        local = np.ascontiguousarray(local, dtype=float)
        k = local.shape[1]
        out = np.empty((self.n_global, k))
        self.comm.Allgatherv(local, [out, self.counts * k])
        return out
