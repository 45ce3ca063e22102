"""Sphinx configuration of the sklearn-textdp documentation.

Build (from the repository root; ``-W`` turns every warning into an error)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API pages (``gen_modules/``) and the example gallery (``auto_examples/``) are
generated at build time; both folders are ignored by git.
"""

import inspect
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

# -- Pages written by other people ---------------------------------------------
#: Pages included in the site when present. While one is missing (it is written
#: elsewhere and may not be committed yet), its toctree entry and the :doc: links
#: to it are dropped so that the build still passes, and a note is printed.
OPTIONAL_PAGES = ("benchmarks", "cli", "distributed", "audit")


def _missing_pages():
    return [name for name in OPTIONAL_PAGES
            if not any((DOCS / f"{name}{ext}").exists() for ext in (".md", ".rst"))]


def _drop_missing_pages(app, docname, source):
    missing = _missing_pages()
    if not missing or not docname or docname.startswith("gen_modules"):
        return
    text = source[0]
    for name in missing:
        # toctree entries of the index: "   name" alone on its line
        pattern = rf"/?{re.escape(name)}"
        if docname == root_doc:
            text = re.sub(rf"(?m)^[ \t]+{pattern}[ \t]*\n", "", text)
        # :doc:`label <name>` -> label ; :doc:`name` -> name
        text = re.sub(rf":doc:`([^`<]+?)\s*<{pattern}>`", r"\1", text)
        text = re.sub(rf":doc:`{pattern}`", name, text)
    source[0] = text


def _reread_when_pages_change(app, env, added, changed, removed):
    """Incremental builds: re-read every page when an optional page appears or
    disappears (toctree and links), and the API page when the public names it
    does not list change."""
    missing, unlisted = tuple(_missing_pages()), tuple(UNLISTED)
    previous_missing = getattr(env, "textdp_missing_pages", missing)
    previous_unlisted = getattr(env, "textdp_unlisted_names", unlisted)
    env.textdp_missing_pages, env.textdp_unlisted_names = missing, unlisted
    if previous_missing != missing:
        return [doc for doc in env.found_docs if not doc.startswith("gen_modules")]
    if previous_unlisted != unlisted:
        return ["api"]
    return []


def _report_missing_pages(app):
    missing = _missing_pages()
    if missing:
        from sphinx.util import logging

        logging.getLogger(__name__).info(
            "NOTE: optional pages not found, left out of the site: "
            + ", ".join(f"docs/{m}.md" for m in missing)
        )


def _unlisted_public_names():
    """Names of ``sklearn_textdp.__all__`` that ``api.rst`` does not list."""
    api = (DOCS / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"(?m)^[ \t]+([A-Za-z_][\w.]*)[ \t]*$", api))
    return [name for name in sklearn_textdp.__all__
            if not name.startswith("__") and name not in listed]


#: Public names added to the package after api.rst was last edited (e.g. by another
#: engineer): they are documented under "Other public names" at the end of the API
#: reference, from stub pages written here, until api.rst lists them.
UNLISTED = _unlisted_public_names()


def _write_unlisted_stubs():
    folder = DOCS / "gen_modules"
    folder.mkdir(exist_ok=True)
    for name in UNLISTED:
        if inspect.isclass(getattr(sklearn_textdp, name)):
            body = f".. autoclass:: {name}\n   :members:\n   :inherited-members:\n"
        else:
            body = f".. autofunction:: {name}\n"
        text = (f"{name}\n{'=' * len(name)}\n\n.. currentmodule:: sklearn_textdp\n\n"
                f"{body}\n.. minigallery:: sklearn_textdp.{name}\n"
                f"   :add-heading: Examples using ``{name}``\n   :heading-level: -\n")
        path = folder / f"sklearn_textdp.{name}.rst"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


_write_unlisted_stubs()


def _add_unlisted_names(app, docname, source):
    if docname != "api" or not UNLISTED:
        return
    entries = "".join(f"   {name}\n" for name in UNLISTED)
    source[0] += (
        "\nOther public names\n==================\n\n"
        ".. currentmodule:: sklearn_textdp\n\n"
        ".. autosummary::\n   :toctree: gen_modules\n   :nosignatures:\n\n"
        + entries
    )


def _report_unlisted_names(app):
    if UNLISTED:
        from sphinx.util import logging

        logging.getLogger(__name__).info(
            "NOTE: public names not placed in docs/api.rst, listed under 'Other "
            "public names': " + ", ".join(UNLISTED))


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
    app.connect("source-read", _drop_missing_pages)
    app.connect("env-get-outdated", _reread_when_pages_change)
    app.connect("builder-inited", _report_missing_pages)
    app.connect("source-read", _add_unlisted_names)
    app.connect("builder-inited", _report_unlisted_names)
