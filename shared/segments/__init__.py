"""Segment readers: find the data files of a segment folder and stream their rows.

A segment is a folder of blobs: CSV with a header, CSV.gz, JSON Lines (optionally gzipped), Parquet, or
the CDM folder form a customer-data platform writes — ``model.json`` or ``*.manifest.cdm.json``
describing headerless CSV partitions. Readers stream (never a whole file in memory) and yield
``(line, values)`` in the order of the requested columns, or a ``RowError`` naming the line, so one bad
row costs that row only. What makes a whole file unusable (a mapped column missing or twice in the
header, compressed data cut short) raises ``UnreadableFile`` naming the file and line: the run holds
that one file back and goes on with the others. No row is dropped without one of these outcomes.

Every format follows the same rules (see ``parts.py``): values of mapped columns that hold bytes that
are not UTF-8, a NUL byte, or a nested value are ``invalid`` naming the column; other columns are never
looked at.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO

from shared.errors import SegmentFormatError
from shared.segments.csv_reader import FIELD_LIMIT, LINE_LIMIT, read_csv
from shared.segments.discover import FORMATS, MANIFEST_SUFFIX, MODEL_JSON, discover_parts, resolve
from shared.segments.jsonl_reader import read_jsonl
from shared.segments.parquet_reader import PARQUET_BATCH, read_parquet
from shared.segments.parts import Row, RowError, SourcePart, UnreadableFile

__all__ = [
    "FIELD_LIMIT",
    "FORMATS",
    "LINE_LIMIT",
    "MANIFEST_SUFFIX",
    "MODEL_JSON",
    "PARQUET_BATCH",
    "Row",
    "RowError",
    "SourcePart",
    "UnreadableFile",
    "discover_parts",
    "read_part",
    "resolve",
]


def read_part(part: SourcePart, stream: BinaryIO, columns: Sequence[str]) -> Iterator[Row]:
    """Rows of one file as ``(line, values)`` in ``columns`` order (email first), or ``RowError``.

    Line numbers are physical lines (the header is line 1; for Parquet, row n is line n + 1).
    Raises UnreadableFile (possibly after some rows) when the file cannot be exported as a whole.
    """
    if part.problem is not None:
        raise UnreadableFile(part.problem, blob=part.blob, line=part.problem_line, records=0)
    if part.format in ("csv", "csv.gz", "cdm_csv"):
        return read_csv(part, stream, columns)
    if part.format in ("jsonl", "jsonl.gz"):
        return read_jsonl(part, stream, columns)
    if part.format == "parquet":
        return read_parquet(part, stream, columns)
    raise SegmentFormatError(f"unsupported format {part.format!r}", blob=part.blob)
