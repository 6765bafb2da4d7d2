"""Step 6a — finish one partition: per-row outcomes from the checkpoint, the candidate snapshot piece.

The snapshot piece advances only for what the vendor accepted: an upsert that failed or was rejected
keeps the contact's previous entry (or none), a removal that failed keeps the contact. Rows the run
never got to (it stopped early) are ``failed`` and will be sent by the next run.

Idempotent: everything is derived from the diff files and the apply checkpoint, and every output
(result, snapshot piece, rejected-rows piece) is rewritten whole, so finishing a partition again after
a killed worker gives the same blobs and counts nothing twice. Reasons may quote a vendor, so they
are scrubbed of the connection's credential before they are stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from destinations.base import Outcome
from shared.overlap import io_pool
from shared.pipeline import records, snapshot
from shared.pipeline.apply import Checkpoint, expected_outcome
from shared.pipeline.cut import BatchCut, load_cut
from shared.pipeline.diff import read_diff
from shared.pipeline.plan import Plan, load_plan
from shared.pipeline.rejected import RejectedWriter
from shared.runtime import Runtime
from shared.scrub import connection_scrubber


class FinishResult(BaseModel):
    partition: int
    upserted: int = 0
    added: int = 0
    updated: int = 0
    suppressed: int = 0
    rejected: int = 0
    failed: int = 0
    removed: int = 0
    removal_failed: int = 0
    snapshot_entries: int = 0
    snapshot_active: int = 0


def _job_name(job: dict[str, Any]) -> str:
    """The vendor's id of a job as stored in the checkpoint (``job_id``, ``process_id``, ``batch_id`` …)."""
    for key, value in job.items():
        if key.endswith("id") and isinstance(value, str | int):
            return str(value)
    return "(no id)"


class RowOutcomes:
    """What became of each row of one partition's changes (or removals): the expected outcome unless a
    batch said otherwise. Only the exceptions are Python objects; the rest is one array."""

    def __init__(self, rows: int, expected: Outcome) -> None:
        self.ok = np.ones(rows, dtype=bool)
        self.expected = expected
        self.verdicts: dict[int, tuple[str, str]] = {}  # row → (outcome, reason) for rows not ok
        self.vendor_ids: dict[int, str] = {}

    def set(self, row: int, outcome: str, reason: str) -> None:
        if outcome != self.expected.value:
            self.ok[row] = False
            self.verdicts[row] = (outcome, reason)

    def fail_range(self, start: int, end: int, reason: str) -> None:
        for row in range(start, end):
            self.set(row, Outcome.FAILED.value, reason)


def row_outcomes(
    runtime: Runtime, plan: Plan, cut: BatchCut | None, kind: str, partition: int, rows: int, stop_reason: str
) -> RowOutcomes:
    """Per-row outcomes of ``kind`` in ``partition`` from the checkpoints of the units that sent them.
    Rows in no finished batch are failed (never sent, or a job that never reported)."""
    outcomes = RowOutcomes(rows, expected_outcome(kind))
    if cut is None:
        outcomes.fail_range(0, rows, stop_reason)  # apply never cut the batches: nothing was sent
        return outcomes
    start = cut.offsets[kind][partition]
    checkpoints: dict[int, Checkpoint] = {}
    for batch in cut.batches_of_partition(kind, partition):
        unit = cut.unit_of(kind, batch)
        if unit not in checkpoints:
            checkpoints[unit] = Checkpoint(runtime, plan, unit)
        checkpoint = checkpoints[unit]
        first, end = cut.rows_of(kind, batch)
        low, high = max(first, start), min(end, start + rows)  # this partition's rows of the batch
        entry = checkpoint.done.get(str(batch))
        if entry is None:
            job = checkpoint.jobs.get(str(batch))
            if job is not None:
                # Submitted, but the vendor's job never reported (waiting was given up, or it vanished
                # unnoticed): its fate is unknown, so failed — and named — never upserted.
                reason = (
                    f"the vendor's job {_job_name(job)} had not finished when the run stopped waiting for it; "
                    "the row is sent again by the next run"
                )
                outcomes.fail_range(low - start, high - start, reason)
            else:
                outcomes.fail_range(low - start, high - start, stop_reason)
            continue
        for offset, (outcome, reason) in entry["bad"].items():
            at = first + int(offset)
            if low <= at < high:
                outcomes.set(at - start, outcome, reason)
        for offset, vendor_id in entry["ids"].items():
            at = first + int(offset)
            if low <= at < high:
                outcomes.vendor_ids[at - start] = vendor_id
    return outcomes


