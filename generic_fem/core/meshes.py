"""Velocity meshes: boxes ``[−R, R]^d`` (quadrilaterals/hexahedra or simplices), and the
meridian half-plane of axisymmetric velocity space (:func:`velocity_half_plane`)."""
import numpy as np
import firedrake as fd

from .errors import InvalidParameterError
from .velocity import AxisymmetricVelocity, set_velocity_coordinates

__all__ = ["velocity_box", "velocity_ball", "velocity_half_plane", "graded_half_disc", "geometric_edges",
           "cell_extent", "phase_space_mesh",
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


def _ring_radii(radius, inner, per_doubling):
    """``(a₀, [ρ₁, …, ρ_J = R])``: the radii of the circles, ratio ``q = 2^{1/per_doubling}``,
    the first ``ρ₁ ∈ (inner/q, inner]``, and the core half-width ``a₀ = ρ₁/2``."""
    q = 2.0 ** (1.0 / per_doubling)
    rings = int(np.ceil(np.log(radius / inner) / np.log(q) - 1e-9)) + 1
    rho1 = radius / q ** (rings - 1)
    return rho1 / 2, rho1 * q ** np.arange(rings)


def graded_half_disc(radius, inner, segments=16, per_doubling=4, comm=None, name=None):
    r"""The meridian half-disc ``|v| ≤ R`` of axisymmetric velocity space (coordinates
    ``(s, v_∥)``, ``s = v_⊥²``, as :func:`velocity_half_plane`) with quadrilateral cells
    graded geometrically towards the origin ``v = 0`` and aligned with the spheres
    ``|v| = ρ``: for data with features of size ``inner`` at the origin.

    The cells: a core half-square ``[0, a₀] × [−a₀, a₀]`` (``v_⊥ × v_∥``) cut into
    ``n × 2n`` equal cells (``n = segments/4``), a ring joining its boundary to the circle
    ``ρ₁ = 2a₀ ∈ (inner/q, inner]`` along rays, then rings between the circles ``ρ_j = ρ₁ q^{j−1}``,
    ``q = 2^{1/per_doubling}``, up to ``ρ_J = R``, ``segments`` cells each, between the same
    rays.  The coordinate field is of degree 2 and exact on the rings: in
    ``(s, v_∥) = (ρ²(1 − c²), ρc)`` (``c = cos φ``, ``φ`` from the ``v_∥`` axis) a cell
    ``[ρ_j, ρ_{j+1}] × [c_k, c_{k+1}]`` is a biquadratic image of the reference square, so
    its sides lie on the spheres and rays exactly.  A radial function's interpolant is then
    constant along the spheres within the rings, and its angular derivatives vanish
    there: operators acting along the spheres (``Π^⊥_v ∇``) see no discretisation error
    of a steep radial profile.

    :arg radius: ``R``; :arg inner: the largest first circle: ``inner/q < ρ₁ ≤ inner``
        (``10⁻¹⁰⁰ R ≤ inner < R``: below, ``s = v_⊥²`` of the core underflows).
    :arg segments: cells per ring (a multiple of 4); :arg per_doubling: rings per doubling
        of the radius.  Cells are near square for ``segments ≈ 4.5 per_doubling``.
    """
    try:
        R, a_in = float(radius), float(inner)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"graded_half_disc: radius and inner must be numbers, got {radius}, {inner}") from None
    if not (np.isfinite(R) and R > 0 and np.isfinite(a_in) and 1e-100 * R <= a_in < R):
        raise InvalidParameterError(f"graded_half_disc: need 1e-100 radius <= inner < radius, got inner={inner}, "
                                    f"radius={radius}")
    for what, k, lo in (("segments", segments, 4), ("per_doubling", per_doubling, 1)):
        if not (isinstance(k, (int, np.integer, float)) and np.isfinite(k) and int(k) == k and k >= lo):
            raise InvalidParameterError(f"graded_half_disc: {what} must be an integer >= {lo}, got {k}")
    if segments % 4:
        raise InvalidParameterError(f"graded_half_disc: segments must be a multiple of 4, got {segments}")
    n, m = int(segments) // 4, int(segments)
    a0, radii = _ring_radii(R, a_in, int(per_doubling))
    # vertices in (v_⊥, v_∥); each cell with its map (ξ, η) ∈ [0, 1]² → (s, v_∥) (None: straight)
    verts, cells, maps = [], [], []

    def vertex(p):
        verts.append(p)
        return len(verts) - 1
    core = {(i, k): vertex((a0 * i / n, a0 * (k - n) / n)) for k in range(2 * n + 1) for i in range(n + 1)}
    for k in range(2 * n):
        for i in range(n):
            cells.append((core[i, k], core[i + 1, k], core[i + 1, k + 1], core[i, k + 1]))
            maps.append(None)          # (straight in (s, v_∥), as velocity_half_plane's cells)
    # the half-square's boundary off the axis, counter-clockwise from (0, −a₀) to (0, a₀)
    ring = ([core[i, 0] for i in range(n + 1)] + [core[n, k] for k in range(1, 2 * n + 1)]
            + [core[i, 2 * n] for i in range(n - 1, -1, -1)])
    P = np.array([verts[v] for v in ring])
    c = P[:, 1] / np.hypot(P[:, 0], P[:, 1])          # cos φ of the rays through those points
    c[0], c[-1] = -1.0, 1.0

    def arc(rho, c0, c1):
        return lambda xi, eta: _polar(rho(xi), c0 + (c1 - c0) * eta)

    def ring_map(rho, c0, c1):
        a = arc(rho, c0, c1)
        return lambda xi, eta: _to_s(a(xi, eta))
    for j, rho in enumerate(radii):
        outer = [vertex(_polar(rho, ck)) for ck in c]
        for k in range(m):
            cells.append((ring[k], outer[k], outer[k + 1], ring[k + 1]))
            if j == 0:      # from the straight side of the half-square to the first circle,
                # blended in (s, v_∥) (s linear along the axis: a positive Jacobian there)
                p0, p1 = _to_s(P[k]), _to_s(P[k + 1])
                a = arc(lambda xi, r1=rho: r1, c[k], c[k + 1])
                maps.append(lambda xi, eta, p0=p0, p1=p1, a=a: (1 - xi) * ((1 - eta) * p0 + eta * p1)
                            + xi * _to_s(a(1.0, eta)))
            else:
                r0 = radii[j - 1]
                maps.append(ring_map(lambda xi, r0=r0, r1=rho: r0 + (r1 - r0) * xi, c[k], c[k + 1]))
        ring = outer
    # the straight mesh, then its coordinates of degree 2 from the cells' maps.  The cell
    # vertices above run (ξ, η) = (0, 0), (1, 0), (1, 1), (0, 1) (for the rings ξ is radial)
    V = np.array(verts)
    X = np.column_stack([V[:, 0] ** 2, V[:, 1]])
    kw = _mesh_kwargs(comm, name)
    mesh_comm = kw.pop("comm", fd.COMM_WORLD)
    plex = fd.mesh.plex_from_cell_list(2, np.asarray(cells), X, mesh_comm)
    straight = fd.Mesh(plex, comm=mesh_comm, **kw)
    C2 = fd.VectorFunctionSpace(straight, "Q", 2)
    x2 = fd.Function(C2).interpolate(fd.SpatialCoordinate(straight))
    c1 = straight.coordinates
    key = {tuple(sorted(map(tuple, X[list(cell)].tolist()))): i for i, cell in enumerate(cells)}
    ref = [(xi, eta) for xi in (0.0, 0.5, 1.0) for eta in (0.0, 0.5, 1.0)]
    x2v, c1v = x2.dat.data_ro_with_halos, c1.dat.data_ro_with_halos
    new = x2v.copy()
    for nodes1, nodes2 in zip(c1.function_space().cell_node_list, C2.cell_node_list):
        i = key[tuple(sorted(map(tuple, c1v[nodes1].tolist())))]
        if maps[i] is None:
            continue
        A, B, Cc, D = X[list(cells[i])]
        cand = np.array([(1 - xi) * (1 - eta) * A + xi * (1 - eta) * B + xi * eta * Cc + (1 - xi) * eta * D
                         for xi, eta in ref])
        for node in nodes2:
            xi, eta = ref[int(np.argmin(np.sum((cand - x2v[node]) ** 2, axis=1)))]
            new[node] = maps[i](xi, eta)
    new[:, 0] = np.maximum(new[:, 0], 0.0)
    coords = fd.Function(C2)
    coords.dat.data_with_halos[:] = new
    mesh = fd.Mesh(coords, **({"name": name} if name else {}))
    set_velocity_coordinates(mesh, AxisymmetricVelocity())
    return mesh


def cell_extent(mesh):
    """A piecewise-constant Function: each cell's extent, the largest spread of its
    coordinate nodes in any mesh coordinate (a cell size for tolerances that must follow
    graded meshes; UFL's ``CellDiameter`` is not available on every cell and rule)."""
    X = mesh.coordinates
    nodes = X.dat.data_ro_with_halos[X.function_space().cell_node_list]      # (cells, nodes, dim)
    ext = (nodes.max(axis=1) - nodes.min(axis=1)).max(axis=1)
    D0 = fd.FunctionSpace(mesh, "DG", 0)
    out = fd.Function(D0, name="cell_extent")
    out.dat.data_with_halos[D0.cell_node_list[:, 0]] = ext
    return out


def _to_s(p):
    """``(v_⊥, v_∥) → (s, v_∥) = (v_⊥², v_∥)`` (an array)."""
    return np.array([p[0] * p[0], p[1]])


def _polar(rho, c):
    """``(v_⊥, v_∥) = (ρ \\sqrt{1 − c²}, ρ c)``."""
    return (rho * np.sqrt(max(1.0 - c * c, 0.0)), rho * c)


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
