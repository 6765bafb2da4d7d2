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
    values: list[tuple[str, ...]] = []
    errors: list[RowError] = []

    def flush() -> RowBatch:
        columns = list(zip(*values, strict=True)) if values else [() for _ in range(width)]
        batch = RowBatch(
            pa.array(lines, type=pa.int64()), [pa.array(c, type=pa.string()) for c in columns], errors.copy()
        )
        lines.clear()
        values.clear()
        errors.clear()
        return batch

    add_line, add_values, add_error = lines.append, values.append, errors.append
    pending = 0
    try:
        for row in rows:
            if row.__class__ is RowError:
                add_error(row)
            else:
                add_line(row[0])  # type: ignore[index]
                add_values(row[1])  # type: ignore[index]
            pending += 1
            if pending == batch_rows:
                pending = 0
                yield flush()
    except UnreadableFile:
        if pending:
            yield flush()
        raise
    if pending:
        yield flush()
