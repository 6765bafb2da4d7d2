"""Step 3 — stage one source file: stream-read → map → normalise/validate → hash-partitioned staging.

This is the hot path of a run (every profile passes here once), so it works on tuples and strings,
writes each partition through a block writer, and never holds more than a few MB of one file.

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
from zlib import crc32

from pydantic import BaseModel, Field

from shared.errors import SegmentFormatError
from shared.models import HeldBackFile, Outcome
from shared.pipeline.layout import SEP
from shared.pipeline.normalise import email_problem, normalise_phone
from shared.pipeline.plan import PartRef, Plan, load_plan
from shared.pipeline.rejected import HELD_BACK, RejectedWriter
from shared.runtime import Runtime
from shared.segments import RowError, UnreadableFile, read_part
from shared.storage import BlobStore, BlockWriter

FLUSH_LINES = 4096
MALFORMED = "malformed email address"
# No vendor documents accepting internationalised addresses (vendors.md), so they are invalid rather
# than converted; it also means a look-alike (Cyrillic "а") is never merged with its ASCII twin.
NON_ASCII = "malformed email address: it has non-ASCII characters, which the vendors do not document accepting"


class StageResult(BaseModel):
    part: int
    read: int
    invalid: int
    held_back: HeldBackFile | None = None
    # Valid rows staged per partition: what commit counts as failed for a partition whose diff never
    # ran. Stored in the result blob, kept out of orchestration history.
    staged: dict[int, int] = Field(default_factory=dict, exclude=True)

    def document(self) -> dict[str, object]:
        return {**self.model_dump(mode="json"), "staged": {str(k): v for k, v in self.staged.items()}}


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


def _clean(record: str, values: tuple[str, ...], email: str, line: int) -> str:
    """The record again with line breaks and unit separators inside values replaced by spaces, so a
    value can never split a record (quoted CSV fields may hold both)."""
    cleaned = (" ".join(v.split()) if v else v for v in values[1:])
    return SEP.join((email, str(line), *(v.replace(SEP, " ") for v in cleaned)))


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
    suffix = f"/s{index:05d}.tsv"
    for name in runtime.store.list_names(f"{plan.root}/stage/p"):
        if name.endswith(suffix):  # pieces of an earlier attempt that got further
            runtime.store.delete(name)
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
    phone_at = attributes.index("phone") + 1 if "phone" in attributes else 0
    partitions = plan.partitions

    mask = partitions - 1
    separators = len(attributes) + 1
    writers: dict[int, BlockWriter] = {}
    buffers: list[list[str]] = [[] for _ in range(partitions)]
    rejected = RejectedWriter(runtime.store, paths.rejected_piece(f"stage-s{index:05d}"))
    read = invalid = 0
    staged = [0] * partitions

    def flush(k: int) -> None:
        writer = writers.get(k)
        if writer is None:
            writer = writers[k] = runtime.store.block_writer(paths.stage_piece(k, index), threshold=2 * 1024 * 1024)
        writer.write(("\n".join(buffers[k]) + "\n").encode())
        staged[k] += len(buffers[k])
        buffers[k].clear()

    if part.problem is not None:  # known from discovery: do not open it
        raise UnreadableFile(part.problem, blob=part.blob, line=part.problem_line, records=0)
    with open_part(runtime.segments, part) as stream:
        rows = read_part(part.source(), stream, plan.export.columns())
        try:
            for item in rows:
                read += 1
                if isinstance(item, RowError):
                    invalid += 1
                    rejected.add(part.segment, part.blob, item.line, "", Outcome.INVALID.value, item.message)
                    continue
                line, values = item
                email = values[0].strip().lower()
                problem = email_problem(email)
                if problem is None and phone_at and values[phone_at]:
                    phone, problem = normalise_phone(values[phone_at])
                    if problem is None:
                        values = (*values[:phone_at], phone, *values[phone_at + 1 :])
                if problem is not None:
                    invalid += 1
                    if not email.isascii() and problem == MALFORMED:
                        problem = NON_ASCII
                    rejected.add(part.segment, part.blob, line, values[0], Outcome.INVALID.value, problem)
                    continue
                k = crc32(email.encode()) & mask  # = partition_of(email, partitions), inlined: hot path
                bucket = buffers[k]
                record = SEP.join((email, str(line), *map(str.strip, values[1:])))
                if "\n" in record or "\r" in record or record.count(SEP) != separators:
                    record = _clean(record, values, email, line)
                bucket.append(record)
                if len(bucket) >= FLUSH_LINES:
                    flush(k)
        except UnreadableFile as exc:
            if exc.records is None:
                exc.records = read  # damaged part-way: the rows seen before the damage
            raise
    for k in range(partitions):
        if buffers[k]:
            flush(k)
    for writer in writers.values():
        writer.close()
    rejected.close()
    result = StageResult(part=index, read=read, invalid=invalid, staged={k: n for k, n in enumerate(staged) if n})
    runtime.store.write_json(paths.stage_result(index), result.document())
    return result
