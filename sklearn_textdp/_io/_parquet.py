"""Parquet: Arrow record batches read, kept and written back (pyarrow)."""

from ._common import InputError, OutputError, _cell, _Chunk, _Reader, _Writer


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