def finish_partition(runtime: Runtime, root: str, partition: int, *, mode: str, stop_reason: str) -> FinishResult:
    """Write the partition's snapshot piece and rejected rows; return its counts.

    ``mode``: ``applied`` (changes were sent, perhaps partly), ``dry_run`` (count what would be sent)
    or ``not_applied`` (blocked or stopped before sending: every profile to send is ``failed``).
    """
    plan = load_plan(runtime, root)
    paths = plan.paths
    store = runtime.store
    # The diff's three outputs download side by side (the carried entries are needed only if applied).
    reads = {
        kind: io_pool().submit(read_diff, store, plan, partition, kind) for kind in ("changes", "removals", "carry")
    }
    changes, removals = reads["changes"].result(), reads["removals"].result()
    if mode != "applied":
        result = _not_applied(runtime, plan, partition, changes, removals, dry_run=mode == "dry_run", why=stop_reason)
        store.write_json(paths.result(partition), result.model_dump())
        return result

    cut = load_cut(runtime, plan)
    scrub = connection_scrubber(runtime.secrets, plan.connection.secret_name)
    rejected = RejectedWriter(store, paths.rejected_piece(f"finish-p{partition:03d}"), scrub)
    result = FinishResult(partition=partition)
    pieces = [reads["carry"].result()]

    sent = row_outcomes(runtime, plan, cut, "changes", partition, changes.num_rows, stop_reason)
    old_known = changes.column(records.OLD_HASH).is_valid()
    vendor_ids = changes.column(records.VENDOR_ID)
    if sent.vendor_ids:
        rows = sorted(sent.vendor_ids)
        mask = np.zeros(changes.num_rows, dtype=bool)
        mask[rows] = True
        vendor_ids = pc.replace_with_mask(
            vendor_ids.combine_chunks(), pa.array(mask), pa.array([sent.vendor_ids[r] for r in rows], pa.string())
        )
    upserted = pa.array(sent.ok)
    result.upserted = int(sent.ok.sum())
    result.updated = int(pc.sum(pc.and_(upserted, old_known).cast(pa.int64())).as_py() or 0)
    result.added = result.upserted - result.updated
    entries = pa.Table.from_arrays(
        [
            changes.column(records.EMAIL),
            changes.column(records.KEY),
            changes.column(records.HASH),
            pa.array(np.zeros(changes.num_rows, dtype=bool)),
            vendor_ids,
        ],
        schema=records.SNAPSHOT_SCHEMA,
    )
    pieces.append(entries.filter(upserted))
    if sent.verdicts:
        pieces.append(_settle_refused(plan, changes, vendor_ids, sent, rejected, result))

    gone = row_outcomes(runtime, plan, cut, "removals", partition, removals.num_rows, stop_reason)
    result.removed = int(gone.ok.sum())
    result.removal_failed = removals.num_rows - result.removed
    if result.removal_failed:
        pieces.append(removals.filter(pa.array(~gone.ok)))  # still members: they stay in the snapshot
        emails = removals.column(records.EMAIL)
        for row, (outcome, reason) in sorted(gone.verdicts.items()):
            rejected.add("", "", "", emails[row].as_py(), f"removal {outcome}", reason)

    table = pa.concat_tables([p.cast(records.SNAPSHOT_SCHEMA) for p in pieces])
    snapshot.write_piece(runtime, plan, partition, table)
    result.snapshot_entries = table.num_rows
    result.snapshot_active = snapshot.active(table)
    rejected.close()
    store.write_json(paths.result(partition), result.model_dump())
    return result


def _settle_refused(
    plan: Plan,
    changes: pa.Table,
    vendor_ids: pa.Array,
    sent: RowOutcomes,
    rejected: RejectedWriter,
    result: FinishResult,
) -> pa.Table:
    """The rows the vendor did not accept: each into the rejected-rows file and its count; the snapshot
    keeps a suppressed contact flagged (never sent again) and a known contact as it was before."""
    rows = sorted(sent.verdicts)
    taken = changes.take(pa.array(rows, pa.int64()))
    new_ids = vendor_ids.take(pa.array(rows, pa.int64())).to_pylist()
    kept: list[dict[str, Any]] = []
    for row, entry, new_id in zip(rows, taken.to_pylist(), new_ids, strict=True):
        outcome, reason = sent.verdicts[row]
        part = plan.parts[entry[records.PART]]
        rejected.add(part.segment, part.blob, entry[records.LINE], entry[records.EMAIL], outcome, reason)
        snapshot_entry = {records.EMAIL: entry[records.EMAIL], records.KEY: entry[records.KEY]}
        if outcome == Outcome.SUPPRESSED.value:
            result.suppressed += 1
            kept.append(
                {
                    **snapshot_entry,
                    records.HASH: entry[records.HASH],
                    records.SUPPRESSED: True,
                    records.VENDOR_ID: new_id,
                }
            )
            continue
        if outcome == Outcome.REJECTED.value:
            result.rejected += 1
        else:
            result.failed += 1
        if entry[records.OLD_HASH] is not None:  # the vendor still holds what the last run sent
            kept.append(
                {
                    **snapshot_entry,
                    records.HASH: entry[records.OLD_HASH],
                    records.SUPPRESSED: False,
                    records.VENDOR_ID: entry[records.VENDOR_ID],
                }
            )
    return pa.Table.from_pylist(kept, schema=records.SNAPSHOT_SCHEMA)


def _not_applied(
    runtime: Runtime, plan: Plan, partition: int, changes: pa.Table, removals: pa.Table, *, dry_run: bool, why: str
) -> FinishResult:
    """Counts for a run that sent nothing. A dry run reports what *would* happen; a blocked run
    reports the profiles it held back as failed, so the next run sends them."""
    result = FinishResult(partition=partition)
    if dry_run:
        result.upserted = changes.num_rows
        result.updated = changes.num_rows - changes.column(records.OLD_HASH).null_count
        result.added = result.upserted - result.updated
        result.removed = removals.num_rows
        return result
    scrub = connection_scrubber(runtime.secrets, plan.connection.secret_name)
    rejected = RejectedWriter(runtime.store, plan.paths.rejected_piece(f"finish-p{partition:03d}"), scrub)
    emails = changes.column(records.EMAIL).to_pylist()
    parts = changes.column(records.PART).to_pylist()
    lines = changes.column(records.LINE).to_pylist()
    for email, part_index, line in zip(emails, parts, lines, strict=True):
        part = plan.parts[part_index]
        rejected.add(part.segment, part.blob, line, email, Outcome.FAILED.value, why)
    rejected.close()
    result.failed = changes.num_rows
    result.removal_failed = removals.num_rows
    return result
