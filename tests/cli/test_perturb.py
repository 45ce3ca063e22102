"""``textdp perturb`` (``cli/_perturb.py``): formats, seeds, chunks, summary, budget."""

import csv
import io
import json
import math
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_textdp.cli import ExitCode
from sklearn_textdp.cli import _perturb as cli_perturb
from tests.cli_support import (
    DOCS,
    IDS,
    SCORES,
    csv_input,
    read_csv,
    read_jsonl,
    write_csv,
    write_jsonl,
)

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.mark.parametrize("out_name", ["out.parquet", "out.jsonl", "out.csv"])
def test_conversion_between_formats(run, tmp_path, out_name):
    source = csv_input(tmp_path)
    output = tmp_path / out_name
    code, _, err = run("perturb", source, "-o", output, "-e", "1", "--seed", "3")
    assert code == ExitCode.OK, err
    if out_name.endswith(".parquet"):
        rows = pq.read_table(output).to_pylist()
    elif out_name.endswith(".jsonl"):
        rows = read_jsonl(output)
    else:
        header, values = read_csv(output)
        rows = [dict(zip(header, v, strict=True)) for v in values]
    assert [r["id"] for r in rows] == IDS and [r["score"] for r in rows] == SCORES
    missing = [r["text"] in (None, "") for r in rows]
    assert missing == [d in (None, "") for d in DOCS]


def test_stdin_to_stdout(run, tmp_path, monkeypatch):
    data = csv_input(tmp_path).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, err = run("perturb", "-", "-e", "1", "--seed", "3")
    assert code == ExitCode.OK, err
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[0] == ["id", "text", "score"] and len(rows) == len(DOCS) + 1
    assert [r[2] for r in rows[1:]] == SCORES
    assert "privacy summary" in err


def test_stdout_in_another_format(run, tmp_path):
    code, out, err = run(
        "perturb",
        csv_input(tmp_path),
        "--output-format",
        "jsonl",
        "-e",
        "1",
        "--seed",
        "3",
    )
    assert code == ExitCode.OK, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in records] == IDS


def test_seed_is_reproducible_and_warned_about(run, tmp_path):
    source = csv_input(tmp_path)
    outputs = []
    for seed, name in (("7", "a.csv"), ("7", "b.csv"), ("8", "c.csv")):
        code, _, err = run(
            "perturb", source, "-o", tmp_path / name, "-e", "1", "--seed", seed
        )
        assert code == ExitCode.OK
        assert "anyone who knows the seed" in err
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


def test_every_chunk_draws_its_own_noise(run, tmp_path):
    """One row per chunk: reusing a chunk's noise would repeat the same output."""
    doc = " ".join(["the movie was great and the music was good"] * 5)
    source = tmp_path / "in.csv"
    write_csv(source, ["text"], [[doc]] * 20)
    code, _, err = run(
        "perturb",
        source,
        "-o",
        tmp_path / "out.csv",
        "-e",
        "5",
        "--seed",
        "1",
        "--chunk-size",
        "1",
        "-m",
        "laplace",
    )
    assert code == ExitCode.OK, err
    _, rows = read_csv(tmp_path / "out.csv")
    assert len({r[0] for r in rows}) == 20


def test_without_seed_two_runs_differ(run, tmp_path):
    source = tmp_path / "in.csv"
    write_csv(source, ["text"], [[" ".join(["the movie was great"] * 10)]])
    for name in ("a.csv", "b.csv"):
        assert run("perturb", source, "-o", tmp_path / name, "-e", "2")[0] == 0
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "b.csv").read_bytes()


def test_privacy_summary_totals(run, tmp_path, emb2k):
    from sklearn_textdp import DensityAwareSubstituter, PrivacyLeakWarning

    code, _, err = run(
        "perturb",
        csv_input(tmp_path),
        "-o",
        tmp_path / "o.csv",
        "-e",
        "2",
        "--keep-words",
        "english",
    )
    assert code == ExitCode.OK
    assert "PrivacyLeakWarning" in err  # keep_words are released in clear
    summary = err[err.index("privacy summary") :]
    with pytest.warns(PrivacyLeakWarning):
        sub = DensityAwareSubstituter(2.0, embeddings=emb2k, keep_words="english")
        cost = sub.fit([]).privacy_cost([d or None for d in DOCS])
    assert "documents                4 (+ 2 missing)" in summary
    assert f"words perturbed          {cost['n_perturbed'].sum():,}\n" in summary
    assert f"words kept in clear      {cost['n_kept'].sum():,}\n" in summary
    per_doc = cost["epsilon_per_unit"]
    assert f"max {per_doc.max():,.4g}, mean {per_doc.sum() / 4:,.4g}" in summary
    code, _, err = run(
        "perturb", csv_input(tmp_path), "-o", tmp_path / "q.csv", "-e", "2", "-q"
    )
    assert code == ExitCode.OK and err == ""


