"""The activities: thin wrappers that turn the Durable extension's JSON input into calls of the
pipeline's plain functions, inside a span and a logger that carry the export and run ids.

Two kinds of failure, handled differently on purpose:
- a *verdict* — the configuration is wrong, the vendor refused the credential, the list is gone — is
  deterministic: retrying changes nothing. It comes back as data (``{"refused": message, "fatal": …}``)
  and the orchestrator stops the run with that message;
- a *fault* — storage unreachable, the vendor still answering 5xx after the adapter's own retries, a
  worker killed — is raised, so the Durable extension retries the activity (``call_activity_with_retry``).
  Every activity is idempotent: a retried one skips what its checkpoints show as done.

The wrappers' parameter is annotated with the bare ``dict``: the Functions worker refuses a
parametrised annotation such as ``dict[str, Any]`` on a binding ("binding payload has invalid
non-type annotation", azure-functions-durable-python#468), and then loads no function at all.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from destinations import destination_class
from shared import telemetry
from shared.errors import CredentialRefused, ExportError, FieldsMissing, TargetNotFound
from shared.models import OutcomeCounts, RunReport, RunRequest, RunStatus
from shared.orchestration.names import (
    APPLY_BATCHES,
    CHECK_DESTINATION,
    COMMIT_RUN,
    CUT_BATCHES,
    DIFF_PARTITION,
    FINISH_PARTITION,
    PLAN_RUN,
    POLL_JOBS,
    READ_SUPPRESSIONS,
    REPORT_UNPLANNED,
    STAGE_PART,
)
from shared.pipeline.apply import apply_unit, poll_jobs
from shared.pipeline.commit import CommitRequest, commit_run
from shared.pipeline.cut import cut_run
from shared.pipeline.diff import diff_partition
from shared.pipeline.finish import finish_partition
from shared.pipeline.layout import RunPaths
from shared.pipeline.plan import make_plan
from shared.pipeline.preflight import check_destination, read_run_suppressions
from shared.pipeline.stage import stage_part
from shared.runtime import Runtime, get_runtime

# The worker accepts only a plain type here (see the module docstring).
Payload = dict
# Apply and poll stop starting vendor calls at this share of the activity budget: the batches already in
# flight (paced by the vendor's rate limit) finish inside the rest.
BUDGET_SHARE_FOR_STARTING = 0.8


def _deadline(runtime: Any) -> float:
    """When apply or poll stops starting vendor calls (``time.monotonic()``). The budget is in vendor
    time, like every other duration (simulations run it scaled)."""
    settings = runtime.settings
    return time.monotonic() + BUDGET_SHARE_FOR_STARTING * settings.activity_budget_seconds * settings.vendor_time_scale


FATAL = (CredentialRefused, TargetNotFound, FieldsMissing)


def _verdict(exc: ExportError) -> dict[str, Any]:
    return {"refused": str(exc), "fatal": isinstance(exc, FATAL)}


def plan_run_activity(payload: Payload) -> dict[str, Any]:
    """Plan the run. A configuration problem is a verdict (``refused``); storage faults raise."""
    request = RunRequest.model_validate(payload["request"])
    with telemetry.activity_span(PLAN_RUN, request.export_id, payload["run_id"]) as log:
        try:
            runtime = get_runtime()
            plan = make_plan(
                runtime,
                request,
                run_id=payload["run_id"],
                instance_id=payload["instance_id"],
                started_at=datetime.fromisoformat(payload["started_at"]),
            )
        except ExportError as exc:
            if exc.retryable:
                raise
            log.warning("run not planned: %s", exc)
            return _verdict(exc)
        settings = runtime.settings
        log.info("planned %d source files into %d partitions, width %d", len(plan.parts), plan.partitions, plan.width)
        return {
            "root": plan.root,
            "vendor": plan.connection.vendor,
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
            "give_up_seconds": settings.poll_give_up_seconds * settings.vendor_time_scale,
            "retry": {
                "attempts": settings.activity_retry_attempts,
                "interval_ms": int(settings.activity_retry_interval_seconds * 1000),
            },
        }


def report_unplanned_activity(payload: Payload) -> dict[str, Any]:
    """The report of a run that could not even be planned (no such export, broken settings, …)."""
    request = payload["request"]
    export_id = str(request.get("export_id", "unknown"))
    run_id = payload["root"].rsplit("/", 1)[-1]
    with telemetry.activity_span(REPORT_UNPLANNED, export_id, run_id) as log:
        now = datetime.now().astimezone()
        report = RunReport(
            export_id=export_id,
            run_id=run_id,
            vendor="unknown",
            trigger=request.get("trigger", "on_demand"),
            status=RunStatus.FAILED,
            started_at=now,
            finished_at=now,
            profiles_read=0,
            outcomes=OutcomeCounts(),
            errors=list(payload["errors"]),
        )
        get_runtime().store.write_json(payload["root"] + "/report.json", report.model_dump(mode="json"))
        log.warning("run failed before planning: %s", "; ".join(payload["errors"]))
        return {"status": report.status.value, "report": payload["root"] + "/report.json"}


async def _checked(name: str, root: str, step: Callable[[Runtime, str], Awaitable[None]]) -> dict[str, Any]:
    """A vendor check's verdict: ``ok``, or the run's refusal (credential, list, fields); a retryable
    failure is raised, for Durable to retry the activity."""
    with telemetry.activity_span(name, *_ids(root)):
        try:
            await step(get_runtime(), root)
        except ExportError as exc:
            if exc.retryable:
                raise
            return _verdict(exc)
        return {"ok": True}


async def check_destination_activity(payload: Payload) -> dict[str, Any]:
    return await _checked(CHECK_DESTINATION, payload["root"], check_destination)


async def read_suppressions_activity(payload: Payload) -> dict[str, Any]:
    return await _checked(READ_SUPPRESSIONS, payload["root"], read_run_suppressions)


def stage_part_activity(payload: Payload) -> dict[str, Any]:
    with telemetry.activity_span(STAGE_PART, *_ids(payload["root"])):
        return stage_part(get_runtime(), payload["root"], payload["index"]).model_dump()


def diff_partition_activity(payload: Payload) -> dict[str, Any]:
    with telemetry.activity_span(DIFF_PARTITION, *_ids(payload["root"])):
        return diff_partition(get_runtime(), payload["root"], payload["partition"]).model_dump()


async def cut_batches_activity(payload: Payload) -> dict[str, Any]:
    """Cut the run's batches and apply units (reads the credential to build the adapter's encoder)."""
    with telemetry.activity_span(CUT_BATCHES, *_ids(payload["root"])) as log:
        try:
            cut = await cut_run(get_runtime(), payload["root"])
        except ExportError as exc:
            if exc.retryable:
                raise
            return _verdict(exc)
        batches = {kind: cut.batches(kind) for kind in cut.bounds}
        log.info("cut %s batches into %d units", batches, len(cut.units))
        return {"units": len(cut.units), "batches": batches}


async def apply_batches_activity(payload: Payload) -> dict[str, Any]:
    """Send one unit of batches. A verdict is returned; a fault raises (the extension retries and the
    checkpoint skips the batches already accepted)."""
    unit = payload["unit"]
    with telemetry.activity_span(APPLY_BATCHES, *_ids(payload["root"])) as log:
        runtime = get_runtime()
        try:
            result = await apply_unit(runtime, payload["root"], unit, deadline=_deadline(runtime))
        except ExportError as exc:
            if exc.retryable:
                raise
            log.warning("apply of unit %d stopped: %s", unit, exc)
            return {"unit": unit, "batches": 0, "pending_jobs": 0, **_verdict(exc)}
        return result.model_dump()


async def poll_jobs_activity(payload: Payload) -> dict[str, Any]:
    with telemetry.activity_span(POLL_JOBS, *_ids(payload["root"])):
        runtime = get_runtime()
        polled = await poll_jobs(runtime, payload["root"], deadline=_deadline(runtime))
        result = polled.model_dump()
        if payload.get("give_up") and result["pending_jobs"]:
            result["given_up"] = [
                f"{result['pending_jobs']} vendor job(s) had not finished when waiting was given up; "
                "their rows are failed (each named with its job in the rejected-rows file) and will be sent "
                "again by the next run"
            ]
        return result


def finish_partition_activity(payload: Payload) -> dict[str, Any]:
    with telemetry.activity_span(FINISH_PARTITION, *_ids(payload["root"])):
        result = finish_partition(
            get_runtime(),
            payload["root"],
            payload["partition"],
            mode=payload["mode"],
            stop_reason=payload["stop_reason"],
        )
        return result.model_dump()


def commit_run_activity(payload: Payload) -> dict[str, Any]:
    with telemetry.activity_span(COMMIT_RUN, *_ids(payload["root"])) as log:
        report = commit_run(get_runtime(), CommitRequest.model_validate(payload))
        log.info(
            "run %s: read %d, outcomes %s", report.status.value, report.profiles_read, report.outcomes.model_dump()
        )
        telemetry.record_run(report)
        return {
            "status": report.status.value,
            "report": payload["root"] + "/report.json",
            "profiles_read": report.profiles_read,
            "outcomes": report.outcomes.model_dump(),
            "removed": report.removed,
            "errors": report.errors,
        }


def _ids(root: str) -> tuple[str, str]:
    """(export id, run id) from a run's blob prefix ``runs/{export}/{run}``."""
    paths = RunPaths.from_root(root)
    return paths.export_id, paths.run_id


ACTIVITIES: dict[str, Callable[[Payload], Any]] = {
    PLAN_RUN: plan_run_activity,
    REPORT_UNPLANNED: report_unplanned_activity,
    CHECK_DESTINATION: check_destination_activity,
    READ_SUPPRESSIONS: read_suppressions_activity,
    STAGE_PART: stage_part_activity,
    DIFF_PARTITION: diff_partition_activity,
    CUT_BATCHES: cut_batches_activity,
    APPLY_BATCHES: apply_batches_activity,
    POLL_JOBS: poll_jobs_activity,
    FINISH_PARTITION: finish_partition_activity,
    COMMIT_RUN: commit_run_activity,
}
