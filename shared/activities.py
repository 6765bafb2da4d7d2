"""The activities: thin wrappers that turn JSON inputs into calls of the pipeline's plain functions.

Inputs and outputs are small (a run's blob prefix, indexes, counts): profiles never travel through
orchestration history. Errors are not swallowed here — a raised error fails the activity, and the
orchestrator decides what the run does about it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from destinations import destination_class
from shared.errors import CredentialRefused, ExportError, FieldsMissing, TargetNotFound
from shared.models import RunRequest
from shared.pipeline.apply import apply_partition, poll_jobs
from shared.pipeline.commit import CommitRequest, commit_run
from shared.pipeline.diff import diff_partition
from shared.pipeline.finish import finish_partition
from shared.pipeline.plan import make_plan
from shared.pipeline.preflight import check_destination
from shared.pipeline.stage import stage_part
from shared.runtime import get_runtime
from shared.telemetry import run_logger

_LOG = logging.getLogger("segment_export")

PLAN_RUN = "plan_run"
CHECK_DESTINATION = "check_destination"
STAGE_PART = "stage_part"
DIFF_PARTITION = "diff_partition"
APPLY_PARTITION = "apply_partition"
POLL_JOBS = "poll_jobs"
FINISH_PARTITION = "finish_partition"
COMMIT_RUN = "commit_run"


def plan_run_activity(payload: dict[str, Any]) -> dict[str, Any]:
    """Plan the run; a configuration problem is returned as ``error`` (the run ends failed, in words)."""
    runtime = get_runtime()
    request = RunRequest.model_validate(payload["request"])
    log = run_logger(request.export_id, payload["run_id"])
    try:
        plan = make_plan(
            runtime,
            request,
            run_id=payload["run_id"],
            instance_id=payload["instance_id"],
            started_at=datetime.fromisoformat(payload["started_at"]),
        )
    except ExportError as exc:
        log.warning("run not planned: %s", exc)
        return {"error": str(exc)}
    settings = runtime.settings
    log.info("planned %d source files into %d partitions, width %d", len(plan.parts), plan.partitions, plan.width)
    return {
        "root": plan.root,
        "parts": len(plan.parts),
        "partitions": plan.partitions,
        "width": plan.width,
        "mirror": plan.mirror,
        "asynchronous": destination_class(plan.connection.vendor).limits.asynchronous,
        "max_profiles": plan.export.max_profiles,
        "mass_removal_share": plan.mass_removal_share,
        "previous_profiles": plan.snapshot.profiles if plan.snapshot else 0,
        "first_poll": settings.first_poll_seconds * settings.vendor_time_scale,
        "max_poll": settings.max_poll_seconds * settings.vendor_time_scale,
    }


async def check_destination_activity(payload: dict[str, Any]) -> None:
    await check_destination(get_runtime(), payload["root"])


def stage_part_activity(payload: dict[str, Any]) -> dict[str, Any]:
    return stage_part(get_runtime(), payload["root"], payload["index"]).model_dump()


def diff_partition_activity(payload: dict[str, Any]) -> dict[str, Any]:
    return diff_partition(get_runtime(), payload["root"], payload["partition"]).model_dump()


async def apply_partition_activity(payload: dict[str, Any]) -> dict[str, Any]:
    """A failure is returned, not raised: Durable's task_all fails fast, and the orchestrator must
    not move on to finish while other partitions of the wave are still sending."""
    partition = payload["partition"]
    try:
        result = await apply_partition(get_runtime(), payload["root"], partition, removals=payload["removals"])
    except Exception as exc:
        fatal = isinstance(exc, CredentialRefused | TargetNotFound | FieldsMissing)
        message = str(exc) if isinstance(exc, ExportError) else f"partition {partition} stopped: {exc}"
        _LOG.warning("apply of partition %d failed: %s", partition, message)
        return {"partition": partition, "batches": 0, "pending_jobs": 0, "error": message, "fatal": fatal}
    return result.model_dump()


async def poll_jobs_activity(payload: dict[str, Any]) -> dict[str, Any]:
    return (await poll_jobs(get_runtime(), payload["root"])).model_dump()


def finish_partition_activity(payload: dict[str, Any]) -> dict[str, Any]:
    result = finish_partition(
        get_runtime(), payload["root"], payload["partition"], mode=payload["mode"], stop_reason=payload["stop_reason"]
    )
    return result.model_dump()


def commit_run_activity(payload: dict[str, Any]) -> dict[str, Any]:
    report = commit_run(get_runtime(), CommitRequest.model_validate(payload))
    log = run_logger(report.export_id, report.run_id)
    log.info("run %s: read %d, outcomes %s", report.status.value, report.profiles_read, report.outcomes.model_dump())
    return {
        "status": report.status.value,
        "report": payload["root"] + "/report.json",
        "profiles_read": report.profiles_read,
        "outcomes": report.outcomes.model_dump(),
        "removed": report.removed,
        "errors": report.errors,
    }


ACTIVITIES: dict[str, Any] = {
    PLAN_RUN: plan_run_activity,
    CHECK_DESTINATION: check_destination_activity,
    STAGE_PART: stage_part_activity,
    DIFF_PARTITION: diff_partition_activity,
    APPLY_PARTITION: apply_partition_activity,
    POLL_JOBS: poll_jobs_activity,
    FINISH_PARTITION: finish_partition_activity,
    COMMIT_RUN: commit_run_activity,
}
