r"""VTK output of a run: one named scalar field per density component, in physical
coordinates, and the entropy variable on request.

A model says what to write with :meth:`~generic_fem.models.model.GenericModel.output_fields`:
``(name, expression, scale)`` triples, where ``scale`` (or ``None``) is the factor
between the model's mesh coordinates and the coordinates the field lives in.  The
multispecies models solve every species on one reference mesh ``ξ`` with
``v = σ_k ξ``; they return ``f_k(v) = f_k(ξ)/σ_k^d`` (a density per ``dv``) with scale
``σ_k``, so each species is written on its own copy of the mesh with coordinates
``σ_k ξ`` and ParaView shows it in physical velocity.  Each field has its own file
``<name>.pvd`` (Firedrake's :class:`~firedrake.output.VTKFile`), since fields on different
coordinates cannot share one.  In axisymmetric velocity space the files are in
``(v_⊥, v_∥)``, not in the mesh coordinates ``(s, v_∥)``.
"""
import os

import ufl
import firedrake as fd

from .errors import InvalidParameterError

__all__ = ["VTKOutput", "VTK_FIELDS"]

#: what :class:`VTKOutput` can write: the model's densities (``"f"``) and the entropy
#: variable ``w`` (``"w"``, on the model's mesh, one field per component)
VTK_FIELDS = ("f", "w")


def _scalar_space(V):
    """The scalar space of ``V``'s element (``V`` itself when scalar)."""
    if V.value_shape == ():
        return V
    return V.sub(0).collapse()


class VTKOutput:
    """Write the fields of ``model`` at a state ``w`` to ``directory``.

    :arg model: a :class:`~generic_fem.models.model.GenericModel`.
    :arg directory: output directory (created by rank 0's VTK writer).
    :arg fields: a subset of :data:`VTK_FIELDS`.
    """

    def __init__(self, model, directory, fields=("f",)):
        bad = [f for f in fields if f not in VTK_FIELDS]
        if bad or not fields:
            raise InvalidParameterError(f"vtk_fields: choose from {VTK_FIELDS}, got {tuple(fields)!r}")
        self.model, self.directory, self.fields = model, directory, tuple(dict.fromkeys(fields))
        self.P = _scalar_space(model.V)
        self._tmp = fd.Function(self.P)
        self._meshes = {}
        self._files = {}
        self._out = {}

    def output_mesh(self, scale=None):
        r"""The mesh a field is written on: the model's, or a copy with coordinates
        ``scale · X`` (same topology, so the same dof layout).  In axisymmetric velocity
        space the copy has the coordinates ``scale · (v_⊥, v_∥) = scale · (\sqrt{s}, v_∥)``,
        interpolated into the field's element (so the nodes sit where the data are)."""
        axisymmetric = self.model.velocity.kind == "axisymmetric"
        if (scale is None or float(scale) == 1.0) and not axisymmetric:
            return self.model.mesh
        key = 1.0 if scale is None else float(scale)
        if key not in self._meshes:
            mesh = self.model.mesh
            if axisymmetric:
                Xs = fd.VectorFunctionSpace(mesh, self.P.ufl_element())
                v = self.model.velocity.components(ufl.SpatialCoordinate(mesh))
                self._meshes[key] = fd.Mesh(fd.Function(Xs).interpolate(key * v))
            else:
                X = mesh.coordinates
                self._meshes[key] = fd.Mesh(fd.Function(X.function_space()).assign(key * X))
        return self._meshes[key]

    def _entries(self, w):
        out = []
        if "f" in self.fields:
            out += list(self.model.output_fields(self.model.density(w)))
        if "w" in self.fields:
            out += [("w", w, None)] if w.ufl_shape == () else \
                [(f"w_{i}", w[i], None) for i in range(w.ufl_shape[0])]
        return out

    def write(self, w, t):
        """Write every field at the state ``w`` (time ``t``).  Collective."""
        for name, expr, scale in self._entries(w):
            if name not in self._files:
                mesh = self.output_mesh(scale)
                V = fd.FunctionSpace(mesh, self.P.ufl_element())
                self._out[name] = fd.Function(V, name=name)
                self._files[name] = fd.VTKFile(os.path.join(self.directory, f"{name}.pvd"),
                                               comm=self.model.mesh.comm)
            self._tmp.interpolate(ufl.as_ufl(expr))
            self._out[name].dat.data[...] = self._tmp.dat.data_ro
            self._files[name].write(self._out[name], time=t)
