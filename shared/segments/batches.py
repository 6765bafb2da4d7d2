"""Rows as Arrow arrays: ``read_batches`` gives what ``read_part`` gives, a stretch of the file at a time.

The per-row readers are exact but spend a Python frame on every row. Here each format reads clean
stretches of a file with Arrow (``arrow_csv``, ``arrow_jsonl``, ``arrow_parquet``) and hands what Arrow
cannot read exactly — a stray quote, a NUL, bytes that are not UTF-8, a nested value — to the per-row
reader, continuing its line numbering. Flattening the batches gives the rows and ``RowError``s of
``read_part``, line for line, and ``UnreadableFile`` is raised in the same situations with the same
message; the batches before it have been yielded, so a caller counting rows + errors when
``records`` is None counts what ``read_part`` would have yielded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO

from shared.errors import SegmentFormatError
from shared.segments.arrow_csv import BLOCK_BYTES, read_csv_batches
from shared.segments.arrow_jsonl import read_jsonl_batches
from shared.segments.arrow_parquet import read_parquet_batches
from shared.segments.csv_reader import LINE_LIMIT
from shared.segments.parts import SourcePart, UnreadableFile
from shared.segments.row_batch import RowBatch, batched

__all__ = ["BLOCK_BYTES", "RowBatch", "batched", "read_batches"]


def read_batches(
    part: SourcePart,
    stream: BinaryIO,
    columns: Sequence[str],
    *,
    batch_rows: int = 65_536,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[RowBatch]:
    """Batches of at most ``batch_rows`` rows + errors; ``block_bytes`` is how much raw text is
    checked and parsed at once (small values only make tests reach later blocks)."""
    if part.problem is not None:
        raise UnreadableFile(part.problem, blob=part.blob, line=part.problem_line, records=0)
    # A line in a clean block is at most about a block long: well under LINE_LIMIT, which the
    # per-row readers enforce, so the fast path never has to.
    block_bytes = max(1, min(block_bytes, LINE_LIMIT // 4))
    if part.format in ("csv", "csv.gz", "cdm_csv"):
        return read_csv_batches(part, stream, columns, batch_rows=batch_rows, block_bytes=block_bytes)
    if part.format in ("jsonl", "jsonl.gz"):
        return read_jsonl_batches(part, stream, columns, batch_rows=batch_rows, block_bytes=block_bytes)
    if part.format == "parquet":
        return read_parquet_batches(part, stream, columns, batch_rows=batch_rows)
    raise SegmentFormatError(f"unsupported format {part.format!r}", blob=part.blob)
