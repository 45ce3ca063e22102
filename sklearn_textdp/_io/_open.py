"""Choose the reader or writer of a format; open the input."""

import contextlib
import gzip
import io
import os
import stat
import sys

from ._common import _DELIMITERS, InputError, OutputError, _is_gzip, _require_pyarrow
from ._csv import _CsvReader, _CsvWriter
from ._decoding import _CountingReader
from ._jsonl import _JsonLinesReader, _JsonLinesWriter
from ._parquet import _ParquetReader, _ParquetWriter


@contextlib.contextmanager
def open_reader(path, fmt, column, *, chunk_size=10_000, encoding="utf-8"):
    """Open ``path`` (``"-"``: standard input) as a stream of chunks of rows.

    Parameters
    ----------
    path : str
    fmt : {"csv", "tsv", "jsonl", "parquet"}
    column : str
        The text column; the other columns are passed through untouched.
    chunk_size : int, default=10_000
        Rows per chunk.
    encoding : str, default="utf-8"
        Text encoding of CSV and JSON lines inputs.

    Yields
    ------
    reader : iterable of chunks, with ``columns``, ``progress``, ``total``, ``unit``

    Raises
    ------
    InputError
        If the file cannot be opened or its first rows cannot be read.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "in.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("id,text\\n1,hello world\\n2,\\n")
    >>> with open_reader(path, "csv", "text") as reader:
    ...     [chunk.texts for chunk in reader]
    [['hello world', None]]
    """
    name = "<stdin>" if path == "-" else str(path)
    if fmt == "parquet":
        _require_pyarrow(InputError)
        if path == "-":
            raise InputError("Parquet cannot be read from standard input; give a file")
    with _open_binary_input(path, name) as raw:
        if fmt == "parquet":
            reader = _ParquetReader(raw, name, column, chunk_size)
        else:
            counter = _CountingReader(raw)
            stream = io.BufferedReader(counter)
            if _is_gzip(path):
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
            try:
                if fmt == "jsonl":
                    reader = _JsonLinesReader(
                        counter, stream, name, column, chunk_size, encoding=encoding
                    )
                else:
                    reader = _CsvReader(
                        counter,
                        stream,
                        name,
                        column,
                        chunk_size,
                        encoding=encoding,
                        delimiter=_DELIMITERS[fmt],
                    )
            except (OSError, EOFError) as exc:  # e.g. a corrupt gzip stream
                raise InputError(f"{name}: cannot read: {exc}") from None
            reader.total = _file_size(raw)
        reader.check_column()
        yield _GuardedReader(reader)


class _GuardedReader:
    """A reader whose low-level read errors become :class:`InputError`."""

    def __init__(self, reader):
        self._reader = reader

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def __iter__(self):
        iterator = iter(self._reader)
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            except (OSError, EOFError) as exc:
                raise InputError(f"{self._reader.name}: cannot read: {exc}") from None
            yield chunk


@contextlib.contextmanager
def _open_binary_input(path, name):
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot open: {exc.strerror or exc}") from None
    with fh:
        yield fh


def _file_size(raw):
    try:
        info = os.fstat(raw.fileno())
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) and info.st_size else None


def open_writer(fmt, stream, path, reader):
    """A writer of ``fmt`` to the binary ``stream``, for the rows of ``reader``.

    Parameters
    ----------
    fmt : {"csv", "tsv", "jsonl", "parquet"}
    stream : binary file object
    path : str
        The output's name (``.gz`` means gzip compression).
    reader : reader from :func:`open_reader`
        Gives the columns, and the schema of Parquet outputs.

    Returns
    -------
    writer : context manager with ``write(chunk, texts)``
        Leaving the ``with`` block normally completes the output (closes the
        writer); an exception abandons it.
    """
    if fmt == "parquet":
        _require_pyarrow(OutputError)
        if path == "-":
            raise OutputError(
                "Parquet cannot be written to standard output; give a file"
            )
        schema = reader.arrow_schema()
        if schema is None and not reader.columns:
            import pyarrow as pa

            schema = pa.schema([(reader.column, pa.string())])
        return _ParquetWriter(stream, schema, reader.column)
    if fmt == "jsonl":
        return _JsonLinesWriter(stream, path)
    return _CsvWriter(stream, path, list(reader.columns), _DELIMITERS[fmt])
