"""Incremental decoding (``_io/_decoding.py``): line endings, encoding errors."""

import io

from sklearn_textdp._io import _decoding, decoded_lines
from sklearn_textdp.cli import ExitCode
from tests.cli_support import (
    read_csv,
)


def test_decoded_lines_keep_line_endings_across_blocks(monkeypatch):
    monkeypatch.setattr(_decoding, "_BLOCK_BYTES", 3)  # splits "\r\n" and "é"
    data = "a,é\r\nb\rc\nd\r\n".encode()
    assert list(decoded_lines(io.BytesIO(data))) == ["a,é\r\n", "b\r", "c\n", "d\r\n"]
    assert list(decoded_lines(io.BytesIO(data), newline="lf")) == [
        "a,é\r\n",
        "b\rc\n",
        "d\r\n",
    ]


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