def test_progress_bar_only_when_asked_or_on_a_terminal(run, tmp_path):
    source = csv_input(tmp_path)
    _, _, err = run("perturb", source, "-o", tmp_path / "a.csv", "-e", "1")
    assert "perturbing" not in err  # capsys' stderr is not a terminal
    _, _, err = run(
        "perturb", source, "-o", tmp_path / "b.csv", "-e", "1", "--progress"
    )
    assert "perturbing" in err and "rows=6" in err


def test_perturb_processes_one_chunk_at_a_time(run, tmp_path, monkeypatch):
    source = tmp_path / "in.csv"
    write_csv(source, ["text"], [[f"word {i}"] for i in range(1050)])
    sizes = []
    original = cli_perturb._perturb_chunk

    def spy(substituter, chunk, seed, summary):
        sizes.append(len(chunk))
        return original(substituter, chunk, seed, summary)

    monkeypatch.setattr(cli_perturb, "_perturb_chunk", spy)
    code, _, err = run(
        "perturb", source, "-o", tmp_path / "o.csv", "-e", "5", "--chunk-size", "100"
    )
    assert code == ExitCode.OK, err
    assert sizes == [100] * 10 + [50]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-o", "out.txt"], "--output-format"),
        (
            ["--output-format", "parquet"],
            "Parquet cannot be written to standard output",
        ),
    ],
)
def test_format_usage_errors(run, tmp_path, argv, message):
    code, _, err = run("perturb", csv_input(tmp_path), "-e", "1", *argv)
    assert code == ExitCode.USAGE and message in err


def test_document_budget(run, tmp_path):
    source = csv_input(tmp_path)
    code, _, err = run(
        "perturb",
        source,
        "-o",
        tmp_path / "a.csv",
        "-e",
        "2",
        "--max-document-epsilon",
        "10",
    )
    assert code == ExitCode.PRIVACY
    assert "row 1 (line 2)" in err and "--budget-action truncate" in err
    assert not (tmp_path / "a.csv").exists()
    code, _, err = run(
        "perturb",
        source,
        "-o",
        tmp_path / "b.csv",
        "-e",
        "2",
        "--max-document-epsilon",
        "10",
        "--budget-action",
        "truncate",
    )
    assert code == ExitCode.OK, err
    assert "max 10," in err  # the summary: no document over budget
    code, _, _ = run("perturb", source, "-e", "2", "--max-document-epsilon", "0")
    assert code == ExitCode.PRIVACY


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=25)
_CELL = st.one_of(
    st.none(),
    _TEXT,
    st.sampled_from(
        [
            "",
            " ",
            "\u200b",
            "e\u0301",
            "مرحبا بالعالم",
            "\U0001f600 ok",
            "\x00\x1b[31m",
            "\r",
            "a\r\nb",
        ]
    ),
)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    cells=st.lists(_CELL, min_size=1, max_size=8), fmt=st.sampled_from(["csv", "jsonl"])
)
def test_hostile_text_never_crashes_and_keeps_one_row_per_row(
    run, tmp_path_factory, cells, fmt
):
    directory = tmp_path_factory.mktemp("hostile")
    source, output = directory / f"in.{fmt}", directory / f"out.{fmt}"
    if fmt == "csv":
        write_csv(
            source,
            ["n", "text"],
            [[i, "" if c is None else c] for i, c in enumerate(cells)],
        )
    else:
        write_jsonl(
            source,
            [
                {"n": i, "text": math.nan if c == " " else c}
                for i, c in enumerate(cells)
            ],
        )
    code, _, err = run("perturb", source, "-o", output, "-e", "3", "-q")
    assert code == ExitCode.OK, err
    if fmt == "csv":
        _, rows = read_csv(output)
        assert [r[0] for r in rows] == [str(i) for i in range(len(cells))]
        assert [r[1] == "" for r in rows] == [c in (None, "") for c in cells]
    else:
        records = read_jsonl(output)
        assert [r["n"] for r in records] == list(range(len(cells)))
        assert [r["text"] is None for r in records] == [c in (None, " ") for c in cells]


def test_progress_lines_without_a_terminal(run, tmp_path, monkeypatch):
    """Not on a terminal (a log, a CI job), a long run still says it is alive."""
    monkeypatch.setattr(cli_perturb, "_PROGRESS_LINE_SECONDS", 0.0)
    source = tmp_path / "in.csv"
    write_csv(source, ["text"], [[f"word {i}"] for i in range(300)])
    code, _, err = run(
        "perturb", source, "-o", tmp_path / "o.csv", "-e", "5", "--chunk-size", "100"
    )
    assert code == ExitCode.OK, err
    lines = [line for line in err.splitlines() if line.startswith("textdp perturb: ")]
    assert [line.split(" rows")[0] for line in lines] == [
        "textdp perturb: 100",
        "textdp perturb: 200",
        "textdp perturb: 300",
    ]
    assert "% of the input" in lines[-1]
    _, _, err = run(
        "perturb",
        source,
        "-o",
        tmp_path / "q.csv",
        "-e",
        "5",
        "--chunk-size",
        "100",
        "-q",
    )
    assert "textdp perturb: " not in err
