"""Step 3 — stage one source file: stream-read → map → normalise/validate → hash-partitioned staging.

This is the hot path of a run (every profile passes here once), so it works on tuples and strings,
writes each partition through a block writer, and never holds more than a few MB of one file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO
from zlib import crc32

from pydantic import BaseModel

from shared.models import Outcome
from shared.pipeline.layout import SEP
from shared.pipeline.normalise import email_problem, normalise_phone
from shared.pipeline.plan import PartRef, load_plan
from shared.pipeline.rejected import RejectedWriter
from shared.runtime import Runtime
from shared.segments import RowError, read_part
from shared.storage import BlobStore, BlockWriter

FLUSH_LINES = 4096


class StageResult(BaseModel):
    part: int
    read: int
    invalid: int


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

    Raises SegmentFormatError when the file cannot be read at all (e.g. the email column is missing).
    """
    plan = load_plan(runtime, root)
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

    def flush(k: int) -> None:
        writer = writers.get(k)
        if writer is None:
            writer = writers[k] = runtime.store.block_writer(paths.stage_piece(k, index), threshold=2 * 1024 * 1024)
        writer.write(("\n".join(buffers[k]) + "\n").encode())
        buffers[k].clear()

    with open_part(runtime.segments, part) as stream:
        for item in read_part(part.source(), stream, plan.export.columns()):
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
    for k in range(partitions):
        if buffers[k]:
            flush(k)
    for writer in writers.values():
        writer.close()
    rejected.close()
    result = StageResult(part=index, read=read, invalid=invalid)
    runtime.store.write_json(paths.stage_result(index), result.model_dump())
    return result
