"""The package's import structure (the layers issue): imports run one way (no import
cycle between the modules of ``generic_fem``), and no module imports another
module's private (``_name``) names, in ``generic_fem`` or in the models of ``forms``.
Static: the modules are parsed, not imported."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("generic_fem", "forms")


def _modules(root=ROOT, packages=PACKAGES):
    """``{dotted name: path}`` of every module of ``packages`` under ``root``."""
    out = {}
    for pkg in packages:
        for dirpath, _, files in os.walk(os.path.join(root, pkg)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    dotted = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                    out[dotted[:-len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return out


def _imports(modules):
    """``{module: [(imported module, imported name or None), ...]}`` for the imports of
    one package module from another (relative imports resolved)."""
    out = {}
    for mod, path in modules.items():
        is_package = path.endswith("__init__.py")
        found = []
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = mod.split(".")
                    base = parts[:len(parts) - node.level + (1 if is_package else 0)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] not in {m.split(".")[0] for m in modules}:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.append((sub, None) if sub in modules else (target, alias.name))
            elif isinstance(node, ast.Import):
                found += [(a.name, None) for a in node.names if a.name in modules]
        out[mod] = found
    return out


def private_imports(modules):
    """``"a imports _x from b"`` for every private name one module imports from another."""
    return [f"{mod} imports {name} from {target}"
            for mod, found in _imports(modules).items() for target, name in found
            if name is not None and name.startswith("_") and target != mod]


def import_cycles(modules, package):
    """The import cycles between the modules of ``package`` (each as a list of modules)."""
    graph = {m: {t for t, _ in found if t in modules and t != m and t.startswith(package + ".")}
             for m, found in _imports(modules).items() if m.startswith(package + ".")}
    state, cycles = {}, []

    def visit(m, stack):
        state[m] = "open"
        for t in sorted(graph.get(m, ())):
            if state.get(t) == "open":
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t, stack + [t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return cycles


#: private attributes of other objects that a module may read: Firedrake's compiled
#: interpolation callable (generic_fem.assembly.compiled_interpolation, documented there)
ALLOWED_PRIVATE_ATTRIBUTES = {("generic_fem.core.assembly", "_get_callable")}


def private_attribute_reaches(modules, allowed=()):
    """``"m reads x._y"`` for every private attribute ``_y`` a module reads or writes on
    an object other than ``self``/``cls`` (another object's internals)."""
    out = []
    for mod, path in modules.items():
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    continue
                if (mod, node.attr) in allowed:
                    continue
                out.append(f"{mod} reads {ast.unparse(node)}")
    return out


def test_no_module_reaches_into_another_objects_private_attributes():
    """The steppers, operators, adjoint and models talk through declared public members
    (e.g. the adjoint through ``Stepper.replay``, ``refresh``, ``defect_form``, and a
    two-point operator's ``coefficient_set``), not through each other's internals."""
    bad = private_attribute_reaches(_modules(), ALLOWED_PRIVATE_ATTRIBUTES)
    assert not bad, bad


def test_the_package_and_models_are_parsed():
    modules = _modules()
    assert "generic_fem.solvers.steppers" in modules and "forms.landau" in modules
    assert any(t == "generic_fem.core.errors" for t, _ in _imports(modules)["generic_fem.solvers.steppers"])


#: the layers of the package, lowest first (docs/architecture.rst): a module imports
#: only from its own layer and the ones before it
LAYERS = ("core", "kernels", "friction", "models", "solvers", "drivers")


def upward_imports(modules, package="generic_fem", layers=LAYERS):
    """``"a imports b"`` for every import of a module of a higher layer."""
    rank = {name: k for k, name in enumerate(layers)}

    def layer(mod):
        parts = mod.split(".")
        return rank.get(parts[1]) if len(parts) > 2 and parts[0] == package else None

    return [f"{mod} imports {target}" for mod, found in _imports(modules).items() if layer(mod) is not None
            for target, _ in found if layer(target) is not None and layer(target) > layer(mod)]


def test_imports_run_down_the_layers():
    modules = _modules()
    assert all(any(m.startswith(f"generic_fem.{L}.") for m in modules) for L in LAYERS)
    bad = upward_imports(modules)
    assert not bad, bad


def alias_modules(modules, package="generic_fem", layers=LAYERS):
    """``{old path: new path}``: the top-level modules that alias a layered one."""
    layered = {m.split(".")[-1]: m for m in modules
               if m.startswith(package + ".") and m.count(".") == 2 and m.split(".")[1] in layers}
    return {f"{package}.{name}": new for name, new in layered.items() if f"{package}.{name}" in modules}


def alias_uses(modules):
    """``"a imports b"`` for every import of an old (alias) path by a layered module or a
    model: the package and the models use the layered paths."""
    aliases = alias_modules(modules)
    return [f"{mod} imports {target}" for mod, found in _imports(modules).items()
            if mod.startswith("forms.") or mod.split(".")[1:2] and mod.split(".")[1] in LAYERS
            for target, _ in found if target in aliases]


def test_the_package_and_the_models_use_the_layered_paths():
    modules = _modules()
    assert len(alias_modules(modules)) >= 30
    bad = alias_uses(modules)
    assert not bad, bad


def test_the_old_module_paths_are_the_new_modules():
    """``generic_fem.steppers`` etc. (the paths before the layers) are aliases: the same
    module objects, so imports, monkeypatching and PETSc's ``pc_python_type`` strings of
    the old paths keep working; importing the old ``generic_fem.run`` module leaves the
    function ``generic_fem.run`` in place."""
    import importlib
    import generic_fem
    for old, new in alias_modules(_modules()).items():
        assert importlib.import_module(old) is importlib.import_module(new), old
    assert callable(generic_fem.run) and not isinstance(generic_fem.run, type(generic_fem))


def test_no_module_imports_a_private_name_of_another():
    bad = private_imports(_modules())
    assert not bad, bad


def test_no_import_cycle_in_the_package():
    modules = _modules()
    # (the package's __init__ imports its modules; no module imports the package itself)
    assert not any(t == "generic_fem" for found in _imports(modules).values() for t, _ in found)
    cycles = import_cycles(modules, "generic_fem")
    assert not cycles, cycles


@pytest.mark.parametrize("a, b, private, cycles", [
    ("from .b import _x\n", "x = _x = 1\n", ["pkg.a imports _x from pkg.b"], []),
    ("from .b import x\n", "x = _x = 1\n", [], []),
    ("from . import b\n", "from .a import y\nx = 1\n", [], [["pkg.a", "pkg.b", "pkg.a"]]),
])
def test_the_checks_see_a_private_import_and_a_cycle(tmp_path, a, b, private, cycles):
    """The checks above can fail: on a scratch package they report what is there."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(a)
    (pkg / "b.py").write_text(b)
    modules = _modules(str(tmp_path), ("pkg",))
    assert private_imports(modules) == private
    assert import_cycles(modules, "pkg") == cycles


def test_the_layer_check_sees_an_upward_import(tmp_path):
    pkg = tmp_path / "pkg"
    for layer in ("core", "solvers"):
        (pkg / layer).mkdir(parents=True)
        (pkg / layer / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "a.py").write_text("from ..solvers.b import x\n")
    (pkg / "solvers" / "b.py").write_text("from ..core.a import y\nx = 1\n")
    modules = _modules(str(tmp_path), ("pkg",))
    assert upward_imports(modules, "pkg", ("core", "solvers")) == ["pkg.core.a imports pkg.solvers.b"]


def test_the_check_sees_a_private_attribute_reach(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("class A:\n    def f(self, other):\n        return self._x + other._y\n")
    modules = _modules(str(tmp_path), ("pkg",))
    assert private_attribute_reaches(modules) == ["pkg.a reads other._y"]
