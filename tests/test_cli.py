"""The ``textdp`` command line: formats, streaming, atomic output, errors, commands.

Most tests call :func:`sklearn_textdp.cli.main` in-process and read ``capsys``;
a few run ``python -m sklearn_textdp`` in a subprocess (entry point, signals).
The substituters use a 2,000-word subset of the bundled embedding written to an
``.npz`` file: fitting on it takes a second, even in a fresh subprocess.
"""

import csv
import gzip
import importlib.metadata
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_textdp import cli
from sklearn_textdp._io import decoded_lines, open_reader
from sklearn_textdp.cli import ExitCode, main

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

DOCS = [
    "The movie was great, and the actors were good.",
    None,
    "A doctor and a nurse met at the hospital.",
    "Prices rose sharply in the city last year.",
    "",
    "She plays music with her friends every week.",
]
# Values pandas would rewrite (leading zeros, trailing zeros, "NA") must survive.
IDS = ["001", "002", "003", "004", "005", "006"]
SCORES = ["1.50", "NA", "-0", "1e3", "", 'x,y "z"']


@pytest.fixture(scope="module")
def emb2k(tmp_path_factory):
    """The 2,000 most frequent words of the bundled embedding, as an .npz file."""
    from sklearn_textdp import load_embeddings

    emb = load_embeddings(max_words=2000)
    path = tmp_path_factory.mktemp("emb") / "glove2k.npz"
    np.savez(path, words=np.asarray(emb.words, dtype=str), vectors=emb.vectors)
    return str(path)


@pytest.fixture
def run(capsys, emb2k):
    """``run(*argv)`` -> (exit code, stdout, stderr), on the small embedding."""

    def run(*argv, embeddings=True):
        argv = [str(a) for a in argv]
        if embeddings and {"perturb", "stats"} & set(argv[:2]):
            argv += ["--embeddings", emb2k]
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


# ---------------------------------------------------------------- table helpers
def write_csv(path, header, rows, delimiter=","):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)


def read_csv(path, delimiter=","):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter=delimiter, strict=True))
    return rows[0], rows[1:]


def write_jsonl(path, records):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_jsonl(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def csv_input(tmp_path, name="in.csv", delimiter=","):
    path = tmp_path / name
    rows = [
        [i, "" if d is None else d, s]
        for i, d, s in zip(IDS, DOCS, SCORES, strict=True)
    ]
    write_csv(path, ["id", "text", "score"], rows, delimiter)
    return path


def temporary_files(directory):
    return [p.name for p in Path(directory).iterdir() if "textdp-tmp" in p.name]


# ---------------------------------------------------------------- entry points
def test_console_script_entry_point_is_registered():
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="textdp")
    assert entry.value == "sklearn_textdp.cli:main"
    assert entry.load() is main


def test_python_dash_m_help_works():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_textdp", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for text in ("perturb", "stats", "demo", "exit codes", "130"):
        assert text in result.stdout


def test_help_documents_every_exit_code(run):
    code, out, _ = run("perturb", "--help", embeddings=False)
    assert code == 0
    for status in ExitCode:
        assert f"  {int(status)} " in out
    documented = cli.__doc__.split("Exit codes")[1].split("Examples")[0]
    for status in ExitCode:
        assert f"\n{int(status)}\n" in documented


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == ExitCode.USAGE
    assert "required" in capsys.readouterr().err


def test_unknown_option_is_a_usage_error(run, tmp_path):
    code, _, err = run("perturb", csv_input(tmp_path), "-e", "1", "--bogus")
    assert code == ExitCode.USAGE
    assert "--bogus" in err


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    "name, delimiter", [("in.csv", ","), ("in.tsv", "\t"), ("in.csv.gz", ",")]
)
def test_csv_round_trip_keeps_other_columns_rows_and_missing(
    run, tmp_path, name, delimiter
):
    source = csv_input(tmp_path, name, delimiter)
    output = tmp_path / f"out{name[2:]}"
    code, out, err = run("perturb", source, "-o", output, "-e", "1", "--seed", "3")
    assert code == ExitCode.OK, err
    assert out == ""
    header, rows = read_csv(output, delimiter)
    assert header == ["id", "text", "score"]
    assert [r[0] for r in rows] == IDS  # order and count kept
    assert [r[2] for r in rows] == SCORES  # exact strings, untouched
    texts = [r[1] for r in rows]
    assert [t == "" for t in texts] == [d in (None, "") for d in DOCS]
    changed = [t != d for t, d in zip(texts, DOCS, strict=True) if d]
    assert any(changed), "epsilon=1 should change some words"
    assert texts[0].endswith(".") and texts[0].count(",") == 1  # punctuation kept


