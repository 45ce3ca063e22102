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
os.environ.setdefault(
    "NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "sklearn_textdp_numba_cache")
)

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
    # MathJax 3 shipped in a Python package and copied into _static: the maths
    # renders without network access (the default loads it from a CDN).
    "sphinx-mathjax-offline",
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

# -- Maths ---------------------------------------------------------------------
mathjax_path = "mathjax/tex-chtml.js"  # in _static (sphinx-mathjax-offline)

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
    # Four page titles (75 characters) fit on one line of the top menu beside the
    # title and search down to ~1,200 px; the others go under "More" (eight, 200
    # characters, wrapped to two lines at 1,400 px).
    "header_links_before_dropdown": 4,
}
html_show_sourcelink = False


def _pages_without_subpages():
    """Top-level pages with no toctree of their own: their section navigation
    (the left sidebar) would be an empty box, so they get none."""
    pages = []
    for path in sorted(DOCS.glob("*.rst")) + sorted(DOCS.glob("*.md")):
        if path.name == "README.md":
            continue
        text = path.read_text(encoding="utf-8")
        if "toctree" not in text or path.stem == "index":
            pages.append(path.stem)
    return pages


html_sidebars = dict.fromkeys(_pages_without_subpages(), [])


# -- API reference completeness ------------------------------------------------
def _unlisted_public_names():
    """Names of ``sklearn_textdp.__all__`` that ``api.rst`` does not list."""
    api = (DOCS / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"(?m)^[ \t]+([A-Za-z_][\w.]*)[ \t]*$", api))
    return [
        name
        for name in sklearn_textdp.__all__
        if not name.startswith("__") and name not in listed
    ]


def _check_api_lists_every_public_name(app):
    # A public name missing from the reference is a documentation bug: with -W the
    # build fails and names it.
    unlisted = _unlisted_public_names()
    if unlisted:
        from sphinx.util import logging

        logging.getLogger(__name__).warning(
            "public names missing from docs/api.rst: " + ", ".join(unlisted)
        )


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


def _drop_empty_table_headers(app, doctree, docname):
    """A table whose header row is all empty (a Markdown key-value table must
    have one) is shown without it, not with a blank bar on top."""
    from docutils import nodes

    for thead in list(doctree.findall(nodes.thead)):
        if not thead.astext().strip():
            thead.parent.remove(thead)


_EXTERNAL_ASSET = re.compile(
    r"<(?:script|img)\b[^>]*\ssrc=\"((?:https?:)?//[^\"]+)\"|"
    r"<link\b[^>]*\brel=\"stylesheet\"[^>]*\bhref=\"((?:https?:)?//[^\"]+)\""
)
_LOCAL_SCRIPT = re.compile(r"<script\b[^>]*\ssrc=\"(?!(?:https?:)?//)([^\"?#]+)")


def external_assets(outdir):
    """``(page, problem)`` for every script, image or style sheet a built page
    loads from the network, and every local script missing from the build: the
    site must render offline (maths included)."""
    outdir = Path(outdir)
    problems = []
    for page in sorted(outdir.rglob("*.html")):
        if page.relative_to(outdir).parts[0] == "_static":
            continue  # the theme's template fragments, not pages
        html = page.read_text(encoding="utf-8", errors="replace")
        name = page.relative_to(outdir).as_posix()
        for match in _EXTERNAL_ASSET.finditer(html):
            problems.append((name, f"loads {match.group(1) or match.group(2)}"))
        for src in _LOCAL_SCRIPT.findall(html):
            if not (page.parent / src).resolve().is_file():
                problems.append((name, f"script {src} is missing from the build"))
    return problems


def _check_site_renders_offline(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    from sphinx.util import logging

    problems = external_assets(app.outdir)
    if problems:
        shown = "; ".join(f"{page}: {what}" for page, what in problems[:5])
        logging.getLogger(__name__).warning(
            f"{len(problems)} references that need the network or are missing: {shown}"
        )


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
    app.connect("builder-inited", _check_api_lists_every_public_name)
    app.connect("doctree-resolved", _drop_empty_table_headers)
    # After sphinx-mathjax-offline has copied MathJax (priority 500).
    app.connect("build-finished", _check_site_renders_offline, priority=900)
