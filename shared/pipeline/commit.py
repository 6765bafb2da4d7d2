"""Step 6b — commit: the run report, the rejected-rows file and, when changes were applied, the new
snapshot (one manifest write that points at the run's snapshot pieces, so it advances atomically)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from shared.models import OutcomeCounts, RunReport, RunStatus
from shared.pipeline.diff import DiffResult
from shared.pipeline.finish import FinishResult
from shared.pipeline.layout import snapshot_manifest
from shared.pipeline.plan import SnapshotInfo, load_plan
from shared.pipeline.stage import StageResult
from shared.runtime import Runtime


class CommitRequest(BaseModel):
    root: str
    mode: str  # applied | dry_run | blocked | failed
    errors: list[str] = Field(default_factory=list)
    finished_partitions: bool = True  # every partition's finish ran (snapshot pieces exist)


def _load_all(runtime: Runtime, names: list[str], model: type[BaseModel]) -> list:
    return [model.model_validate(runtime.store.read_json(name)[0]) for name in names]


def commit_run(runtime: Runtime, request: CommitRequest) -> RunReport:
    """Write the report (and snapshot manifest when applied). Returns the report."""
    plan = load_plan(runtime, request.root)
    paths = plan.paths
    store = runtime.store
    stages: list[StageResult] = _load_all(runtime, store.list_names(f"{plan.root}/stage/results/"), StageResult)
    diffs: list[DiffResult] = _load_all(
        runtime, [n for n in store.list_names(f"{plan.root}/diff/") if n.endswith(".json")], DiffResult
    )
    finishes: list[FinishResult] = _load_all(runtime, store.list_names(f"{plan.root}/result/"), FinishResult)

    read = sum(s.read for s in stages)
    counts = OutcomeCounts(invalid=sum(s.invalid for s in stages))
    counts.duplicate = sum(d.duplicate for d in diffs)
    counts.unchanged = sum(d.unchanged for d in diffs)
    counts.suppressed = sum(d.suppressed_known for d in diffs) + sum(f.suppressed for f in finishes)
    counts.upserted = sum(f.upserted for f in finishes)
    counts.rejected = sum(f.rejected for f in finishes)
    counts.failed = sum(f.failed for f in finishes)
    # Whatever no step accounted for (the run stopped before diff or finish) was not sent: failed.
    counts.failed += read - counts.total()

    errors = list(request.errors)
    removed = sum(f.removed for f in finishes)
    removal_failed = sum(f.removal_failed for f in finishes)
    if request.mode == "dry_run":
        status = RunStatus.DRY_RUN
    elif request.mode == "blocked":
        status = RunStatus.BLOCKED
    elif request.mode == "failed" or (errors and counts.upserted == 0 and removed == 0):
        status = RunStatus.FAILED
    elif counts.failed or removal_failed or errors:
        status = RunStatus.COMPLETED_WITH_ERRORS
    else:
        status = RunStatus.SUCCEEDED

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
        )
        store.write_json(snapshot_manifest(plan.export.id), snapshot.model_dump())
    store.write_json(paths.report, report.model_dump(mode="json"))
    store.delete_prefix(f"{plan.root}/stage/p")  # staging is large and no longer needed
    return report


def _merge_rejected(runtime: Runtime, root: str, prefix: str, target: str) -> str | None:
    """Concatenate the rejected-rows pieces (one header) into the run's file; None when empty."""
    store = runtime.store
    writer = None
    for name in store.list_names(prefix):
        data = store.read_bytes(name)
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
