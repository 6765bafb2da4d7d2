"""Step 3 — stage one source file: stream-read → map → normalise/validate → hash-partitioned staging.

This is the hot path of a run (every profile passes here once), so it works on Arrow batches: the
readers (``shared.segments.batches``) yield columns, ``shared.pipeline.clean`` normalises and validates
them with vectorised kernels, and ``PartitionWriter`` writes the valid rows grouped by partition into one
blob per source file. It never holds more than ``FLUSH_ROWS`` rows of one file.

A file the readers cannot export as a whole (``UnreadableFile``) is *held back*: nothing of it is
staged (its blocks are never committed, pieces of an earlier attempt are deleted), its rows are not
counted as read, and the stage result names the file, the line and the rows it held, so the run says
so while the other files go on. In mirror mode that would make the file's contacts look removed, so
there the run stops instead.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field

from shared.errors import SegmentFormatError
from shared.models import HeldBackFile
from shared.outcomes import Outcome
from shared.pipeline import records
from shared.pipeline.clean import clean_batch
from shared.pipeline.plan import PartRef, Plan, load_plan
from shared.pipeline.rejected import HELD_BACK, RejectedWriter
from shared.runtime import Runtime
from shared.segments import UnreadableFile
from shared.segments.batches import read_batches
from shared.storage import BlobStore, BlockWriter

# Rows buffered per part before they are written out by partition: ~20 MB of Arrow data.
FLUSH_ROWS = 262_144


class StageResult(BaseModel):
    part: int
    read: int
    invalid: int
    held_back: HeldBackFile | None = None
    # Valid rows staged per partition: what commit counts as failed for a partition whose diff never
    # ran; and where each partition's rows sit in the part's staging blob ([offset, length] of Arrow IPC
    # streams). Stored in the result blob, kept out of orchestration history.
    staged: dict[int, int] = Field(default_factory=dict, exclude=True)
    ranges: dict[int, list[tuple[int, int]]] = Field(default_factory=dict, exclude=True)

    def document(self) -> dict[str, object]:
        return {
            **self.model_dump(mode="json"),
            "staged": {str(k): v for k, v in self.staged.items()},
            "ranges": {str(k): [list(r) for r in v] for k, v in self.ranges.items()},
        }

    @classmethod
    def from_document(cls, document: dict[str, object]) -> StageResult:
        result = cls.model_validate(document)
        staged = document.get("staged") or {}
        ranges = document.get("ranges") or {}
        assert isinstance(staged, dict) and isinstance(ranges, dict)  # nosec B101
        result.staged = {int(k): int(v) for k, v in staged.items()}
        result.ranges = {int(k): [(int(o), int(n)) for o, n in v] for k, v in ranges.items()}
        return result


def by_partition(table: pa.Table, partitions: int) -> list[tuple[int, pa.Table]]:
    """The rows of ``table`` (records.staged_schema) grouped by partition: (partition, its rows) for each
    partition that has any, the rows of each in their order in ``table``. Pure."""
    partition = records.partitions_of(table.column(records.KEY).to_numpy(), partitions)
    order = np.argsort(partition, kind="stable")  # stable: rows keep their file order within a partition
    table = table.take(pa.array(order))
    counts = np.bincount(partition, minlength=partitions)
    groups = []
    start = 0
    for k in np.flatnonzero(counts):
        count = int(counts[k])
        groups.append((int(k), table.slice(start, count)))
        start += count
    return groups


class PartitionWriter:
    """The staging blob of one part: its valid rows grouped by partition, each group an Arrow IPC stream,
    so a diff reads only its partition's byte ranges and a run has one staging blob per source file."""

    def __init__(self, store: BlobStore, name: str, partitions: int) -> None:
        self._store = store
        self._name = name
        self._partitions = partitions
        self._pending: list[pa.Table] = []
        self._rows = 0
        self._offset = 0
        self._writer: BlockWriter | None = None
        self.staged = [0] * partitions
        self.ranges: dict[int, list[tuple[int, int]]] = {}

    def add(self, table: pa.Table) -> None:
        if table.num_rows:
            self._pending.append(table)
            self._rows += table.num_rows
            if self._rows >= FLUSH_ROWS:
                self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        table = pa.concat_tables(self._pending)
        self._pending, self._rows = [], 0
        if self._writer is None:
            self._writer = self._store.block_writer(self._name, threshold=4 * 1024 * 1024)
        for k, rows in by_partition(table, self._partitions):
            data = records.ipc_bytes(rows)
            self._writer.write(data)
            self.ranges.setdefault(k, []).append((self._offset, len(data)))
            self._offset += len(data)
            self.staged[k] += rows.num_rows

    def close(self) -> None:
        self._flush()
        if self._writer is not None:
            self._writer.close()


