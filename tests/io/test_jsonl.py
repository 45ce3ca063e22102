"""JSON lines tables (``_io/_jsonl.py``), through ``textdp perturb``."""

import pytest

from sklearn_textdp.cli import ExitCode
from tests.cli_support import (
    DOCS,
    read_csv,
    read_jsonl,
    write_jsonl,
)


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
