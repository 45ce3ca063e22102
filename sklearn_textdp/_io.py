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
"""

import codecs
import contextlib
import csv
import datetime
import decimal
import gzip
import io
import json
import math
import os
import re
import stat
import sys
import tempfile

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

#: Formats and the file name endings that select them (a trailing ``.gz`` is
#: stripped first, and means gzip compression).
FORMATS = {
    "csv": (".csv",),
    "tsv": (".tsv", ".tab"),
    "jsonl": (".jsonl", ".ndjson", ".jsonlines"),
    "parquet": (".parquet", ".pq"),
}
_DELIMITERS = {"csv": ",", "tsv": "\t"}
#: Bytes read from the input at a time (the decoder's block).
_BLOCK_BYTES = 1 << 16
#: Largest CSV field accepted (Python's default, 128 KiB, is too small for long
#: documents; 2**31 - 1 is the largest value every platform accepts).
_MAX_CSV_FIELD = 2**31 - 1


class InputError(Exception):
    """The input cannot be read: missing or unreadable file, malformed row,
    wrong encoding, missing column."""


class OutputError(Exception):
    """The output cannot be written: it exists, it is the input, or writing failed."""


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


# --------------------------------------------------------------------- decoding
class _CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (for progress)."""

    def __init__(self, raw):
        super().__init__()
        self._raw = raw
        self.bytes_read = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        return n


_UNIVERSAL_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)")
_LF_LINE = re.compile(r"[^\n]*\n")


def _normalized_encoding(encoding):
    name = codecs.lookup(encoding).name
    # A UTF-8 byte-order mark is not part of the first column's name.
    return "utf-8-sig" if name == "utf-8" else name


def decoded_lines(stream, encoding="utf-8", *, name="<input>", newline="universal"):
    """Decode a binary stream incrementally and yield its lines, endings kept.

    Unlike :class:`io.TextIOWrapper`, a decoding error names the byte offset and
    the line where it happened, including on standard input.

    Parameters
    ----------
    stream : binary file object
    encoding : str, default="utf-8"
        A UTF-8 byte-order mark at the start is skipped.
    name : str, default="<input>"
        Shown in error messages.
    newline : {"universal", "lf"}, default="universal"
        ``"universal"`` ends lines at ``\\n``, ``\\r\\n`` or ``\\r`` (what
        :mod:`csv` expects); ``"lf"`` only at ``\\n`` (JSON lines).

    Yields
    ------
    line : str

    Raises
    ------
    InputError
        If the bytes are not valid in ``encoding``.

    Examples
    --------
    >>> import io
    >>> list(decoded_lines(io.BytesIO(b"a,b\\r\\nc\\rd")))
    ['a,b\\r\\n', 'c\\r', 'd']
    >>> list(decoded_lines(io.BytesIO(b"ok\\nbad \\xff\\n")))
    Traceback (most recent call last):
    ...
    sklearn_textdp._io.InputError: <input>: not valid utf-8 text at byte 7 (line 2): \
invalid start byte 0xff; give the right --encoding (e.g. latin-1, cp1252)
    """
    encoding = _normalized_encoding(encoding)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    pattern = _UNIVERSAL_LINE if newline == "universal" else _LF_LINE
    consumed = 0  # bytes handed to the decoder so far
    lines_done = 0  # complete lines yielded so far
    pending = ""  # decoded text of the line being read
    while True:
        block = stream.read(_BLOCK_BYTES)
        final = not block
        try:
            text = decoder.decode(block, final)
        except UnicodeDecodeError as exc:
            raise _decoding_error(
                exc, encoding, name, consumed, len(block), lines_done, pending
            ) from None
        consumed += len(block)
        data = pending + text
        position = 0
        for match in pattern.finditer(data):
            if match.end() == len(data) and data.endswith("\r") and not final:
                break  # a "\r" at the end may be the first half of "\r\n"
            yield match.group()
            lines_done += 1
            position = match.end()
        pending = data[position:]
        if final:
            if pending:
                yield pending
            return


