"""The repository's promises about itself: README commands, CI, packaging."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert 'pip install -e ".[test]" && python -m pytest' in readme
    assert (
        "grep -m1 -F 'pip install -e \".[test]\" && python -m pytest' README.md" in ci
    )


def test_readme_starts_with_the_two_setup_commands():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    commands = [
        line for line in first_block.splitlines() if line and not line.startswith("#")
    ]
    assert len(commands) == 2
    assert commands[0].endswith("textdp demo")
    assert "pytest" in commands[1]


def test_console_script_is_declared():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'textdp = "sklearn_textdp.cli:main"' in pyproject


def test_bundled_data_ships_with_its_notice():
    data = REPO / "sklearn_textdp" / "data"
    notice = (data / "NOTICE").read_text()
    for name in ("glove.6B.50d.top20k.f16.npz", "sms_spam.csv", "drugreview_train.csv"):
        assert (data / name).exists()
        assert name.split(".")[0].split("_")[0] in notice
    assert "PDDL" in notice and "CC BY 4.0" in notice


# ---------------------------------------------------------------- documentation site
def _docs_conf():
    """docs/conf.py as a module (it needs only the package, not Sphinx)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "docs_conf", REPO / "docs" / "conf.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_maths_render_without_network():
    """MathJax comes from a Python package, copied into the site; not a CDN."""
    conf = _docs_conf()
    assert "sphinx-mathjax-offline" in conf.extensions
    assert not conf.mathjax_path.startswith(("http:", "https:", "//"))
    assert '"sphinx-mathjax-offline' in (REPO / "pyproject.toml").read_text()


def test_docs_build_check_finds_network_assets_and_missing_scripts(tmp_path):
    conf = _docs_conf()
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "here.js").write_text("")
    (tmp_path / "maths.html").write_text(
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js">'
        '</script><script src="_static/here.js"></script>'
        '<script src="_static/gone.js"></script>'
        '<link rel="stylesheet" href="//fonts.example/a.css"/>'
    )
    problems = [what for _, what in conf.external_assets(tmp_path)]
    assert problems == [
        "loads https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js",
        "loads //fonts.example/a.css",
        "script _static/gone.js is missing from the build",
    ]


def _title(path):
    """The first heading of a Markdown or reStructuredText page."""
    lines = path.read_text().splitlines()
    for line, below in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("# "):
            return line[2:].replace("`", "")
        underline = below.strip()
        if (
            line.strip()
            and underline
            and set(underline) <= set("=-~")
            and not (set(line.strip()) <= set("=-~"))
        ):
            return line.strip()
    raise AssertionError(f"no title in {path}")


def _toctree_titles():
    """Titles of the pages of the top menu, in order (docs/index.rst's toctree)."""
    index = (REPO / "docs" / "index.rst").read_text()
    block = index.split(".. toctree::", 1)[1].split("\n\n", 2)[1]
    titles = []
    for entry in block.split():
        pages = [REPO / "docs" / f"{entry}.rst", REPO / "docs" / f"{entry}.md"]
        if entry == "auto_examples/index":  # the gallery's header
            pages = [REPO / "examples" / "README.txt"]
        titles.append(_title(next(p for p in pages if p.exists())))
    return titles


def test_docs_top_menu_fits_on_one_line():
    """The links before "More" fit one line at 1,200 px (about 80 characters of
    titles beside the site title and the search box)."""
    conf = _docs_conf()
    shown = _toctree_titles()[: conf.html_theme_options["header_links_before_dropdown"]]
    assert sum(len(title) for title in shown) <= 80, shown


def test_docs_pages_without_subpages_have_no_empty_section_navigation():
    conf = _docs_conf()
    for path in [*REPO.glob("docs/*.rst"), *REPO.glob("docs/*.md")]:
        if path.name == "README.md":
            continue
        if "toctree" not in path.read_text():
            assert conf.html_sidebars.get(path.stem) == [], path.name
    assert "api" not in conf.html_sidebars  # its section navigation lists the API


def test_docs_tables_with_an_empty_header_row_lose_it():
    docutils = pytest.importorskip("docutils")
    from docutils.core import publish_doctree

    conf = _docs_conf()
    table = "+---+---+\n|   |   |\n+===+===+\n| a | 1 |\n+---+---+\n"
    named = "+---+---+\n| k | v |\n+===+===+\n| a | 1 |\n+---+---+\n"
    for source, kept in ((table, 0), (named, 1)):
        doctree = publish_doctree(source)
        conf._drop_empty_table_headers(None, doctree, "page")
        assert len(list(doctree.findall(docutils.nodes.thead))) == kept


def test_readme_says_how_long_its_slow_lines_take():
    """Cross-validation and grid search fit many pipelines on 5,574 messages: the
    README's example says how long beside them (its grid search took 2 minutes
    without a word)."""
    example = (REPO / "README.md").read_text().split("```python", 1)[1]
    example = example.split("```", 1)[0]
    slow = [
        line
        for line in example.splitlines()
        if "cross_val_score(" in line or ".fit(" in line
    ]
    assert slow
    for line in slow:
        assert re.search(r"#.*\b\d+ s\b", line), line
