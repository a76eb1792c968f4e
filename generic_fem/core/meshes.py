"""Velocity meshes: boxes ``[−R, R]^d`` (quadrilaterals/hexahedra or simplices), and the
meridian half-plane of axisymmetric velocity space (:func:`velocity_half_plane`)."""
import numpy as np
import firedrake as fd

from .errors import InvalidParameterError
from .velocity import AxisymmetricVelocity, set_velocity_coordinates

__all__ = ["velocity_box", "velocity_ball", "velocity_half_plane", "geometric_edges", "phase_space_mesh",
           "phase_space_box", "is_periodic"]

#: PETSc's "simple" partitioner: the same mesh is distributed the same way every
#: time (PT-Scotch is not reproducible between builds), so results and restarts
#: (:func:`generic_fem.drivers.run.restore_state`) are reproducible on a given rank count.
_DETERMINISTIC = {"distribution_parameters": {"partitioner_type": "simple"}}


def _mesh_kwargs(comm, name):
    """Keyword arguments of Firedrake's mesh constructors: deterministic partitioner,
    and ``comm`` / ``name`` when given."""
    kw = dict(_DETERMINISTIC)
    if comm is not None:
        kw["comm"] = comm
    if name is not None:
        kw["name"] = name
    return kw


def velocity_box(dim, radius, cells, quadrilateral=True, comm=None, name=None):
    """The box ``[−R, R]^dim`` with ``cells`` cells per direction (distributed with a
    deterministic partitioner).

    :arg dim: 1, 2 or 3.
    :arg radius: half-width ``R`` (or a tuple of per-direction half-widths).
    :arg cells: number of cells per direction.
    :arg quadrilateral: tensor-product cells (default) or simplices.
    """
    if dim not in (1, 2, 3):
        raise InvalidParameterError(f"velocity_box: dimension must be 1, 2 or 3, got {dim}")
    if int(cells) != cells or cells < 1:
        raise InvalidParameterError(f"velocity_box: cells must be a positive integer, got {cells}")
    R = tuple(radius) if hasattr(radius, "__len__") else (float(radius),) * dim
    if len(R) != dim or min(R) <= 0:
        raise InvalidParameterError(f"velocity_box: radius must be positive, got {radius}")
    kw = _mesh_kwargs(comm, name)
    n = int(cells)
    if dim == 1:
        mesh = fd.IntervalMesh(n, -R[0], R[0], **kw)
    elif dim == 2:
        mesh = fd.RectangleMesh(n, n, 2 * R[0], 2 * R[1], quadrilateral=quadrilateral, **kw)
        mesh.coordinates.dat.data[:] -= R
    else:
        mesh = fd.BoxMesh(n, n, n, 2 * R[0], 2 * R[1], 2 * R[2], hexahedral=quadrilateral, **kw)
        mesh.coordinates.dat.data[:] -= R
    return mesh


def geometric_edges(start, stop, cells, ratio):
    """``cells + 1`` cell edges from ``start`` to ``stop`` whose sizes grow by ``ratio`` from
    ``start`` (``ratio > 1``: cells geometric towards ``start``; 1: uniform)."""
    if int(cells) != cells or cells < 1 or not ratio > 0:
        raise InvalidParameterError(f"geometric_edges: need cells >= 1 and ratio > 0, got {cells}, {ratio}")
    sizes = float(ratio) ** np.arange(int(cells))
    return start + (stop - start) * np.concatenate([[0.0], np.cumsum(sizes)]) / sizes.sum()


def velocity_half_plane(radius_perp, radius_par, cells_perp, cells_par=None, perp_edges=None,
                        par_edges=None, comm=None, name=None):
    """The meridian half-plane ``0 ≤ v_⊥ ≤ R_⊥``, ``−R_∥ ≤ v_∥ ≤ R_∥`` of axisymmetric
    velocity space, in the coordinates ``(s, v_∥)``, ``s = v_⊥²``
    (:mod:`generic_fem.core.velocity` says why), with quadrilateral cells.

    :arg radius_perp: ``R_⊥``; :arg radius_par: ``R_∥``.
    :arg cells_perp: cells in ``v_⊥``; :arg cells_par: cells in ``v_∥`` (default
        ``2 cells_perp``, square cells for ``R_⊥ = R_∥``).
    :arg perp_edges: the cell edges in ``v_⊥`` (increasing, from 0 to ``R_⊥``; default
        uniform in ``v_⊥``: the cells are uniform in ``v_⊥``, not in ``s``), e.g.
        :func:`geometric_edges` for cells refined towards the axis.
    :arg par_edges: the cell edges in ``v_∥`` (default uniform).

    Models built on it are axisymmetric (:func:`~generic_fem.core.velocity.velocity_coordinates`):
    their integrals carry ``2π v_⊥``, their momentum is ``∫ v_∥ f``.
    """
    Rp, Rz = float(radius_perp), float(radius_par)
    if not (Rp > 0 and Rz > 0 and np.isfinite(Rp) and np.isfinite(Rz)):
        raise InvalidParameterError(f"velocity_half_plane: radii must be positive, got {radius_perp}, {radius_par}")
    n_p = int(cells_perp)
    n_z = 2 * n_p if cells_par is None else int(cells_par)
    if n_p != cells_perp or n_p < 1 or n_z < 1 or (cells_par is not None and n_z != cells_par):
        raise InvalidParameterError(f"velocity_half_plane: cell counts must be positive integers, got "
                                    f"{cells_perp}, {cells_par}")
    ep = np.linspace(0.0, Rp, n_p + 1) if perp_edges is None else np.asarray(perp_edges, dtype=float)
    ez = np.linspace(-Rz, Rz, n_z + 1) if par_edges is None else np.asarray(par_edges, dtype=float)
    for what, e, lo, hi, n in (("perp_edges", ep, 0.0, Rp, n_p), ("par_edges", ez, -Rz, Rz, n_z)):
        if e.shape != (n + 1,) or not np.all(np.diff(e) > 0) or abs(e[0] - lo) > 1e-14 * hi \
                or abs(e[-1] - hi) > 1e-14 * abs(hi):
            raise InvalidParameterError(f"velocity_half_plane: {what} must be {n + 1} increasing edges from "
                                        f"{lo:g} to {hi:g}")
    ep, ez = ep.copy(), ez.copy()
    ep[0], ep[-1], ez[0], ez[-1] = 0.0, Rp, -Rz, Rz      # (the axis exactly at s = 0)
    mesh = fd.RectangleMesh(n_p, n_z, float(n_p), float(n_z), quadrilateral=True, **_mesh_kwargs(comm, name))
    X = mesh.coordinates.dat.data
    X[:, 0] = ep[np.rint(X[:, 0]).astype(int)] ** 2
    X[:, 1] = ez[np.rint(X[:, 1]).astype(int)]
    set_velocity_coordinates(mesh, AxisymmetricVelocity())
    return mesh


