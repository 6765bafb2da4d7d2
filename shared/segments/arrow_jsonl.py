"""JSON Lines through Arrow: for now the per-row reader, packed into batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO

from shared.segments.jsonl_reader import read_jsonl
from shared.segments.parts import SourcePart
from shared.segments.row_batch import RowBatch, batched


def read_jsonl_batches(
    part: SourcePart, stream: BinaryIO, columns: Sequence[str], *, batch_rows: int, block_bytes: int
) -> Iterator[RowBatch]:
    del block_bytes
    return batched(read_jsonl(part, stream, columns), len(columns), batch_rows)
