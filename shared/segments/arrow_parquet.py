"""Parquet batches converted column-wise, with the per-row logic for any batch that holds something unusual.

A mapped column converts as a whole when its type is text, bytes, an integer, a boolean or null:
Arrow's cast to text writes those exactly as ``scalar()`` does (``str(int)``, ``true``/``false``, null
→ empty). It must also be valid UTF-8 with no NUL. Anything else — floats (Python's ``repr``
differs from Arrow's), dates, decimals, nested values, bad bytes, a NUL — sends that batch through
``batch_rows``, the per-row reader's own code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from shared.segments.parquet_reader import PARQUET_BATCH, damaged, open_parquet
from shared.segments.parquet_reader import batch_rows as batch_rows_of
from shared.segments.parts import SourcePart
from shared.segments.row_batch import RowBatch, batched, line_numbers


def _convertible(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


def _as_text(array: pa.Array) -> pa.Array | None:
    """The column as the text ``scalar()`` gives, or None when a value needs the per-row reader."""
    if not _convertible(array.type):
        return None
    try:
        text = array.cast(pa.string())  # validates UTF-8 for bytes
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            text.validate(full=True)  # Parquet strings are not checked on read
    except pa.ArrowInvalid:
        return None
    text = text.fill_null("")
    if pc.any(pc.match_substring(text, "\x00")).as_py():
        return None
    return text


def read_parquet_batches(
    part: SourcePart, stream: BinaryIO, columns: Sequence[str], *, batch_rows: int
) -> Iterator[RowBatch]:
    source, schema_names, at = open_parquet(part, stream, columns)
    names = [schema_names[p] for p in at]
    line = 1
    try:
        # The per-row reader's batch size, so damage part-way is found after the same row.
        for batch in source.iter_batches(batch_size=PARQUET_BATCH, columns=[schema_names[p] for p in sorted(set(at))]):
            texts = [_as_text(batch.column(batch.schema.get_field_index(name))) for name in names]
            if all(t is not None for t in texts):
                for start in range(0, batch.num_rows, batch_rows):
                    size = min(batch_rows, batch.num_rows - start)
                    lines = line_numbers(line + 1 + start, size)
                    yield RowBatch(lines, [t.slice(start, size) for t in texts if t is not None], [])
            else:
                yield from batched(batch_rows_of(batch, names, columns, line), len(columns), batch_rows)
            line += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise damaged(part, line, exc) from None
