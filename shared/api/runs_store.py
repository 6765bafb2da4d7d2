"""Runs as the API shows them: from the run's blobs (plan, step results, report) and the durable status.

A run id is the orchestrator's (``{started:%Y%m%dT%H%M%S}-{uuid8}``), so ids sort by start time. The
orchestration instance is ``export-{id}`` (one active run per export); ``current`` names the run that
instance is on, which has no id until its plan is written.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from azure.storage.blob import BlobPrefix

from shared.api.schemas import Progress, RunLinks, RunView
from shared.models import OutcomeCounts, RunReport, RunStatus
from shared.orchestration.names import instance_id_for
from shared.pipeline.layout import RunPaths
from shared.scheduler import ACTIVE  # Suspended counts: the instance still holds the export's one run
from shared.storage import BlobStore

RUN_ID = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{8}$")


def run_link(export_id: str, run_id: str | None) -> str:
    return f"/api/exports/{export_id}/runs/{run_id or 'current'}"


async def runtime_status(client: Any, export_id: str) -> tuple[str | None, Any]:
    """The instance's runtime status name ("Running", ...) or None when there is no instance."""
    status = await client.get_status(instance_id_for(export_id))
    value = getattr(getattr(status, "runtime_status", None), "value", None)
    return (str(value) if value else None), status


def run_ids(store: BlobStore, export_id: str) -> list[str]:
    """Every run of the export on record, newest first."""
    prefix = f"runs/{export_id}/"
    found = []
    for item in store.container.walk_blobs(name_starts_with=prefix, delimiter="/"):
        if isinstance(item, BlobPrefix):
            run_id = item.name.removeprefix(prefix).rstrip("/")
            if RUN_ID.match(run_id):
                found.append(run_id)
    return _newest_first(store, export_id, found)


def _newest_first(store: BlobStore, export_id: str, ids: list[str]) -> list[str]:
    """Ids carry their start to the second; runs started within the same second are ordered by their
    plan's start time (the id's random suffix says nothing of order)."""
    seconds: dict[str, list[str]] = {}
    for run_id in ids:
        seconds.setdefault(run_id[:15], []).append(run_id)

    def started(run_id: str) -> str:
        plan = store.read_json_or_none(RunPaths(export_id, run_id).plan) or {}
        return str(plan.get("started_at") or "")

    ordered: list[str] = []
    for second in sorted(seconds, reverse=True):
        group = seconds[second]
        ordered.extend(sorted(group, key=started, reverse=True) if len(group) > 1 else group)
    return ordered


def _count(store: BlobStore, prefix: str, suffix: str = ".json") -> int:
    return sum(1 for name in store.list_names(prefix) if name.endswith(suffix))


def read_report(store: BlobStore, export_id: str, run_id: str) -> RunReport | None:
    document = store.read_json_or_none(RunPaths(export_id, run_id).report)
    return RunReport.model_validate(document) if document is not None else None


def view_of(store: BlobStore, export_id: str, run_id: str, runtime: str | None, is_current: bool) -> RunView | None:
    """The run's view, or None when nothing of it is stored."""
    paths = RunPaths(export_id, run_id)
    report = read_report(store, export_id, run_id)
    links = RunLinks(self=run_link(export_id, run_id))
    if report is not None:
        if report.rejected_rows_blob:
            links.rejected_rows = run_link(export_id, run_id) + "/rejected-rows"
        return RunView(
            export_id=export_id,
            run_id=run_id,
            status=report.status.value,
            step="done",
            trigger=report.trigger.value,
            dry_run=report.dry_run,
            full_resync=report.full_resync,
            started_at=report.started_at,
            finished_at=report.finished_at,
            profiles_read=report.profiles_read,
            outcomes=report.outcomes,
            added=report.added,
            updated=report.updated,
            removed=report.removed,
            would_remove=report.would_remove,
            errors=report.errors,
            links=links,
        )
    plan = store.read_json_or_none(paths.plan)
    if plan is None:
        return None
    parts = len(plan.get("parts") or [])
    partitions = int(plan.get("partitions") or 0)
    progress = Progress(
        parts=parts,
        staged=_count(store, f"{paths.root}/stage/results/"),
        partitions=partitions,
        diffed=_count(store, f"{paths.root}/diff/"),
        finished=_count(store, f"{paths.root}/result/"),
    )
    request = plan.get("request") or {}
    active = is_current and runtime in ACTIVE
    if active:
        status = "pending" if runtime == "Pending" else "running"
        errors: list[str] = []
    elif is_current and runtime == "Terminated":
        status, errors = "cancelled", ["the run was terminated"]
    else:
        status, errors = "failed", ["the run stopped before writing its report"]
    if progress.staged < parts:
        step = "checking" if progress.staged == 0 else "staging"
    elif progress.diffed < partitions:
        step = "comparing"
    elif progress.finished < partitions:
        step = "sending"
    else:
        step = "committing"
    return RunView(
        export_id=export_id,
        run_id=run_id,
        status=status,  # type: ignore[arg-type]
        step=step if active else "done",  # type: ignore[arg-type]
        progress=progress,
        trigger=request.get("trigger"),
        dry_run=bool(request.get("dry_run")),
        full_resync=bool(plan.get("full_resync")),
        started_at=plan.get("started_at"),
        errors=errors,
        links=links,
    )


def starting_view(export_id: str, runtime: str | None, output: Any) -> RunView:
    """The current run before its plan exists, or one that failed before planning (no blobs at all)."""
    if runtime in ACTIVE:
        return RunView(
            export_id=export_id,
            run_id=None,
            status="pending" if runtime == "Pending" else "running",
            step="planning" if runtime == "Running" else "starting",
            links=RunLinks(self=run_link(export_id, None)),
        )
    errors: list[str] = []
    run_id = None
    if isinstance(output, dict):
        run_id = output.get("run_id") if isinstance(output.get("run_id"), str) else None
        errors = [str(e) for e in output.get("errors") or []][:20]
    return RunView(
        export_id=export_id,
        run_id=run_id if run_id and RUN_ID.match(run_id) else None,
        status="cancelled" if runtime == "Terminated" else "failed",
        step="done",
        errors=errors or ["the run stopped before it was planned"],
        links=RunLinks(self=run_link(export_id, None)),
    )


def write_cancelled_report(store: BlobStore, export_id: str, run_id: str, by: str) -> bool:
    """Close a terminated run with a ``cancelled`` report (nothing committed: the snapshot manifest is
    written only by the commit step, which a terminated run never reaches). False if it had a report."""
    paths = RunPaths(export_id, run_id)
    if store.exists(paths.report):
        return False
    plan = store.read_json_or_none(paths.plan)
    if plan is None:
        return False
    request = plan.get("request") or {}
    report = RunReport(
        export_id=export_id,
        run_id=run_id,
        vendor=(plan.get("connection") or {}).get("vendor", "unknown"),
        trigger=request.get("trigger", "on_demand"),
        status=RunStatus.CANCELLED,
        dry_run=bool(request.get("dry_run")),
        full_resync=bool(plan.get("full_resync")),
        started_at=plan.get("started_at") or datetime.now(UTC),
        finished_at=datetime.now(UTC),
        profiles_read=0,
        outcomes=OutcomeCounts(),
        errors=[f"cancelled by {by}; nothing was committed and the next run starts from the previous snapshot"],
    )
    store.write_json(paths.report, report.model_dump(mode="json"))
    return True
