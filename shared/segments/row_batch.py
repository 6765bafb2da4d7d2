"""The batch shape, and the bridge that packs a per-row reader's rows into batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from shared.segments.parts import Row, RowError, UnreadableFile


@dataclass(slots=True)
class RowBatch:
    lines: pa.Array  # int64: the physical line of each row, numbered as read_part numbers them
    columns: list[pa.Array]  # one string array per requested column, email first; values as read, no nulls
    errors: list[RowError]  # rows of this stretch of the file that could not be read

    def __len__(self) -> int:
        return len(self.lines)


def line_numbers(first: int, count: int) -> pa.Array:
    return pa.array(np.arange(first, first + count, dtype=np.int64))


def batched(rows: Iterator[Row], width: int, batch_rows: int) -> Iterator[RowBatch]:
    """Pack ``(line, values)`` / ``RowError`` into batches of at most ``batch_rows`` outcomes.

    The slow path's bridge: what is pending when the reader raises ``UnreadableFile`` is yielded first,
    so a caller counting outcomes before the failure counts the same as with the per-row reader.
    """
    lines: list[int] = []
    values: list[list[str]] = [[] for _ in range(width)]
    errors: list[RowError] = []

    def flush() -> RowBatch:
        batch = RowBatch(
            pa.array(lines, type=pa.int64()), [pa.array(v, type=pa.string()) for v in values], errors.copy()
        )
        lines.clear()
        errors.clear()
        for column in values:
            column.clear()
        return batch

    try:
        for row in rows:
            if isinstance(row, RowError):
                errors.append(row)
            else:
                lines.append(row[0])
                for column, value in zip(values, row[1], strict=True):
                    column.append(value)
            if len(lines) + len(errors) >= batch_rows:
                yield flush()
    except UnreadableFile:
        if lines or errors:
            yield flush()
        raise
    if lines or errors:
        yield flush()