def _decoding_error(exc, encoding, name, consumed, block_length, lines_done, pending):
    # exc.object is the decoder's leftover bytes followed by the new block.
    leftover = len(exc.object) - block_length
    offset = consumed - leftover + exc.start
    valid = exc.object[: exc.start].decode(encoding, errors="replace")
    line = lines_done + 1 + (pending + valid).count("\n")
    bad = exc.object[exc.start : exc.end].hex()
    shown = "utf-8" if encoding == "utf-8-sig" else encoding
    return InputError(
        f"{name}: not valid {shown} text at byte {offset} (line {line}): "
        f"{exc.reason} 0x{bad}; give the right --encoding (e.g. latin-1, cp1252)"
    )


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


class _CsvChunk(_Chunk):
    def __init__(self, start_row, rows, lines, header, column):
        self.rows, self.lines, self.header, self.column = rows, lines, header, column
        index = header.index(column)
        super().__init__(
            start_row, [row[index] if row[index] != "" else None for row in rows]
        )

    def where(self, i):
        return f"{super().where(i)} (line {self.lines[i]})"

    def as_rows(self, texts, columns):
        index = self.header.index(self.column)
        out = []
        for row, text in zip(self.rows, texts, strict=True):
            row = list(row)
            row[index] = "" if text is None else text
            out.append(row)
        return out

    def as_records(self, texts):
        index = self.header.index(self.column)
        out = []
        for row, text in zip(self.rows, texts, strict=True):
            record = dict(zip(self.header, row, strict=True))
            record[self.header[index]] = text
            out.append(record)
        return out

    def as_arrow(self, texts, schema):
        import pyarrow as pa

        columns = list(zip(*self.rows, strict=True))
        arrays = [pa.array(values, type=pa.string()) for values in columns]
        arrays[self.header.index(self.column)] = pa.array(texts, type=pa.string())
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


class _JsonChunk(_Chunk):
    def __init__(self, start_row, records, lines, column):
        self.records, self.lines, self.column = records, lines, column
        texts = []
        for i, record in enumerate(records):
            value = record.get(column)
            if _is_missing(value):
                value = None
            elif not isinstance(value, str):
                raise InputError(
                    f"line {lines[i]}: field {column!r} holds a "
                    f"{type(value).__name__} ({json.dumps(value)[:40]}); expected a "
                    "string or null"
                )
            texts.append(value)
        super().__init__(start_row, texts)

    def where(self, i):
        return f"{super().where(i)} (line {self.lines[i]})"

    def as_records(self, texts):
        out = []
        for record, text in zip(self.records, texts, strict=True):
            if self.column in record:
                record = dict(record)  # same keys in the same order
                record[self.column] = text
            out.append(record)
        return out

    def as_rows(self, texts, columns):
        known = set(columns)
        out = []
        for i, record in enumerate(self.as_records(texts)):
            extra = [key for key in record if key not in known]
            if extra:
                raise OutputError(
                    f"line {self.lines[i]}: field {extra[0]!r} is not among the CSV "
                    f"columns {columns} (the fields of the first chunk of records); "
                    "write JSON lines instead, or raise --chunk-size"
                )
            out.append([_cell(record.get(key)) for key in columns])
        return out

    def as_arrow(self, texts, schema):
        import pyarrow as pa

        try:
            return pa.RecordBatch.from_pylist(self.as_records(texts), schema=schema)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise OutputError(
                f"lines {self.lines[0]}-{self.lines[-1]}: cannot convert these "
                f"records to the Parquet schema of the first chunk ({exc})"
            ) from None


