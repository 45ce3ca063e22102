"""``textdp demo`` (``cli/_demo.py``)."""

from sklearn_textdp.cli import ExitCode
from tests.cli_support import (
    temporary_files,
)


def test_demo_prints_the_table_and_saves_the_plot(run, tmp_path):
    png = tmp_path / "demo.png"
    code, out, err = run(
        "demo",
        "--max-docs",
        "90",
        "--epsilons",
        "3",
        "40",
        "--cv",
        "2",
        "--n-words",
        "10",
        "--samples",
        "10",
        "-o",
        png,
    )
    assert code == ExitCode.OK, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no privacy" in out and "median N_w" in out
    assert "DPWordSubstituter" in out and "DensityAwareSubstituter" in out
    assert out.count("\n") >= 6  # header, baseline, 2 x 2 rows, ...
    assert temporary_files(tmp_path) == []
