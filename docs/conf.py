"""Sphinx configuration: the API reference and the newcomer pages (built with -W in the tests)."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "icl-proofs"
author = "The icl-proofs authors"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.doctest", "sphinx.ext.mathjax"]
exclude_patterns = ["_build", "*.md", "calibration", "mutation", "examples"]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False}
nitpicky = False
html_theme = "alabaster"
napoleon_use_param = False
napoleon_use_rtype = False
doctest_test_doctest_blocks = ""  # module doctests run under pytest (they use module globals)
