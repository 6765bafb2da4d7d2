"""Parquet: columns by name from the schema; row n of the file is reported as line n + 1."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from shared.segments.parts import Row, RowError, SourcePart, UnreadableFile, bad_value, positions, scalar

PARQUET_BATCH = 65_536


def _text(column: str, value: Any) -> tuple[str, str | None]:
    """(value as sent, problem) for values that are not plain scalars."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "surrogateescape")
        return text, bad_value(column, text)
    if isinstance(value, dict | list):
        return "", f"{column!r} holds a nested {type(value).__name__}, not a single value"
    text = scalar(value)
    return text, bad_value(column, text) if "\x00" in text else None


_ODD = (bytes, dict, list)


def _values(column: Any) -> list[Any]:
    """Python values of a column; strings that are not valid UTF-8 come back as bytes to be reported."""
    import pyarrow as pa

    try:
        return column.to_pylist()
    except UnicodeDecodeError:
        return column.cast(pa.large_binary()).to_pylist()


def open_parquet(part: SourcePart, stream: BinaryIO, columns: Sequence[str]) -> tuple[Any, list[str], list[int]]:
    """(ParquetFile, schema names, positions of ``columns``); UnreadableFile when it cannot be used."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFile(f"not a readable Parquet file ({exc})", blob=part.blob) from None
    schema_names = source.schema_arrow.names
    try:
        at = positions(schema_names, columns, part.blob, what="the schema")
    except UnreadableFile as exc:
        exc.line = None
        exc.records = source.metadata.num_rows
        raise
    return source, schema_names, at


def damaged(part: SourcePart, line: int, exc: Exception) -> UnreadableFile:
    return UnreadableFile(
        f"the Parquet data is damaged after row {line - 1} ({exc}); none of its rows were exported",
        blob=part.blob,
        line=line + 1,
    )


def batch_rows(batch: Any, names: list[str], columns: Sequence[str], line: int) -> Iterator[Row]:
    """The rows of one Arrow batch of mapped columns (``names`` in ``columns`` order); its first row is
    ``line`` + 1."""
    lists = [_values(batch.column(batch.schema.get_field_index(name))) for name in names]
    for values in zip(*lists, strict=True):
        line += 1
        texts = tuple(map(scalar, values))
        if "\x00" not in "".join(texts) and not any(type(v) in _ODD for v in values):
            yield line, texts
            continue
        problem, cleaned = None, []
        for name, value in zip(columns, values, strict=True):
            text, problem = _text(name, value)
            if problem is not None:
                break
            cleaned.append(text)
        yield RowError(line, problem) if problem is not None else (line, tuple(cleaned))


def read_parquet(part: SourcePart, stream: BinaryIO, columns: Sequence[str]) -> Iterator[Row]:
    import pyarrow as pa

    source, schema_names, at = open_parquet(part, stream, columns)
    names = [schema_names[p] for p in at]
    line = 1
    try:
        for batch in source.iter_batches(batch_size=PARQUET_BATCH, columns=[schema_names[p] for p in sorted(set(at))]):
            yield from batch_rows(batch, names, columns, line)
            line += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise damaged(part, line, exc) from None
