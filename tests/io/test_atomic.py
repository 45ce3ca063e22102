"""The atomic writer (``_io/_atomic.py``): no overwriting, no partial output."""

import os

import pytest

from sklearn_textdp.cli import ExitCode
from sklearn_textdp.cli import _perturb as cli_perturb
from tests.cli_support import (
    csv_input,
    temporary_files,
    write_csv,
)


def test_refuses_to_overwrite_its_input(run, tmp_path):
    source = csv_input(tmp_path)
    before = source.read_bytes()
    (tmp_path / "link.csv").symlink_to(source)
    os.link(source, tmp_path / "hard.csv")
    for target in (source, tmp_path / "link.csv", tmp_path / "hard.csv"):
        code, _, err = run("perturb", source, "-o", target, "-e", "1", "--overwrite")
        assert code == ExitCode.OUTPUT
        assert "refusing to overwrite the input" in err
    assert source.read_bytes() == before


def test_refuses_an_existing_output_unless_overwrite(run, tmp_path):
    source, output = csv_input(tmp_path), tmp_path / "out.csv"
    output.write_text("keep me")
    os.chmod(output, 0o640)
    code, _, err = run("perturb", source, "-o", output, "-e", "1")
    assert code == ExitCode.OUTPUT and "--overwrite" in err
    assert output.read_text() == "keep me"
    code, _, err = run("perturb", source, "-o", output, "-e", "1", "--overwrite")
    assert code == ExitCode.OK, err
    assert output.read_text().startswith("id,text,score")
    assert (output.stat().st_mode & 0o777) == 0o640  # permissions of the file replaced


def test_cannot_write_output_is_an_output_error(run, tmp_path):
    source = csv_input(tmp_path)
    code, _, err = run("perturb", source, "-o", tmp_path / "nope" / "o.csv", "-e", "1")
    assert code == ExitCode.OUTPUT and "does not exist" in err
    code, _, err = run(
        "perturb", source, "-o", tmp_path, "-e", "1", "--output-format", "csv"
    )
    assert code == ExitCode.OUTPUT and "directory" in err


@pytest.mark.parametrize(
    "failure, expected",
    [
        (RuntimeError("boom"), ExitCode.UNEXPECTED),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
    ],
)
def test_failure_mid_run_leaves_no_output(
    run, tmp_path, monkeypatch, failure, expected
):
    source = tmp_path / "in.csv"
    write_csv(source, ["text"], [[f"the word {i}"] for i in range(500)])
    original = cli_perturb._perturb_chunk
    calls = []

    def failing(*args):
        calls.append(1)
        if len(calls) == 3:
            raise failure
        return original(*args)

    monkeypatch.setattr(cli_perturb, "_perturb_chunk", failing)
    code, _, err = run(
        "perturb", source, "-o", tmp_path / "out.csv", "-e", "5", "--chunk-size", "100"
    )
    assert code == expected
    assert not (tmp_path / "out.csv").exists()
    assert temporary_files(tmp_path) == []
    if expected == ExitCode.UNEXPECTED:
        assert "unexpected RuntimeError: boom" in err
