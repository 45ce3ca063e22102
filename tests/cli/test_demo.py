"""``textdp demo`` (``cli/_demo.py``)."""

import numpy as np
import pandas as pd

from sklearn_textdp.cli import ExitCode
from tests.cli_support import temporary_files


def small_demo(run, png, *, epsilons=("3", "40"), cv=2, n_words=5):
    """``textdp demo`` on 90 documents, ``n_words`` words and samples."""
    return run(
        "demo",
        "--max-docs",
        "90",
        "--epsilons",
        *epsilons,
        "--cv",
        str(cv),
        "--n-words",
        str(n_words),
        "--samples",
        str(n_words),
        "-o",
        png,
    )


def test_demo_prints_the_table_and_saves_the_plot(run, tmp_path):
    png = tmp_path / "demo.png"
    code, out, err = small_demo(run, png, n_words=10)
    assert code == ExitCode.OK, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no privacy" in out and "median N_w" in out
    assert "DPWordSubstituter" in out and "DensityAwareSubstituter" in out
    assert out.count("\n") >= 6  # header, baseline, 2 x 2 rows, ...
    assert temporary_files(tmp_path) == []


def test_demo_reports_progress_on_stderr_when_not_on_a_terminal(run, tmp_path):
    """Minutes of silence in a log look like a hang: one line per step instead."""
    code, out, err = small_demo(run, tmp_path / "demo.png")
    assert code == ExitCode.OK, err
    steps = [line for line in err.splitlines() if line.startswith("textdp demo: [")]
    assert [s.split("]")[0] for s in steps] == [
        f"textdp demo: [{i}/5" for i in range(1, 6)
    ]
    assert "no privacy: accuracy" in steps[0] and "epsilon 40" in steps[-1]
    assert "textdp demo: [" not in out  # the table on stdout stays clean


def test_demo_plot_says_what_its_error_bars_are(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from sklearn_textdp.cli import _demo

    curve = pd.DataFrame(
        {"epsilon": [1.0, 5.0], "score_mean": [0.8, 0.9], "score_std": [0.02, 0.01]}
    )
    captured = {}
    original = Figure.savefig

    def keep(self, *args, **kwargs):
        captured["figure"] = self
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    _demo._demo_plot(
        {"x": curve},
        np.array([0.95, 0.97]),
        str(tmp_path / "p.png"),
        majority=0.87,
        n_docs=100,
        cv=3,
    )
    (ax,) = captured["figure"].axes
    assert ax.get_legend().get_title().get_text() == (
        "error bars: \u00b11 standard deviation over the 3 folds"
    )


def test_demo_shows_each_distinct_warning_once(run, tmp_path):
    """Every fold fits the substituter again, and each fit warned anew about a
    large epsilon (three identical warnings per substituter): now once each."""
    import warnings

    show = warnings.showwarning
    code, out, err = small_demo(run, tmp_path / "demo.png", epsilons=("40",), cv=3)
    assert code == ExitCode.OK, err
    lines = [line for line in err.splitlines() if "PrivacyLeakWarning" in line]
    assert lines and all("no plausible deniability" in line for line in lines)
    assert len(lines) == len(set(lines))  # one per distinct message
    assert warnings.showwarning is show  # restored