class _ArrowChunk(_Chunk):
    def __init__(self, start_row, batch, column):
        self.batch, self.column = batch, column
        super().__init__(
            start_row, batch.column(batch.schema.get_field_index(column)).to_pylist()
        )

    def as_arrow(self, texts, schema):
        import pyarrow as pa

        index = self.batch.schema.get_field_index(self.column)
        field = self.batch.schema.field(index)
        if pa.types.is_null(field.type):
            return self.batch  # an all-null column stays all null
        array = pa.array(texts, type=pa.string())
        if array.type != field.type:
            array = array.cast(field.type)
        return self.batch.set_column(index, field, array)

    def as_records(self, texts):
        records = self.batch.to_pylist()
        for record, text in zip(records, texts, strict=True):
            record[self.column] = text
        return records

    def as_rows(self, texts, columns):
        return [
            [_cell(record[key]) for key in columns] for record in self.as_records(texts)
        ]


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


class _CsvReader(_Reader):
    def __init__(
        self, counter, stream, name, column, chunk_size, *, encoding, delimiter
    ):
        super().__init__(name, column, chunk_size)
        self._counter = counter
        self.delimiter = delimiter
        self._lines = decoded_lines(stream, encoding, name=name)
        self._reader = csv.reader(self._lines, delimiter=delimiter, strict=True)
        self._last_line = 0
        first = self._next_row()
        if first is None:
            raise InputError(f"{name}: the file is empty (no header row)")
        self.columns = first[1]
        duplicates = {c for c in self.columns if self.columns.count(c) > 1}
        if column in duplicates:
            raise InputError(f"{name}: the header names column {column!r} twice")

    @property
    def progress(self):
        return self._counter.bytes_read

    def _next_row(self):
        """``(first_line, fields)`` of the next record, or None at the end."""
        start = self._last_line + 1
        try:
            fields = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise InputError(
                f"{self.name}: malformed CSV at line {self._reader.line_num}: {exc}"
            ) from None
        finally:
            self._last_line = self._reader.line_num
        return start, fields

    def _rows(self):
        width = len(self.columns)
        while (item := self._next_row()) is not None:
            line, fields = item
            if not fields:
                if width != 1:
                    continue  # a blank line, skipped as pandas does
                fields = [""]  # a one-column CSV writes a missing value as ""
            if len(fields) != width:
                raise InputError(
                    f"{self.name}: malformed CSV at line {line}: expected {width} "
                    f"fields (as in the header), found {len(fields)}"
                )
            yield line, fields

    def __iter__(self):
        previous = csv.field_size_limit(_MAX_CSV_FIELD)
        try:
            start, rows, lines = 0, [], []
            for line, fields in self._rows():
                rows.append(fields)
                lines.append(line)
                if len(rows) == self.chunk_size:
                    yield _CsvChunk(start, rows, lines, self.columns, self.column)
                    start, rows, lines = start + len(rows), [], []
            if rows:
                yield _CsvChunk(start, rows, lines, self.columns, self.column)
        finally:
            csv.field_size_limit(previous)

    def arrow_schema(self):
        import pyarrow as pa

        return pa.schema([(name, pa.string()) for name in self.columns])


class _JsonLinesReader(_Reader):
    def __init__(self, counter, stream, name, column, chunk_size, *, encoding):
        super().__init__(name, column, chunk_size)
        self._counter = counter
        self._records = self._parse(
            decoded_lines(stream, encoding, name=name, newline="lf")
        )
        # The columns are the fields of the first chunk, in order of appearance.
        self._first = self._take()
        columns = {}
        for record in self._first[0]:
            columns.update(dict.fromkeys(record))
        self.columns = list(columns)

    @property
    def progress(self):
        return self._counter.bytes_read

    def _parse(self, lines):
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{self.name}: invalid JSON at line {number}, column {exc.colno}: "
                    f"{exc.msg}"
                ) from None
            if not isinstance(record, dict):
                raise InputError(
                    f"{self.name}: line {number} holds a JSON "
                    f"{type(record).__name__}; expected an object (one per line)"
                )
            yield number, record

    def _take(self):
        records, lines = [], []
        for number, record in self._records:
            records.append(record)
            lines.append(number)
            if len(records) == self.chunk_size:
                break
        return records, lines

    def __iter__(self):
        start, chunk = 0, self._first
        while chunk[0]:
            try:
                parsed = _JsonChunk(start, *chunk, self.column)
            except InputError as exc:
                raise InputError(f"{self.name}: {exc}") from None
            yield parsed
            start += len(chunk[0])
            chunk = self._take()

    def check_column(self):
        # Records may omit fields: only refuse when no record of the first chunk
        # has the text field (a typo, most likely).
        if self._first[0]:
            super().check_column()