@contextmanager
def open_part(segments: BlobStore, part: PartRef) -> Iterator[BinaryIO]:
    """A stream over the part; Parquet needs random access, so it is spooled to a temp file first."""
    if part.format != "parquet":
        stream = segments.open_stream(part.blob)
        try:
            yield stream
        finally:
            stream.close()
        return
    fd, path = tempfile.mkstemp(suffix=".parquet")
    try:
        with os.fdopen(fd, "wb") as spool:
            segments.download_to_file(part.blob, spool)
        with open(path, "rb") as stream:
            yield stream
    finally:
        os.unlink(path)


def stage_part(runtime: Runtime, root: str, index: int) -> StageResult:
    """Stage part ``index`` of the run at ``root``. Idempotent: a rerun rewrites the same blobs.

    A file that cannot be exported as a whole is held back (see the module docstring); in mirror mode
    that raises SegmentFormatError instead.
    """
    plan = load_plan(runtime, root)
    part = plan.parts[index]
    try:
        return _stage(runtime, plan, index)
    except UnreadableFile as exc:
        if plan.mirror:
            raise SegmentFormatError(
                f"{exc.reason}; a mirror run cannot leave a file out (its contacts would look removed), so it "
                "stopped before sending anything",
                blob=exc.blob,
                line=exc.line,
            ) from None
        return _hold_back(runtime, plan, index, exc, part.segment)


def _hold_back(runtime: Runtime, plan: Plan, index: int, exc: UnreadableFile, segment: str) -> StageResult:
    paths = plan.paths
    runtime.store.delete(paths.stage_piece(index))  # what an earlier attempt that got further wrote
    rows = exc.records or 0
    held = HeldBackFile(segment=segment, blob=exc.blob, line=exc.line, reason=exc.reason, rows=rows)
    rejected = RejectedWriter(runtime.store, paths.rejected_piece(f"stage-s{index:05d}"))
    rejected.add(segment, exc.blob, exc.line or "", "", HELD_BACK, f"{exc.reason} ({rows} rows not exported)")
    rejected.close()
    result = StageResult(part=index, read=0, invalid=0, held_back=held)
    runtime.store.write_json(paths.stage_result(index), result.document())
    return result


def _stage(runtime: Runtime, plan: Plan, index: int) -> StageResult:
    part = plan.parts[index]
    paths = plan.paths
    attributes = plan.export.attributes()
    writer = PartitionWriter(runtime.store, paths.stage_piece(index), plan.partitions)
    rejected = RejectedWriter(runtime.store, paths.rejected_piece(f"stage-s{index:05d}"))
    read = invalid = 0
    invalid_outcome = Outcome.INVALID.value

    if part.problem is not None:  # known from discovery: do not open it
        raise UnreadableFile(part.problem, blob=part.blob, line=part.problem_line, records=0)
    with open_part(runtime.segments, part) as stream:
        try:
            for batch in read_batches(part.source(), stream, plan.export.columns()):
                read += len(batch.lines) + len(batch.errors)
                for error in batch.errors:
                    rejected.add(part.segment, part.blob, error.line, "", invalid_outcome, error.message)
                invalid += len(batch.errors)
                if not len(batch.lines):
                    continue
                cleaned = clean_batch(batch.lines, batch.columns, attributes, index)
                refused = len(cleaned.refused_lines)
                rejected.add_many(
                    [part.segment] * refused,
                    [part.blob] * refused,
                    cleaned.refused_lines,
                    cleaned.refused_emails,
                    invalid_outcome,
                    cleaned.refused_reasons,
                )
                invalid += refused
                writer.add(cleaned.staged)
        except UnreadableFile as exc:
            if exc.records is None:
                exc.records = read  # damaged part-way: the rows seen before the damage
            raise
    writer.close()
    rejected.close()
    result = StageResult(
        part=index,
        read=read,
        invalid=invalid,
        staged={k: n for k, n in enumerate(writer.staged) if n},
        ranges=writer.ranges,
    )
    runtime.store.write_json(paths.stage_result(index), result.document())
    return result
