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