class _ParquetReader(_Reader):
    unit = "rows"

    def __init__(self, file, name, column, chunk_size):
        import pyarrow as pa
        import pyarrow.parquet as pq

        super().__init__(name, column, chunk_size)
        try:
            self._file = pq.ParquetFile(file)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{name}: not a readable Parquet file ({exc})") from None
        self.schema = self._file.schema_arrow
        self.columns = list(self.schema.names)
        self.total = self._file.metadata.num_rows
        self.progress = 0

    def check_column(self):
        import pyarrow as pa

        super().check_column()
        kind = self.schema.field(self.column).type
        value = kind.value_type if pa.types.is_dictionary(kind) else kind
        if not (
            pa.types.is_string(value)
            or pa.types.is_large_string(value)
            or pa.types.is_string_view(value)
            or pa.types.is_null(value)
        ):
            raise InputError(
                f"{self.name}: column {self.column!r} has type {kind}; expected strings"
            )

    def __iter__(self):
        import pyarrow as pa

        start = 0
        batches = self._file.iter_batches(batch_size=self.chunk_size)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise InputError(
                    f"{self.name}: cannot read the Parquet data after row {start} "
                    f"({exc})"
                ) from None
            yield _ArrowChunk(start, batch, self.column)
            start += batch.num_rows
            self.progress = start

    def arrow_schema(self):
        return self.schema


def _require_pyarrow(error):
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise error(
            "Parquet needs pyarrow: pip install 'sklearn-textdp[cli]'"
        ) from None


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


class _CsvWriter(_TextWriter):
    def __init__(self, stream, path, columns, delimiter):
        super().__init__(stream, path)
        self.columns = columns
        # "\r\n" (RFC 4180): with "\n", Python's csv would not quote a lone "\r".
        self._writer = csv.writer(
            self._text, delimiter=delimiter, lineterminator="\r\n"
        )
        self._header_written = False

    def _write_header(self):
        # Only once the first chunk is perturbed: standard output gets nothing at
        # all when the first rows are malformed.
        if not self._header_written and self.columns:
            self._writer.writerow(self.columns)
            self._header_written = True

    def close(self):
        self._write_header()  # an empty table still has its header
        super().close()

    def abort(self):
        super().close()

    def write(self, chunk, texts):
        self._write_header()
        try:
            self._writer.writerows(chunk.as_rows(texts, self.columns))
        except UnicodeEncodeError as exc:
            raise OutputError(
                f"cannot encode {chunk.where(0)} and after as UTF-8: {exc.reason}"
            ) from None


class _JsonLinesWriter(_TextWriter):
    # A lone surrogate (from a "\ud800" escape in the input) is written back as
    # the same escape, which is what it was: JSON only has them inside strings.
    errors = "backslashreplace"

    def write(self, chunk, texts):
        dumps = json.dumps
        self._text.writelines(
            dumps(record, ensure_ascii=False, default=_json_default) + "\n"
            for record in chunk.as_records(texts)
        )


