"""Formats, errors, cells, and the bases of chunks, readers and writers."""

import contextlib
import datetime
import decimal
import gzip
import io
import json
import math
import os

FORMATS = {
    "csv": (".csv",),
    "tsv": (".tsv", ".tab"),
    "jsonl": (".jsonl", ".ndjson", ".jsonlines"),
    "parquet": (".parquet", ".pq"),
}
_DELIMITERS = {"csv": ",", "tsv": "\t"}


class InputError(Exception):
    """The input cannot be read: missing or unreadable file, malformed row,
    wrong encoding, missing column."""


class OutputError(Exception):
    """The output cannot be written: it exists, it is the input, or writing failed."""


# The public name, as before the split into modules (tracebacks, pickles).
InputError.__module__ = OutputError.__module__ = "sklearn_textdp._io"


# --------------------------------------------------------------------- formats
def _strip_gz(path):
    name = os.path.basename(str(path)).lower()
    if name.endswith(".gz"):
        return name[:-3], True
    return name, False


def infer_format(path, override=None):
    """The format of ``path``: ``override`` if given, else from its extension.

    Parameters
    ----------
    path : str
        File name, or ``"-"`` (standard input or output).
    override : str, default=None
        A key of :data:`FORMATS`.

    Returns
    -------
    format : str or None
        None when it cannot be told (``"-"`` or an unknown extension).

    Examples
    --------
    >>> infer_format("reviews.csv.gz"), infer_format("x.ndjson"), infer_format("-")
    ('csv', 'jsonl', None)
    >>> infer_format("data.txt", "tsv")
    'tsv'
    """
    if override is not None:
        return override
    if path == "-":
        return None
    name, _ = _strip_gz(path)
    for fmt, endings in FORMATS.items():
        if name.endswith(endings):
            return fmt
    return None


def _is_gzip(path):
    return path != "-" and _strip_gz(path)[1]


# --------------------------------------------------------------------- cells
def _json_default(value):
    """JSON for the non-JSON values of Parquet columns (dates, decimals, bytes)."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, datetime.timedelta)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return str(value)


def _cell(value):
    """A value of a JSON or Parquet column as a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    return _json_default(value) if not isinstance(value, (int, float)) else str(value)


def _is_missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------- chunks
class _Chunk:
    """Rows of one chunk; subclasses know their native form.

    ``texts`` holds the text column (``None`` for missing documents); the
    ``as_*`` methods rebuild the rows with new texts in the form a writer needs.
    """

    def __init__(self, start_row, texts):
        self.start_row = start_row
        self.texts = texts

    def __len__(self):
        return len(self.texts)

    def where(self, i):
        """Where row ``i`` of the chunk is in the input, for messages."""
        return f"row {self.start_row + i + 1}"


# --------------------------------------------------------------------- readers
class _Reader:
    """Iterate over chunks of a table; ``columns`` lists its column names.

    ``progress`` counts the ``unit`` of work done out of ``total`` (None when
    unknown), for a progress bar.
    """

    unit = "B"

    def __init__(self, name, column, chunk_size):
        self.name, self.column, self.chunk_size = name, column, chunk_size
        self.total = None

    def check_column(self):
        if self.column not in self.columns:
            shown = ", ".join(repr(c) for c in self.columns) or "none"
            raise InputError(
                f"{self.name}: no column {self.column!r}; the columns are: {shown}"
            )

    def arrow_schema(self):
        """The Parquet schema of the output, or None to infer it from the rows."""
        return None


def _require_pyarrow(error):
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise error(
            "Parquet needs pyarrow: pip install 'sklearn-textdp[cli]'"
        ) from None


# --------------------------------------------------------------------- writers
class _Unclosable(io.BufferedIOBase):
    """Writes through to a stream that closing the writers must not close
    (standard output, or a file whose closing :func:`atomic_output` owns)."""

    def __init__(self, stream):
        super().__init__()
        self._stream = stream

    def writable(self):
        return True

    def write(self, data):
        return self._stream.write(data)

    def flush(self):
        if not self.closed:
            self._stream.flush()


class _Writer:
    """A context manager: ``close()`` on success, ``abort()`` on any failure."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            with contextlib.suppress(Exception):
                self.abort()

    def abort(self):
        self.close()


class _TextWriter(_Writer):
    """Base of the CSV and JSON lines writers: UTF-8 text over a binary stream."""

    errors = "strict"

    def __init__(self, stream, path):
        stream = _Unclosable(stream)
        if _is_gzip(path):
            stream = gzip.GzipFile(fileobj=stream, mode="wb", mtime=0)
        self._text = io.TextIOWrapper(
            stream, encoding="utf-8", newline="", errors=self.errors
        )

    def close(self):
        try:
            self._text.close()  # flushes, and writes the gzip trailer
        except UnicodeEncodeError as exc:
            raise OutputError(
                f"cannot encode the output as UTF-8: {exc.reason}"
            ) from None
