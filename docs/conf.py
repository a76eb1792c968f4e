import os
import sys

sys.path.insert(0, os.path.abspath(".."))
project = "generic-fem"
author = "generic-fem developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax",
              "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
html_theme = "alabaster"
exclude_patterns = ["_build"]
