"""CSV and TSV: chunks, a streaming reader (csv module) and a writer."""

import csv

from ._common import InputError, OutputError, _Chunk, _Reader, _TextWriter
from ._decoding import decoded_lines

#: Largest CSV field accepted (Python's default, 128 KiB, is too small for long
#: documents; 2**31 - 1 is the largest value every platform accepts).
_MAX_CSV_FIELD = 2**31 - 1


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