class _ParquetWriter(_Writer):
    def __init__(self, stream, schema, column):
        self._stream, self._schema, self._column = stream, schema, column
        self._writer = None

    def write(self, chunk, texts):
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._schema is None:  # JSON lines: the first chunk decides
            inferred = chunk.as_arrow(texts, None).schema
            index = inferred.get_field_index(self._column)
            if index >= 0:
                inferred = inferred.set(index, pa.field(self._column, pa.string()))
            self._schema = inferred
        batch = chunk.as_arrow(texts, self._schema)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._stream, self._schema)
        try:
            self._writer.write_batch(batch)
        except (pa.ArrowException, ValueError) as exc:
            raise OutputError(
                f"cannot write {chunk.where(0)} and after: {exc}"
            ) from None

    def close(self):
        import pyarrow.parquet as pq

        if self._writer is None:  # no rows: still a valid, empty Parquet file
            self._writer = pq.ParquetWriter(self._stream, self._schema)
        self._writer.close()


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


# --------------------------------------------------------------------- output
def check_output_path(path, *, overwrite=False, input_path=None):
    """Refuse an output that is the input, exists (unless ``overwrite``), or
    cannot be created.

    ``input_path`` is compared by inode, so a symbolic or hard link to the input
    is refused too, even with ``overwrite``.

    Raises
    ------
    OutputError
    """
    if path == "-":
        return
    if input_path not in (None, "-") and os.path.exists(path):
        with contextlib.suppress(OSError):
            if os.path.samefile(path, input_path):
                raise OutputError(
                    f"{path}: refusing to overwrite the input file (the output is the "
                    "input, or a link to it)"
                )
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a directory; give a file name")
    if os.path.lexists(path) and not overwrite:
        raise OutputError(
            f"{path}: exists; refusing to overwrite it without --overwrite"
        )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise OutputError(f"{path}: directory {directory} does not exist")


def _default_mode(path):
    """Permissions of the output: those of the file replaced, else 0o666 - umask."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(path).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _publish(temporary, path, overwrite):
    """Move the complete temporary file to ``path`` in one atomic step."""
    if overwrite:
        os.replace(temporary, path)
        return
    # Without --overwrite, never clobber a file created while we were working:
    # a hard link fails if the name exists.
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise OutputError(
            f"{path}: created by someone else while writing; refusing to overwrite it"
        ) from None
    except OSError:  # no hard links on this file system
        if os.path.lexists(path):
            raise OutputError(f"{path}: exists; refusing to overwrite it") from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


@contextlib.contextmanager
def atomic_output(path, *, overwrite=False, input_path=None):
    """A binary file that appears at ``path`` only once completely written.

    The data go to a hidden temporary file in the same directory (so that the final
    :func:`os.replace` is atomic), which is removed if anything goes wrong: an
    exception, Ctrl-C (KeyboardInterrupt), or any signal the caller turns into an
    exception. ``"-"`` is standard output, written as it comes.

    Parameters
    ----------
    path : str
    overwrite : bool, default=False
        Replace an existing ``path``.
    input_path : str, default=None
        Never overwrite this file (compared by inode).

    Yields
    ------
    stream : binary file object

    Raises
    ------
    OutputError

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_output(path) as fh:
    ...     _ = fh.write(b"done")
    ...     os.path.exists(path)
    False
    >>> open(path).read()
    'done'
    """
    if path == "-":
        stdout = getattr(sys.stdout, "buffer", None)
        if stdout is None:  # e.g. a notebook's text-only stdout
            raise OutputError(
                "standard output does not accept bytes here; give a file name"
            )
        sys.stdout.flush()
        yield stdout
        stdout.flush()
        return
    check_output_path(path, overwrite=overwrite, input_path=input_path)
    directory = os.path.dirname(os.path.abspath(path))
    mode = _default_mode(path)
    try:
        fd, temporary = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".textdp-tmp"
        )
    except OSError as exc:
        raise OutputError(
            f"{path}: cannot write in {directory}: {exc.strerror or exc}"
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temporary, mode)
        _publish(temporary, path, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
