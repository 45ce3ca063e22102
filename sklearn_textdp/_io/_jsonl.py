"""JSON lines: chunks of records, a streaming reader and a writer."""

import json

from ._common import (
    InputError,
    OutputError,
    _cell,
    _Chunk,
    _is_missing,
    _json_default,
    _Reader,
    _TextWriter,
)
from ._decoding import decoded_lines


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
