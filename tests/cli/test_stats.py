"""``textdp stats`` (``cli/_stats.py``)."""

import csv
import io
import json

import pytest

from sklearn_textdp.cli import ExitCode


def test_stats_prints_the_deniability_table(run):
    code, out, err = run(
        "stats",
        "-e",
        "5",
        "50",
        "--samples",
        "50",
        "--seed",
        "0",
        "movie",
        "doctor",
        "zzzq",
    )
    assert code == ExitCode.OK, err
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["epsilon", "word", "in_vocabulary", "N_w", "S_w"]
    assert len(lines) == 1 + 6
    assert "zzzq" in err  # warned: not in the vocabulary


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_stats_machine_readable_formats(run, fmt):
    code, out, _ = run(
        "stats", "-e", "2", "--samples", "40", "--seed", "0", "--format", fmt, "movie"
    )
    assert code == ExitCode.OK
    if fmt == "json":
        (row,) = json.loads(out)
    else:
        (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["word"] == "movie"
    assert 0 <= float(row["N_w"]) <= 1 and 1 <= float(row["S_w"]) <= 40


def test_stats_bad_epsilon(run):
    code, _, err = run("stats", "-e", "0", "movie")
    assert code == ExitCode.PRIVACY


def test_words_may_follow_the_epsilons(run):
    """The form of ``textdp stats --help``: numbers are epsilons, then words."""
    code, out, err = run(
        "stats", "--epsilon", "5", "10", "movie", "doctor", "--samples", "20"
    )
    assert code == ExitCode.OK, err
    rows = [line.split()[:2] for line in out.splitlines()[1:]]
    assert rows == [["5", "movie"], ["5", "doctor"], ["10", "movie"], ["10", "doctor"]]
    code, _, err = run("stats", "movie", "--epsilon", "abc")
    assert code == ExitCode.PRIVACY and "'abc'" in err
