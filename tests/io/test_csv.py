"""CSV and TSV tables (``_io/_csv.py``), through ``textdp perturb``."""

import pytest

from sklearn_textdp._io import open_reader
from sklearn_textdp.cli import ExitCode
from tests.cli_support import (
    DOCS,
    IDS,
    SCORES,
    csv_input,
    read_csv,
    write_csv,
)


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


def test_utf8_byte_order_mark_is_not_part_of_the_header(run, tmp_path):
    source = tmp_path / "bom.csv"
    source.write_bytes(b"\xef\xbb\xbfid,text\n1,hello world\n")
    code, _, err = run(
        "perturb", source, "-c", "id", "-o", tmp_path / "o.csv", "-e", "1"
    )
    assert code == ExitCode.OK, err
