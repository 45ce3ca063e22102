"""Streaming table readers and writers for the command line, with atomic output.

Tables are read and written one chunk of rows at a time, so memory stays bounded
whatever the size of the input:

- CSV / TSV (also gzip-compressed, ``.csv.gz``): Python's :mod:`csv` module over
  an incremental decoder. Every cell is kept as the exact string of the input.
  An empty text cell is a missing document.
- JSON lines (``.jsonl``, ``.ndjson``, also ``.gz``): one JSON object per line,
  decoded with :mod:`json`; records are written back as they were read (same keys,
  same order, same values), with only the text field replaced.
- Parquet: :mod:`pyarrow` record batches; the other columns stay Arrow arrays and
  are written back untouched, with the input's schema and metadata.

A chunk is read, its text column handed to the caller as a list (``None`` for
missing documents), and the new texts put back in place of the old ones; the
caller never sees the other columns.

Output files are written to a temporary file in the output's directory and moved
into place with :func:`os.replace` only once complete (:func:`atomic_output`): a
failure, Ctrl-C or SIGTERM leaves no partial or corrupt output behind.

Errors are raised as :class:`InputError` or :class:`OutputError`, with one-line
messages naming the file, and the line, row or byte offset where possible.

Layout: ``_common`` (formats, errors, the bases of chunks, readers and writers),
``_decoding`` (incremental decoding into lines), one module per format
(``_csv``, ``_jsonl``, ``_parquet``: its chunk, reader and writer), ``_open``
(:func:`open_reader` and :func:`open_writer` choose among them) and ``_atomic``
(:func:`atomic_output`, :func:`check_output_path`).
"""

from ._atomic import atomic_output, check_output_path
from ._common import FORMATS, InputError, OutputError, infer_format
from ._decoding import decoded_lines
from ._open import open_reader, open_writer

__all__ = [
    "FORMATS",
    "InputError",
    "OutputError",
    "atomic_output",
    "check_output_path",
    "decoded_lines",
    "infer_format",
    "open_reader",
    "open_writer",
]