def test_jsonl_round_trip_keeps_records_as_they_were(run, tmp_path):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl.gz"
    records = [
        {"id": i, "text": d, "meta": {"n": [1, 2.5]}, "flag": True}
        for i, d in enumerate(DOCS)
    ]
    records.append({"id": 99, "meta": None})  # no text field: stays absent
    records.append({"text": "NaN text", "id": 100})  # other key order kept
    write_jsonl(source, records)
    code, _, err = run("perturb", source, "-o", output, "-e", "1", "--seed", "3")
    assert code == ExitCode.OK, err
    result = read_jsonl(output)
    assert len(result) == len(records)
    for before, after in zip(records, result, strict=True):
        assert list(after) == list(before)
        assert {k: v for k, v in after.items() if k != "text"} == {
            k: v for k, v in before.items() if k != "text"
        }
        if before.get("text") is None:
            assert after.get("text") is None
        else:
            assert isinstance(after["text"], str)


def test_parquet_round_trip_keeps_schema_types_and_nulls(run, tmp_path):
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    table = pa.table(
        {
            "id": pa.array(range(len(DOCS)), type=pa.int32()),
            "text": pa.array(DOCS, type=pa.large_string()),
            "score": pa.array([1.5, None, float("nan"), 2.0, 3.0, 4.0]),
            "when": pa.array(np.arange(len(DOCS)).astype("datetime64[s]")),
            "tags": pa.array([["a"], [], None, ["b", "c"], ["d"], ["e"]]),
        }
    ).replace_schema_metadata({"origin": "test"})
    pq.write_table(table, source, row_group_size=4)
    table = pq.read_table(source)  # as stored (Parquet has no timestamp[s])
    code, _, err = run(
        "perturb", source, "-o", output, "-e", "1", "--seed", "3", "--chunk-size", "4"
    )
    assert code == ExitCode.OK, err
    result = pq.read_table(output)
    assert result.schema == table.schema
    assert result.schema.metadata == table.schema.metadata
    # assert_equal: NaN equals NaN
    np.testing.assert_equal(
        result.drop(["text"]).to_pydict(), table.drop(["text"]).to_pydict()
    )
    texts = result.column("text").to_pylist()
    assert [t is None for t in texts] == [d is None for d in DOCS]


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


def test_jsonl_to_csv_writes_json_values_as_cells(run, tmp_path):
    source, output = tmp_path / "in.ndjson", tmp_path / "out.csv"
    write_jsonl(
        source,
        [
            {"text": "a good film", "n": 1.5, "ok": False, "x": [1]},
            {"text": None, "n": None, "ok": True, "x": {"a": "é"}},
        ],
    )
    code, _, err = run("perturb", source, "-o", output, "-e", "50", "--seed", "0")
    assert code == ExitCode.OK, err
    header, rows = read_csv(output)
    assert header == ["text", "n", "ok", "x"]
    assert [r[1:] for r in rows] == [
        ["1.5", "false", "[1]"],
        ["", "true", '{"a": "é"}'],
    ]
    assert rows[1][0] == ""


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


# ---------------------------------------------------------------- streaming
def test_csv_reader_streams_chunk_by_chunk(tmp_path):
    source = tmp_path / "big.csv"
    write_csv(
        source, ["id", "text"], ([i, "some words in a row"] for i in range(40_000))
    )
    size = source.stat().st_size
    with open_reader(str(source), "csv", "text", chunk_size=500) as reader:
        chunks = iter(reader)
        first = next(chunks)
        assert len(first) == 500
        assert reader.progress < size / 8, "the reader read far ahead of the chunk"
        n_chunks = 1 + sum(1 for _ in chunks)
        assert reader.progress == size
    assert n_chunks == 80


def test_perturb_processes_one_chunk_at_a_time(run, tmp_path, monkeypatch):
    source = tmp_path / "in.csv"
    write_csv(source, ["text"], [[f"word {i}"] for i in range(1050)])
    sizes = []
    original = cli._perturb_chunk

    def spy(substituter, chunk, seed, summary):
        sizes.append(len(chunk))
        return original(substituter, chunk, seed, summary)

    monkeypatch.setattr(cli, "_perturb_chunk", spy)
    code, _, err = run(
        "perturb", source, "-o", tmp_path / "o.csv", "-e", "5", "--chunk-size", "100"
    )
    assert code == ExitCode.OK, err
    assert sizes == [100] * 10 + [50]


