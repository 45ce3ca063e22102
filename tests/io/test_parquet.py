"""Parquet tables (``_io/_parquet.py``), through ``textdp perturb``."""

import numpy as np
import pytest

from sklearn_textdp.cli import ExitCode
from tests.cli_support import (
    DOCS,
)

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


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
