"""Step 6b — commit: the run report, the rejected-rows file and, when changes were applied, the new
snapshot (one manifest write that points at the run's snapshot pieces, so it advances atomically).

Every outcome is counted from the rows themselves: a stage result counts what it read and found
invalid, a diff result what it collapsed, left unchanged or knew suppressed, a finish result what
became of each row it was given. A partition whose diff never ran counts its staged rows ``failed``,
one whose finish never ran counts its diff's rows to send ``failed`` — all retried by the next run,
none in the snapshot. If the counts then do not add up, no report is written: ``OutcomeInvariantBroken``
names the numbers.

Idempotent: a report already written for the run is returned as it is (a killed worker's commit
that is run again neither recounts nor moves the snapshot a second time).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.models import HeldBackFile, OutcomeCounts, OutcomeInvariantBroken, RunReport, RunStatus
from shared.overlap import in_order, io_pool
from shared.pipeline.diff import DiffResult
from shared.pipeline.finish import FinishResult
from shared.pipeline.layout import snapshot_manifest
from shared.pipeline.plan import Plan, SnapshotInfo, load_plan
from shared.pipeline.snapshot import FORMAT as SNAPSHOT_FORMAT
from shared.pipeline.stage import StageResult
from shared.runtime import Runtime
from shared.scrub import Scrubber, connection_scrubber, scrub_document

# Small reads in flight at once (results, checkpoints, rejected-rows pieces).
READ_WINDOW = 8


class CommitRequest(BaseModel):
    root: str
    mode: str  # applied | dry_run | blocked | failed
    errors: list[str] = Field(default_factory=list)
    finished_partitions: bool = True  # every partition's finish ran (snapshot pieces exist)


def _load_all(runtime: Runtime, names: list[str], model: type[BaseModel]) -> list[Any]:
    return [model.model_validate(document) for document in runtime.store.read_documents(names, READ_WINDOW)]


def count_outcomes(
    plan: Plan, stages: list[StageResult], diffs: list[DiffResult], finishes: list[FinishResult]
) -> tuple[int, OutcomeCounts, list[HeldBackFile]]:
    """(profiles read, outcomes, files held back), each outcome counted from rows. Raises
    OutcomeInvariantBroken when a step's counts contradict another's."""
    read = sum(s.read for s in stages)
    counts = OutcomeCounts(invalid=sum(s.invalid for s in stages))
    held = [s.held_back for s in stages if s.held_back is not None]
    staged_parts = {s.part for s in stages}
    for part in plan.parts:
        if part.index not in staged_parts:
            held.append(
                HeldBackFile(
                    segment=part.segment,
                    blob=part.blob,
                    reason="not read: the run stopped before this file was staged (see the run's errors)",
                    rows=0,
                )
            )
    by_diff = {d.partition: d for d in diffs}
    by_finish = {f.partition: f for f in finishes}
    for k in range(plan.partitions):
        diff = by_diff.get(k)
        if diff is None:
            counts.failed += sum(s.staged.get(k, 0) for s in stages)  # staged, never compared or sent
            continue
        counts.duplicate += diff.duplicate
        counts.unchanged += diff.unchanged
        counts.suppressed += diff.suppressed_known
        to_send = diff.to_add + diff.to_update
        finish = by_finish.get(k)
        if finish is None:
            counts.failed += to_send  # never finished: fate unknown, so failed and sent again
            continue
        settled = finish.upserted + finish.suppressed + finish.rejected + finish.failed
        if settled != to_send:
            raise OutcomeInvariantBroken(
                f"partition {k}: finish accounted for {settled} rows, the diff had {to_send} to send"
            )
        counts.upserted += finish.upserted
        counts.suppressed += finish.suppressed
        counts.rejected += finish.rejected
        counts.failed += finish.failed
        staged = sum(s.staged.get(k, 0) for s in stages)
        if staged and staged != diff.duplicate + diff.unchanged + diff.suppressed_known + to_send:
            raise OutcomeInvariantBroken(
                f"partition {k}: {staged} rows staged, the diff accounted for "
                f"{diff.duplicate + diff.unchanged + diff.suppressed_known + to_send}"
            )
    return read, counts, held


def run_status(
    mode: str,
    read: int,
    counts: OutcomeCounts,
    held: list[HeldBackFile],
    *,
    removed: int,
    removal_failed: int,
    errors: list[str],
) -> RunStatus:
    """``succeeded`` only when every profile reached its intended outcome and every file was read;
    ``failed`` when nothing could be delivered; ``completed_with_errors`` in between."""
    if mode == "dry_run":
        return RunStatus.DRY_RUN
    if mode == "blocked":
        return RunStatus.BLOCKED
    attempted = counts.upserted + counts.rejected + counts.failed
    delivered = counts.upserted + removed
    if mode == "failed":
        return RunStatus.FAILED
    if (held or read) and read == counts.invalid and not removed:
        return RunStatus.FAILED  # every file held back or every row invalid: nothing could be sent
    if (attempted or removal_failed) and not delivered:
        return RunStatus.FAILED  # every row to send was rejected or failed
    if counts.rejected or counts.failed or removal_failed or held or errors:
        return RunStatus.COMPLETED_WITH_ERRORS
    return RunStatus.SUCCEEDED


def commit_run(runtime: Runtime, request: CommitRequest) -> RunReport:
    """Write the report (and snapshot manifest when applied). Returns the report."""
    plan = load_plan(runtime, request.root)
    paths = plan.paths
    store = runtime.store
    existing = store.read_json_or_none(paths.report)
    if existing is not None:
        store.delete_prefix(paths.stage_pieces_prefix)
        return RunReport.model_validate(existing)
    listings = [
        io_pool().submit(store.list_names, prefix)
        for prefix in (paths.stage_results_prefix, f"{plan.root}/diff/", f"{plan.root}/result/")
    ]
    stage_names, diff_names, finish_names = (listing.result() for listing in listings)
    stages = [StageResult.from_document(document) for document in store.read_documents(stage_names, READ_WINDOW)]
    diffs: list[DiffResult] = _load_all(runtime, [n for n in diff_names if n.endswith(".json")], DiffResult)
    finishes: list[FinishResult] = _load_all(runtime, finish_names, FinishResult)

    read, counts, held = count_outcomes(plan, stages, diffs, finishes)
    scrub = connection_scrubber(runtime.secrets, plan.connection.secret_name)
    errors = [scrub(e) for e in request.errors]
    for file in held:
        where = f"{file.blob}, line {file.line}" if file.line is not None else file.blob
        errors.append(f"held back {where}: {scrub(file.reason)} ({file.rows} rows not exported; the other files were)")
    if read and read == counts.invalid:
        errors.append(f"none of the {read} profiles read is valid; see the rejected-rows file")
    removed = sum(f.removed for f in finishes)
    removal_failed = sum(f.removal_failed for f in finishes)
    status = run_status(request.mode, read, counts, held, removed=removed, removal_failed=removal_failed, errors=errors)

    rejected_blob = _merge_rejected(runtime, plan.root, paths.rejected_prefix, paths.rejected_rows)
    report = RunReport(
        export_id=plan.export.id,
        run_id=paths.run_id,
        vendor=plan.connection.vendor,
        trigger=plan.request.trigger,
        status=status,
        dry_run=request.mode == "dry_run",
        full_resync=plan.full_resync,
        started_at=plan.started_at,
        finished_at=datetime.now(UTC),
        profiles_read=read,
        outcomes=counts,
        added=sum(f.added for f in finishes),
        updated=sum(f.updated for f in finishes),
        removed=removed if request.mode != "dry_run" else 0,
        would_remove=sum(d.to_remove for d in diffs),
        removal_failed=removal_failed,
        list_size_before=sum(d.list_size for d in diffs),
        rejected_rows_blob=rejected_blob,
        held_back=[file.model_copy(update={"reason": scrub(file.reason)}) for file in held],
        errors=errors,
    )
    if request.mode in ("applied", "failed") and finishes and request.finished_partitions:
        snapshot = SnapshotInfo(
            root=plan.root,
            partitions=plan.partitions,
            profiles=sum(d.profiles for d in diffs),
            size=sum(f.snapshot_active for f in finishes),
            target=plan.export.target_key(),
            fingerprint=plan.export.fingerprint(),
            started_at=plan.started_at,
            format=SNAPSHOT_FORMAT,
        )
        store.write_json(snapshot_manifest(plan.export.id), snapshot.model_dump())
    _scrub_checkpoints(runtime, plan.root, scrub)
    # The report is written last: it is the mark that the commit is complete (see the docstring).
    store.write_json(paths.report, report.model_dump(mode="json"))
    store.delete_prefix(paths.stage_pieces_prefix)  # staging is large and no longer needed
    return report


def _scrub_checkpoints(runtime: Runtime, root: str, scrub: Scrubber) -> None:
    """Apply checkpoints keep what vendors answered (job verdicts, reasons); once the run is committed
    they are only read again by a repeated finish, which needs their counts, not their wording. So
    any that quote the credential are rewritten scrubbed."""
    store = runtime.store
    names = store.list_names(f"{root}/apply/")
    for name, data in zip(names, in_order(store.read_bytes, names, window=READ_WINDOW), strict=True):
        if scrub.leaks(data.decode(errors="replace")):
            store.write_json(name, scrub_document(json.loads(data), scrub))


def _merge_rejected(runtime: Runtime, root: str, prefix: str, target: str) -> str | None:
    """Concatenate the rejected-rows pieces (one header) into the run's file; None when empty."""
    store = runtime.store
    writer = None
    for data in in_order(store.read_bytes, store.list_names(prefix), window=READ_WINDOW):
        header, _, body = data.partition(b"\n")
        if not body:
            continue
        if writer is None:
            writer = store.block_writer(target)
            writer.write(header + b"\n")
        writer.write(body)
    if writer is None:
        return None
    writer.close()
    return target