def test_decoded_lines_keep_line_endings_across_blocks(monkeypatch):
    import sklearn_textdp._io as io_module

    monkeypatch.setattr(io_module, "_BLOCK_BYTES", 3)  # splits "\r\n" and "é"
    data = "a,é\r\nb\rc\nd\r\n".encode()
    assert list(decoded_lines(io.BytesIO(data))) == ["a,é\r\n", "b\r", "c\n", "d\r\n"]
    assert list(decoded_lines(io.BytesIO(data), newline="lf")) == [
        "a,é\r\n",
        "b\rc\n",
        "d\r\n",
    ]


# ---------------------------------------------------------------- refusing to overwrite
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


# ---------------------------------------------------------------- atomic output
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
    original = cli._perturb_chunk
    calls = []

    def failing(*args):
        calls.append(1)
        if len(calls) == 3:
            raise failure
        return original(*args)

    monkeypatch.setattr(cli, "_perturb_chunk", failing)
    code, _, err = run(
        "perturb", source, "-o", tmp_path / "out.csv", "-e", "5", "--chunk-size", "100"
    )
    assert code == expected
    assert not (tmp_path / "out.csv").exists()
    assert temporary_files(tmp_path) == []
    if expected == ExitCode.UNEXPECTED:
        assert "unexpected RuntimeError: boom" in err


@pytest.mark.parametrize(
    "signum, expected",
    [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, ExitCode.INTERRUPTED)],
)
def test_signal_mid_run_leaves_no_output_and_no_temporary_file(
    tmp_path, emb2k, signum, expected
):
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(
        source,
        ["id", "text"],
        ([i, "the movie was great and the actors were good"] for i in range(100_000)),
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sklearn_textdp",
            "perturb",
            str(source),
            "-o",
            str(output),
            "-e",
            "5",
            "-m",
            "laplace",
            "--embeddings",
            emb2k,
            "--chunk-size",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            written = [p for p in tmp_path.iterdir() if "textdp-tmp" in p.name]
            if written and written[0].stat().st_size > 0:
                break  # mid-run: rows are being written
            time.sleep(0.05)
        assert process.poll() is None, "finished before the signal: use a larger input"
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == expected, err
    assert "no output file was written" in err
    assert not output.exists()
    assert temporary_files(tmp_path) == []


# ---------------------------------------------------------------- input errors
def test_missing_column_names_it_and_lists_the_others(run, tmp_path):
    code, _, err = run("perturb", csv_input(tmp_path), "-c", "body", "-e", "1")
    assert code == ExitCode.INPUT
    assert "no column 'body'" in err and "'id', 'text', 'score'" in err


def test_missing_input_file(run, tmp_path):
    code, _, err = run("perturb", tmp_path / "absent.csv", "-e", "1")
    assert code == ExitCode.INPUT and "no such file" in err


@pytest.mark.parametrize(
    "content, line",
    [
        ('id,text\n1,fine\n2,"bad"quote\n', 3),
        ("id,text\n1,fine\n2,too,many\n", 3),
        ('id,text\n1,fine\n2,"multi\nline\n3,x\n', 5),  # unterminated quote at the end
        ("id,text\n1\n", 2),
    ],
)
def test_malformed_csv_names_the_line(run, tmp_path, content, line):
    source = tmp_path / "bad.csv"
    source.write_text(content)
    code, _, err = run("perturb", source, "-o", tmp_path / "o.csv", "-e", "1")
    assert code == ExitCode.INPUT
    assert f"malformed CSV at line {line}" in err
    assert err.count("\n") == 1  # one line
    assert not (tmp_path / "o.csv").exists()


def test_wrong_encoding_names_byte_and_line_and_encoding_fixes_it(run, tmp_path):
    source = tmp_path / "latin.csv"
    content = "id,text\n1,plain words\n2,caf\xe9 au lait\n"
    source.write_bytes(content.encode("latin-1"))
    code, _, err = run("perturb", source, "-o", tmp_path / "o.csv", "-e", "1")
    assert code == ExitCode.INPUT
    offset = content.encode("latin-1").index(b"\xe9")
    assert f"not valid utf-8 text at byte {offset} (line 3)" in err
    assert "--encoding" in err
    code, _, err = run(
        "perturb", source, "-o", tmp_path / "o.csv", "-e", "1", "--encoding", "latin-1"
    )
    assert code == ExitCode.OK, err
    assert len(read_csv(tmp_path / "o.csv")[1]) == 2


def test_utf8_byte_order_mark_is_not_part_of_the_header(run, tmp_path):
    source = tmp_path / "bom.csv"
    source.write_bytes(b"\xef\xbb\xbfid,text\n1,hello world\n")
    code, _, err = run(
        "perturb", source, "-c", "id", "-o", tmp_path / "o.csv", "-e", "1"
    )
    assert code == ExitCode.OK, err


def test_unknown_encoding_is_a_usage_error(run, tmp_path):
    code, _, err = run("perturb", csv_input(tmp_path), "-e", "1", "--encoding", "nope")
    assert code == ExitCode.USAGE and "unknown encoding" in err


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "ok"}\n{"text": oops}\n', "invalid JSON at line 2"),
        ('{"text": "ok"}\n\n[1, 2]\n', "line 3 holds a JSON list"),
        ('{"text": "ok"}\n{"text": 3}\n', "line 2: field 'text' holds a int"),
    ],
)
def test_malformed_json_lines_name_the_line(run, tmp_path, content, message):
    source = tmp_path / "bad.jsonl"
    source.write_text(content)
    code, _, err = run("perturb", source, "-o", tmp_path / "o.jsonl", "-e", "1")
    assert code == ExitCode.INPUT
    assert message in err


