"""The documentation builds without warnings (Sphinx -W), from the docstrings."""
import os
import subprocess
import sys


def test_sphinx_builds(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html",
                        os.path.join(root, "docs"), str(tmp_path / "html")],
                       capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path / "html" / "api.html").exists()


def _python_blocks(text, fence):
    """The code blocks of a document: ``.. code-block:: python`` (rst) or ``python`` fences (md)."""
    import re
    import textwrap
    if fence == "rst":
        out = []
        for m in re.finditer(r"\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", text):
            out.append(textwrap.dedent(m.group(1)))
        return out
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_gradient_examples_run():
    """The gradient examples of docs/gradients.rst and of the README run as written and
    give a nonzero parameter gradient."""
    import firedrake.adjoint as fa
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rst = _python_blocks(open(os.path.join(root, "docs", "gradients.rst")).read(), "rst")
    md = [b for b in _python_blocks(open(os.path.join(root, "README.md")).read(), "md") if "fa.ReducedFunctional" in b]
    assert rst and md
    for code in (rst[0], md[0]):
        fa.get_working_tape().clear_tape()
        ns = {}
        try:
            exec(compile(code, "example", "exec"), ns)     # noqa: S102 (our own documentation)
        finally:
            fa.pause_annotation()
            fa.get_working_tape().clear_tape()
        assert abs(float(ns["dJdC"].dat.data_ro[0])) > 1e-8
