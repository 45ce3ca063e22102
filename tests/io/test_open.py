"""Opening the input (``_io/_open.py``): missing file, missing column."""

from sklearn_textdp.cli import ExitCode
from tests.cli_support import (
    csv_input,
)


def test_missing_column_names_it_and_lists_the_others(run, tmp_path):
    code, _, err = run("perturb", csv_input(tmp_path), "-c", "body", "-e", "1")
    assert code == ExitCode.INPUT
    assert "no column 'body'" in err and "'id', 'text', 'score'" in err


def test_missing_input_file(run, tmp_path):
    code, _, err = run("perturb", tmp_path / "absent.csv", "-e", "1")
    assert code == ExitCode.INPUT and "no such file" in err