def test_not_a_parquet_file(run, tmp_path):
    source = tmp_path / "fake.parquet"
    source.write_text("id,text\n")
    code, _, err = run("perturb", source, "-o", tmp_path / "o.parquet", "-e", "1")
    assert code == ExitCode.INPUT and "not a readable Parquet file" in err


def test_parquet_text_column_must_hold_strings(run, tmp_path):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), source)
    code, _, err = run("perturb", source, "-o", tmp_path / "o.parquet", "-e", "1")
    assert code == ExitCode.INPUT and "expected strings" in err


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


def test_unreadable_embeddings_and_keep_words_are_input_errors(run, tmp_path):
    source = csv_input(tmp_path)
    code, _, err = run(
        "perturb",
        source,
        "-e",
        "1",
        "--embeddings",
        tmp_path / "absent.vec",
        embeddings=False,
    )
    assert code == ExitCode.INPUT and "cannot load embeddings" in err
    code, _, err = run(
        "perturb", source, "-e", "1", "--keep-words", tmp_path / "no.txt"
    )
    assert code == ExitCode.INPUT and "--keep-words" in err


# ---------------------------------------------------------------- privacy parameters
@pytest.mark.parametrize("epsilon", ["0", "-1", "nan", "inf", "abc"])
def test_bad_epsilon_is_a_privacy_parameter_error(run, tmp_path, epsilon):
    code, _, err = run(
        "perturb", csv_input(tmp_path), "-o", tmp_path / "o.csv", f"--epsilon={epsilon}"
    )
    assert code == ExitCode.PRIVACY
    assert "--epsilon must be" in err
    assert not (tmp_path / "o.csv").exists()


def test_mechanism_refusing_epsilon_is_a_privacy_parameter_error(run, tmp_path):
    code, _, err = run(
        "perturb", csv_input(tmp_path), "-e", "1", "-m", "truncated-gumbel"
    )
    assert code == ExitCode.PRIVACY
    assert "epsilon" in err


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


# ---------------------------------------------------------------- other exits
def test_broken_pipe_exits_quietly(run, tmp_path, monkeypatch):
    def broken(*args):
        raise BrokenPipeError

    monkeypatch.setattr(cli, "_perturb_chunk", broken)
    monkeypatch.setattr(cli, "_silence_stdout", lambda: None)
    code, _, err = run("perturb", csv_input(tmp_path), "-e", "1", "-q")
    assert code == ExitCode.BROKEN_PIPE and err == ""


def test_verbose_debug_shows_the_traceback_of_unexpected_errors(
    run, tmp_path, monkeypatch
):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_perturb_chunk", broken)
    code, _, err = run(
        "-vv", "perturb", csv_input(tmp_path), "-o", tmp_path / "o.csv", "-e", "1"
    )
    assert code == ExitCode.UNEXPECTED
    assert "Traceback" in err and "boom" in err


# ---------------------------------------------------------------- stats and demo
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


# ---------------------------------------------------------------- hostile inputs
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
