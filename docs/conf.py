"""Sphinx configuration of the sklearn-textdp documentation.

Build (from the repository root; ``-W`` turns every warning into an error)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API pages (``gen_modules/``) and the example gallery (``auto_examples/``) are
generated at build time; both folders are ignored by git.
"""

import os
import re
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent

# The package is installed (editable) in the documentation environment; fall back
# to the source tree so that a plain checkout builds too.
try:
    import sklearn_textdp
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(REPO))
    import sklearn_textdp

# Gallery examples run inside this process: headless plotting, a writable cache
# for numba (imported by pynndescent).
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NUMBA_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), "sklearn_textdp_numba_cache"))

# -- Project -------------------------------------------------------------------
project = "sklearn-textdp"
author = "sklearn-textdp developers"
copyright = "sklearn-textdp developers"  # noqa: A001
release = sklearn_textdp.__version__
version = release

# -- General -------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "README.md",  # how to build the docs, for contributors
    "**.ipynb_checkpoints",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
]
default_role = "literal"
pygments_style = "sphinx"

# -- autodoc / autosummary / numpydoc -----------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
autoclass_content = "class"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- MyST (pages written in Markdown) ------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- sphinx-gallery ------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples"),
    "gallery_dirs": "auto_examples",
    # Every example is executed (they are small and fast); numbered file names
    # give the reading order.
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sklearn_textdp",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"sklearn_textdp": None},
    "write_computation_times": False,  # no sg_execution_times.rst in the source tree
    "download_all_examples": False,
    "remove_config_comments": True,
    "capture_repr": ("_repr_html_", "__repr__"),
    "matplotlib_animations": False,
    "min_reported_time": 1,
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-textdp {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 8,
}
html_show_sourcelink = False
html_sidebars = {"index": []}

# -- API reference completeness ------------------------------------------------
def _unlisted_public_names():
    """Names of ``sklearn_textdp.__all__`` that ``api.rst`` does not list."""
    api = (DOCS / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"(?m)^[ \t]+([A-Za-z_][\w.]*)[ \t]*$", api))
    return [name for name in sklearn_textdp.__all__
            if not name.startswith("__") and name not in listed]


def _check_api_lists_every_public_name(app):
    # A public name missing from the reference is a documentation bug: with -W the
    # build fails and names it.
    unlisted = _unlisted_public_names()
    if unlisted:
        from sphinx.util import logging

        logging.getLogger(__name__).warning(
            "public names missing from docs/api.rst: " + ", ".join(unlisted))


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Document only members written in this package.

    Classes inherit many methods from scikit-learn (``get_params``,
    ``get_metadata_routing``, ...), ``int`` or ``Exception``; those are documented
    upstream, and their docstrings point to labels that do not exist here.
    """
    target = obj.fget if isinstance(obj, property) else obj
    module = getattr(target, "__module__", None)
    if module is None:
        module = getattr(getattr(target, "__objclass__", None), "__module__", None)
    if isinstance(module, str) and not module.startswith("sklearn_textdp"):
        return True
    if module is None and callable(target) and not hasattr(target, "__code__"):
        return True  # methods of built-in types (int.from_bytes, ...)
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
    app.connect("builder-inited", _check_api_lists_every_public_name)