def velocity_ball(dim, radius, refinements=3, comm=None, name=None):
    """The ball ``|v| ≤ R`` in ``dim = 2`` or ``3`` (Firedrake's ``UnitDiskMesh`` /
    ``UnitBallMesh``, triangles / tetrahedra, boundary vertices on the sphere, scaled
    by ``R``).  Each refinement halves the cell size (4^k resp. 8^k times the cells)."""
    if dim not in (2, 3):
        raise InvalidParameterError(f"velocity_ball: dimension must be 2 or 3, got {dim}")
    if int(refinements) != refinements or refinements < 0:
        raise InvalidParameterError(f"velocity_ball: refinements must be a non-negative integer, "
                                    f"got {refinements}")
    if not radius > 0:
        raise InvalidParameterError(f"velocity_ball: radius must be positive, got {radius}")
    kw = _mesh_kwargs(comm, name)
    make = fd.UnitDiskMesh if dim == 2 else fd.UnitBallMesh
    mesh = make(refinement_level=int(refinements), **kw)
    mesh.coordinates.dat.data[:] *= float(radius)
    return mesh


def phase_space_mesh(nx, nv, length, vmax, comm=None):
    """The 1x1v phase space ``T_x × [−V, V]``: a periodic interval of length ``length``
    (``nx`` cells) extruded in ``v`` (``nv`` layers).  Coordinates are ``(x, v)``.

    The extruded structure keeps every ``v``-column on one MPI rank, so fields that are
    constant in ``v`` (local moments) live in ``CG(x) ⊗ R(v)`` spaces."""
    if int(nx) != nx or nx < 2 or int(nv) != nv or nv < 1:
        raise InvalidParameterError(f"phase_space_mesh: need nx >= 2 and nv >= 1, got {nx}, {nv}")
    if not (length > 0 and vmax > 0):
        raise InvalidParameterError(f"phase_space_mesh: length and vmax must be positive, "
                                    f"got {length}, {vmax}")
    kw = _mesh_kwargs(comm, None)
    base = fd.PeriodicIntervalMesh(int(nx), float(length), **kw)
    mesh = fd.ExtrudedMesh(base, layers=int(nv), layer_height=2.0 * vmax / nv)
    mesh.coordinates.dat.data[:, 1] -= vmax
    return mesh


def phase_space_box(nx, nv, length, vmax, velocity_dim=2, comm=None, name=None):
    """The phase space ``T_x × [−V, V]^{d_v}`` as one box mesh: a periodic interval of
    length ``length`` (``nx`` cells) times a velocity box (``nv`` cells per direction),
    quadrilaterals (``d_v = 1``) or hexahedra (``d_v = 2``).  Coordinates ``(x, v_1[, v_2])``.

    Firedrake has no 4D meshes: 1x1v and 1x2v are what the mesh layer allows; 2x2v or
    1x3v would need a tensor product of meshes that Firedrake does not provide.  The
    quadrature points are a tensor product of ``x`` points and ``v`` points, which the
    phase-space two-point operator uses (its ``x`` sums are a convolution)."""
    if int(nx) != nx or nx < 3 or int(nv) != nv or nv < 1:
        raise InvalidParameterError(f"phase_space_box: need nx >= 3 and nv >= 1, got {nx}, {nv}")
    if not (length > 0 and vmax > 0):
        raise InvalidParameterError(f"phase_space_box: length and vmax must be positive, got {length}, {vmax}")
    if velocity_dim not in (1, 2):
        raise InvalidParameterError(f"phase_space_box: velocity_dim must be 1 or 2 (Firedrake has no 4D "
                                    f"meshes), got {velocity_dim}")
    kw = _mesh_kwargs(comm, name)
    V = float(vmax)
    if velocity_dim == 1:
        mesh = fd.PeriodicRectangleMesh(int(nx), int(nv), float(length), 2 * V, direction="x",
                                        quadrilateral=True, **kw)
    else:
        mesh = fd.PeriodicBoxMesh(int(nx), int(nv), int(nv), float(length), 2 * V, 2 * V,
                                  directions=(True, False, False), hexahedral=True, **kw)
    mesh.coordinates.dat.data[:, 1:] -= V
    return mesh


def is_periodic(mesh):
    """Whether the mesh is periodic in some direction (Firedrake's periodic meshes carry
    discontinuous coordinates)."""
    el = str(mesh.coordinates.function_space().ufl_element())
    return any(k in el for k in ("Discontinuous", "DQ", "DG"))
