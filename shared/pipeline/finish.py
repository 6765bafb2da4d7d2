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

from pydantic import BaseModel

from destinations.base import RowOutcome
from shared.pipeline.apply import Checkpoint, read_records, read_rows
from shared.pipeline.diff import SUPPRESSED_FLAG
from shared.pipeline.layout import SEP
from shared.pipeline.plan import load_plan
from shared.pipeline.rejected import RejectedWriter
from shared.runtime import Runtime
from shared.scrub import connection_scrubber

UPSERTED = RowOutcome.UPSERTED.value


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


def _row_outcomes(checkpoint: Checkpoint, kind: str, rows: int, stop_reason: str) -> list[tuple[str, str, str]]:
    """(outcome, reason, vendor id) for every row of ``kind``; rows in no finished batch are failed."""
    batches = checkpoint.batches(kind) or []
    expected = RowOutcome.UPSERTED.value if kind == "upserts" else RowOutcome.REMOVED.value
    ok = (expected, "", "")
    not_sent = (RowOutcome.FAILED.value, stop_reason, "")
    outcomes: list[tuple[str, str, str]] = []
    done, open_jobs = checkpoint.done(kind), checkpoint.jobs(kind)
    for index, (start, end) in enumerate(batches):
        entry = done.get(str(index))
        if entry is None:
            job = open_jobs.get(str(index))
            if job is not None:
                # Submitted, but the vendor's job never reported (waiting was given up, or it vanished
                # unnoticed): its fate is unknown, so failed — and named — never upserted.
                reason = (
                    f"the vendor's job {_job_name(job)} had not finished when the run stopped waiting for it; "
                    "the row is sent again by the next run"
                )
                outcomes.extend([(RowOutcome.FAILED.value, reason, "")] * (end - start))
                continue
            outcomes.extend([not_sent] * (end - start))
        elif not entry["bad"] and not entry["ids"]:
            outcomes.extend([ok] * (end - start))  # the usual batch: every row accepted
        else:
            bad, ids = entry["bad"], entry["ids"]
            for offset in range(end - start):
                key = str(offset)
                verdict = bad.get(key)
                vendor_id = ids.get(key, "")
                outcomes.append((verdict[0], verdict[1], vendor_id) if verdict else (expected, "", vendor_id))
    # Rows apply never cut into batches (it stopped before) are failed too.
    outcomes.extend([not_sent] * (rows - len(outcomes)))
    return outcomes


def finish_partition(runtime: Runtime, root: str, partition: int, *, mode: str, stop_reason: str) -> FinishResult:
    """Write ``snapshot/p{k}.tsv`` and the partition's rejected rows; return its counts.

    ``mode``: ``applied`` (changes were sent, perhaps partly), ``dry_run`` (count what would be sent)
    or ``not_applied`` (blocked or stopped before sending: every profile to send is ``failed``).
    """
    plan = load_plan(runtime, root)
    paths = plan.paths
    store = runtime.store
    result = FinishResult(partition=partition)
    if mode != "applied":
        result = _not_applied(runtime, root, partition, dry_run=mode == "dry_run", stop_reason=stop_reason)
        store.write_json(paths.result(partition), result.model_dump())
        return result

    checkpoint = Checkpoint(runtime, plan, partition)
    scrub = connection_scrubber(runtime.secrets, plan.connection.secret_name)
    rejected = RejectedWriter(store, paths.rejected_piece(f"finish-p{partition:03d}"), scrub)
    lines = (store.read_bytes_or_none(paths.diff_file(partition, "carry")) or b"").decode().splitlines()

    # Counted in locals: this loop runs once per profile sent, and model attributes are slow to set.
    upserted = updated = suppressed = refused = failed = removed = removal_failed = 0
    upserts = read_records(runtime, plan, partition, "upserts")
    if upserts:
        for record, (outcome, reason, vendor_id) in zip(
            upserts, _row_outcomes(checkpoint, "upserts", len(upserts), stop_reason), strict=True
        ):
            email, old_digest, new_digest, old_id, part_index, line = record.split(SEP, 6)[:6]
            vendor_id = vendor_id or old_id
            if outcome == UPSERTED:
                upserted += 1
                if old_digest:
                    updated += 1
                lines.append(SEP.join((email, new_digest, "", vendor_id)))
                continue
            part = plan.parts[int(part_index)]
            rejected.add(part.segment, part.blob, line, email, outcome, reason)
            if outcome == RowOutcome.SUPPRESSED.value:
                suppressed += 1
                lines.append(SEP.join((email, new_digest, SUPPRESSED_FLAG, vendor_id)))
                continue
            if outcome == RowOutcome.REJECTED.value:
                refused += 1
            else:
                failed += 1
            if old_digest:
                lines.append(SEP.join((email, old_digest, "", old_id)))

    removals = read_records(runtime, plan, partition, "removals")
    if removals:
        outcomes = _row_outcomes(checkpoint, "removals", len(removals), stop_reason)
        for record, (outcome, reason, _vendor_id) in zip(removals, outcomes, strict=True):
            if outcome == RowOutcome.REMOVED.value:
                removed += 1
                continue
            removal_failed += 1
            lines.append(record)
            rejected.add("", "", "", record.split(SEP, 1)[0], f"removal {outcome}", reason)

    result.upserted, result.updated, result.added = upserted, updated, upserted - updated
    result.suppressed, result.rejected, result.failed = suppressed, refused, failed
    result.removed, result.removal_failed = removed, removal_failed
    store.write_bytes(paths.snapshot_piece(partition), ("\n".join(lines) + "\n" if lines else "").encode())
    result.snapshot_entries = len(lines)
    flagged = SEP + SUPPRESSED_FLAG + SEP
    result.snapshot_active = len(lines) - sum(1 for line in lines if flagged in line)
    rejected.close()
    store.write_json(paths.result(partition), result.model_dump())
    return result


def _not_applied(runtime: Runtime, root: str, partition: int, *, dry_run: bool, stop_reason: str) -> FinishResult:
    """Counts for a run that sent nothing. A dry run reports what *would* happen; a blocked run
    reports the profiles it held back as failed, so the next run sends them."""
    plan = load_plan(runtime, root)
    result = FinishResult(partition=partition)
    upserts = read_rows(runtime, plan, partition, "upserts")
    removals = read_rows(runtime, plan, partition, "removals")
    if dry_run:
        result.upserted = len(upserts)
        result.updated = sum(1 for row in upserts if row.fields[1])
        result.added = result.upserted - result.updated
        result.removed = len(removals)
        return result
    scrub = connection_scrubber(runtime.secrets, plan.connection.secret_name)
    rejected = RejectedWriter(runtime.store, plan.paths.rejected_piece(f"finish-p{partition:03d}"), scrub)
    for row in upserts:
        part = plan.parts[int(row.fields[4])]
        rejected.add(part.segment, part.blob, row.fields[5], row.contact.email, RowOutcome.FAILED.value, stop_reason)
    rejected.close()
    result.failed = len(upserts)
    result.removal_failed = len(removals)
    return result
