"""Step 4a — diff one partition: dedupe across all segments, compare with the last snapshot.

Outputs, all under ``diff/p{k}.*`` (Arrow IPC, schemas in ``shared.pipeline.records``):
- ``changes``  profiles to send, with the old hash (null for a new contact) and the vendor id known;
- ``removals`` snapshot entries of contacts that left every segment (mirror mode);
- ``carry``    snapshot entries that stay as they are whatever the vendor answers.
Nothing is sent here, so the mass-removal guard and dry runs decide before anything reaches a vendor.

``compare`` is the pure step (tables in, tables and counts out); ``diff_partition`` is its storage shell.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from shared.outcomes import Outcome
from shared.overlap import Background, io_pool
from shared.pipeline import records
from shared.pipeline.plan import Plan, load_plan
from shared.pipeline.rejected import RejectedWriter
from shared.pipeline.snapshot import active, read_snapshot
from shared.pipeline.stage import StageResult
from shared.runtime import Runtime
from shared.storage import BlobStore


class DiffResult(BaseModel):
    partition: int
    profiles: int = 0  # unique valid profiles in this partition
    duplicate: int = 0
    unchanged: int = 0
    suppressed_known: int = 0
    to_add: int = 0
    to_update: int = 0
    to_remove: int = 0
    list_size: int = 0  # snapshot entries we believe are active in the vendor list


@dataclass(slots=True)
class Comparison:
    """What ``compare`` decided for one partition."""

    changes: pa.Table
    removals: pa.Table
    carry: pa.Table
    result: DiffResult
    # Rows of the staged table that are not sent, for the rejected-rows file: each duplicate row with the
    # row whose email came first (n × 2), and the rows of contacts the vendor refused before.
    duplicates: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    suppressed_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def first_occurrences(emails: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(whether each row is the first with its email, the first row of each row's email).

    ``dictionary_encode`` numbers emails in order of first appearance, so the first row of code c is the
    smallest index holding c: first occurrence wins, across segments, in part and line order."""
    if isinstance(emails, pa.ChunkedArray):
        emails = emails.combine_chunks()
    codes = np.asarray(pc.dictionary_encode(emails).indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    # Codes appear in increasing order: a row is a first exactly when its code exceeds every code before it
    # (one pass, no sort), and the first row of code c is the c-th first.
    seen = np.maximum.accumulate(codes) if len(codes) else codes
    is_first = np.empty(len(codes), dtype=bool)
    if len(codes):
        is_first[0] = True
        is_first[1:] = codes[1:] > seen[:-1]
    first_row = np.flatnonzero(is_first)[codes]
    return is_first, first_row


def compare(staged: pa.Table, old: pa.Table, *, attributes: list[str], full: bool, mirror: bool) -> Comparison:
    """Dedupe ``staged`` (records.staged_schema, in part and line order) and compare it with the
    snapshot entries ``old`` of the same partition. Pure."""
    result = DiffResult(partition=-1)
    staged, old = staged.combine_chunks(), old.combine_chunks()
    is_first, first_row = first_occurrences(staged.column(records.EMAIL))
    duplicate_rows = np.flatnonzero(~is_first)
    duplicates = np.stack([duplicate_rows, first_row[duplicate_rows]], axis=1).astype(np.int64)
    firsts = np.flatnonzero(is_first)
    current = staged.take(pa.array(firsts))
    result.duplicate = len(duplicate_rows)
    result.profiles = current.num_rows
    result.list_size = active(old)

    at = pc.index_in(current.column(records.EMAIL), value_set=old.column(records.EMAIL))
    known = np.asarray(at.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    old_rows = old.take(at)  # nulls where the snapshot does not know the email
    old_suppressed = np.asarray(
        pc.fill_null(old_rows.column(records.SUPPRESSED), False).to_numpy(zero_copy_only=False), dtype=bool
    )
    old_hash = old_rows.column(records.HASH)
    same = np.asarray(
        pc.fill_null(pc.equal(old_hash, current.column(records.HASH)), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    suppressed = known & old_suppressed  # even a full resync never pushes a suppressed contact again
    unchanged = known & ~old_suppressed & same & (not full)
    send = ~(suppressed | unchanged)
    result.suppressed_known = int(suppressed.sum())
    result.unchanged = int(unchanged.sum())
    result.to_update = int((send & known).sum())
    result.to_add = int((send & ~known).sum())

    send_mask = pa.array(send)
    sent = current.filter(send_mask)
    vendor_ids = pc.fill_null(old_rows.column(records.VENDOR_ID).filter(send_mask), "")
    changes = pa.Table.from_arrays(
        [
            sent.column(records.EMAIL),
            sent.column(records.KEY),
            sent.column(records.HASH),
            old_hash.filter(send_mask),
            vendor_ids,
            sent.column(records.PART),
            sent.column(records.LINE),
            *(sent.column(c) for c in records.attribute_columns(attributes)),
        ],
        schema=records.change_schema(attributes),
    )
    kept = old_rows.filter(pa.array(suppressed | unchanged))
    # The snapshot entries no current row matched (``index_in`` gives each current row its entry, so no
    # second hash pass over the emails is needed; a snapshot holds each email once, as finish writes it).
    matched = np.zeros(old.num_rows, dtype=bool)
    matched[np.asarray(at.drop_null().to_numpy(zero_copy_only=False), dtype=np.int64)] = True
    left = old.filter(pa.array(~matched))
    if mirror:
        left_suppressed = left.column(records.SUPPRESSED)
        removals = left.filter(pc.invert(left_suppressed))  # refused contacts are not members: nothing to remove
        carry = kept
    else:
        removals = records.empty(records.SNAPSHOT_SCHEMA)
        carry = pa.concat_tables([kept, left])  # upsert mode never removes
    result.to_remove = removals.num_rows
    suppressed_rows = firsts[suppressed].astype(np.int64)
    return Comparison(
        changes=changes,
        removals=removals.cast(records.SNAPSHOT_SCHEMA),
        carry=carry.cast(records.SNAPSHOT_SCHEMA),
        result=result,
        duplicates=duplicates,
        suppressed_rows=suppressed_rows,
    )


@functools.lru_cache(maxsize=4096)
def _stage_result(store: BlobStore, name: str, etag: str) -> StageResult:
    """A stage result as of ``etag``: the diffs of a run running in one worker read each once, not once
    per partition (a changed blob has another ETag, so a rewritten result is never served stale)."""
    return StageResult.from_document(store.read_json(name)[0])


def read_staged(store: BlobStore, plan: Plan, partition: int) -> pa.Table:
    """Every part's staged rows of ``partition``, in part order (the order first-occurrence needs)."""
    paths = plan.paths
    results = [_stage_result(store, name, etag) for name, etag in store.list_etags(paths.stage_results_prefix).items()]
    ranges = [
        (paths.stage_piece(result.part), offset, length)
        for result in sorted(results, key=lambda r: r.part)
        for offset, length in result.ranges.get(partition, [])
    ]
    tables = [records.read_ipc(data) for data in store.read_ranges(ranges)]
    schema = records.staged_schema(plan.export.attributes())
    return pa.concat_tables(tables).cast(schema) if tables else records.empty(schema)


def read_diff(store: BlobStore, plan: Plan, partition: int, kind: str) -> pa.Table:
    """One of the diff's outputs (``changes``, ``removals``, ``carry``)."""
    schema = records.change_schema(plan.export.attributes()) if kind == "changes" else records.SNAPSHOT_SCHEMA
    data = store.read_bytes_or_none(plan.paths.diff_file(partition, kind))
    return records.read_ipc(data).cast(schema) if data else records.empty(schema)


def write_rejected(rejected: RejectedWriter, plan: Plan, staged: pa.Table, found: Comparison) -> None:
    """The rows ``found`` does not send: each duplicate with the row whose email came first, each contact
    the vendor refused before. Built a column at a time (a run can have tens of thousands of duplicates)."""
    segments = pa.array([p.segment for p in plan.parts], pa.string())
    blobs = pa.array([p.blob for p in plan.parts], pa.string())
    parts = staged.column(records.PART).combine_chunks()
    lines = staged.column(records.LINE).combine_chunks()
    emails = staged.column(records.EMAIL).combine_chunks()

    def rows(at: np.ndarray) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
        taken = pa.array(at, pa.int64())
        part = parts.take(taken)
        return segments.take(part), blobs.take(part), lines.take(taken), emails.take(taken)

    if len(found.duplicates):
        segment, blob, line, email = rows(found.duplicates[:, 0])
        _, first_blob, first_line, _ = rows(found.duplicates[:, 1])
        reasons = pc.binary_join_element_wise("same email as ", first_blob, " line ", first_line.cast(pa.string()), "")
        rejected.add_many(segment, blob, line, email, Outcome.DUPLICATE.value, reasons)
    if len(found.suppressed_rows):
        refused = (
            f"{plan.connection.vendor} refused this contact earlier (unsubscribed, bounced or blocklisted); "
            "it is not sent again"
        )
        segment, blob, line, email = rows(found.suppressed_rows)
        rejected.add_many(segment, blob, line, email, Outcome.SUPPRESSED.value, [refused] * len(email))


def diff_partition(runtime: Runtime, root: str, partition: int) -> DiffResult:
    """Diff partition ``partition`` of the run at ``root``. Idempotent (rewrites its outputs)."""
    plan = load_plan(runtime, root)
    paths = plan.paths
    store = runtime.store
    # The snapshot downloads while the staged pieces are read and decoded.
    snapshot = io_pool().submit(read_snapshot, runtime, plan, partition)
    staged = read_staged(store, plan, partition)
    old = snapshot.result()
    found = compare(staged, old, attributes=plan.export.attributes(), full=plan.full_resync, mirror=plan.mirror)
    found.result.partition = partition

    rejected = RejectedWriter(store, paths.rejected_piece(f"diff-p{partition:03d}"))
    if len(found.duplicates) or len(found.suppressed_rows):
        write_rejected(rejected, plan, staged, found)
    # The outputs upload side by side; the result document, which says the diff is done, goes last.
    uploads = Background()
    for kind, table in (("changes", found.changes), ("removals", found.removals), ("carry", found.carry)):
        uploads.submit(store.write_bytes, paths.diff_file(partition, kind), records.ipc_bytes(table))
    rejected.close()
    uploads.wait()
    store.write_json(paths.diff_file(partition, "json"), found.result.model_dump())
    return found.result
