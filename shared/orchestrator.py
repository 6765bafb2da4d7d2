"""The export orchestration: the only place where the steps of a run are sequenced.

A plain generator over the Durable context API, deterministic and free of I/O, so the same code runs
under the Azure Functions host and under the in-process host (``shared.local_host``) that drives it
through the SDK's own replay. Only blob prefixes, indexes and counts pass through its history.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

from shared.activities import (
    APPLY_PARTITION,
    CHECK_DESTINATION,
    COMMIT_RUN,
    DIFF_PARTITION,
    FINISH_PARTITION,
    PLAN_RUN,
    POLL_JOBS,
    STAGE_PART,
)

ORCHESTRATOR = "export_orchestrator"
MAX_POLL_ROUNDS = 200  # a bound on history size: ~4 events a round


def instance_id_for(export_id: str) -> str:
    """One active run per export: the instance id is derived from the export."""
    return f"export-{export_id}"


def _reason(exc: BaseException) -> str:
    """The plain-words part of an activity failure (the host wraps it with its own prefix)."""
    text = str(exc).strip()
    return text.split("\n")[0].strip() or type(exc).__name__


def guard_verdict(plan: dict[str, Any], diffs: list[dict[str, Any]], approved: bool) -> str | None:
    """Why the mass-removal guard refuses the run, with the numbers, or None."""
    if not plan["mirror"] or approved:
        return None
    share = plan["mass_removal_share"]
    to_remove = sum(d["to_remove"] for d in diffs)
    list_size = sum(d["list_size"] for d in diffs)
    profiles = sum(d["profiles"] for d in diffs)
    previous = plan["previous_profiles"]
    how = "run it on demand with approve_mass_removal=true to apply it"
    if list_size and to_remove > share * list_size:
        return (
            f"blocked by the mass-removal guard: {to_remove} of {list_size} contacts "
            f"({to_remove / list_size:.0%}) would be removed, more than the {share:.0%} allowed; {how}"
        )
    if previous and profiles < (1 - share) * previous:
        return (
            f"blocked by the mass-removal guard: the segments shrank from {previous} to {profiles} profiles "
            f"({1 - profiles / previous:.0%}), more than the {share:.0%} allowed; {how}"
        )
    return None


def export_orchestrator(context: Any) -> Generator[Any, Any, dict[str, Any]]:
    request: dict[str, Any] = context.get_input()
    started = context.current_utc_datetime
    run_id = f"{started:%Y%m%dT%H%M%S}-{str(context.new_uuid())[:8]}"
    plan = yield context.call_activity(
        PLAN_RUN,
        {"request": request, "run_id": run_id, "instance_id": context.instance_id, "started_at": started.isoformat()},
    )
    if plan.get("error"):
        return {"status": "failed", "run_id": run_id, "errors": [plan["error"]], "profiles_read": 0}
    root = plan["root"]
    partitions = range(plan["partitions"])
    errors: list[str] = []
    mode = "applied"
    diffs: list[dict[str, Any]] = []

    try:
        yield context.call_activity(CHECK_DESTINATION, {"root": root})
        stages = yield context.task_all(
            [context.call_activity(STAGE_PART, {"root": root, "index": i}) for i in range(plan["parts"])]
        )
        read = sum(s["read"] for s in stages)
        if read > plan["max_profiles"]:
            errors.append(
                f"blocked: the segments hold {read} profiles, more than the export's max_profiles "
                f"({plan['max_profiles']}); raise max_profiles if this is expected"
            )
            mode = "blocked"
        else:
            diffs = yield context.task_all(
                [context.call_activity(DIFF_PARTITION, {"root": root, "partition": k}) for k in partitions]
            )
    except Exception as exc:
        errors.append(_reason(exc))
        mode = "failed"

    if mode == "applied":
        verdict = guard_verdict(plan, diffs, request.get("approve_mass_removal", False))
        if verdict:
            errors.append(verdict)
            mode = "blocked"
        elif request.get("dry_run"):
            mode = "dry_run"

    applied_any = False
    if mode == "applied":
        pending = 0
        width = plan["width"]
        try:
            for wave_start in range(0, len(partitions), width):
                wave = partitions[wave_start : wave_start + width]
                results = yield context.task_all(
                    [
                        context.call_activity(
                            APPLY_PARTITION, {"root": root, "partition": k, "removals": plan["mirror"]}
                        )
                        for k in wave
                    ]
                )
                applied_any = True
                pending += sum(r["pending_jobs"] for r in results)
                failures = [r for r in results if r.get("error")]
                errors.extend(r["error"] for r in failures if r["error"] not in errors)
                if any(r.get("fatal") for r in failures):
                    break  # the credential or the list is gone: later waves would fail the same way
        except Exception as exc:
            applied_any = True
            errors.append(_reason(exc))
            # Other partitions may have submitted jobs before this one failed: their outcomes are
            # still collected, or profiles the vendor accepted would be counted failed and resent.
            pending = 1 if plan.get("asynchronous") else 0
        try:
            delay = plan["first_poll"]
            rounds = 0
            # Asynchronous vendor jobs are awaited with durable timers, never by sleeping in an activity.
            while pending and rounds < MAX_POLL_ROUNDS:
                rounds += 1
                yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
                polled = yield context.call_activity(POLL_JOBS, {"root": root})
                pending = polled["pending_jobs"]
                delay = max(polled.get("retry_after") or 0.0, min(delay * 1.5, plan["max_poll"]))
            if pending:
                errors.append(f"{pending} vendor jobs had not finished after {rounds} checks; their rows are failed")
        except Exception as exc:
            errors.append(_reason(exc))

    finish_mode = "applied" if applied_any else ("dry_run" if mode == "dry_run" else "not_applied")
    stop_reason = errors[0] if errors else "not sent"
    finished = False
    if diffs:
        try:
            yield context.task_all(
                [
                    context.call_activity(
                        FINISH_PARTITION,
                        {"root": root, "partition": k, "mode": finish_mode, "stop_reason": stop_reason},
                    )
                    for k in partitions
                ]
            )
            finished = finish_mode == "applied"
        except Exception as exc:
            errors.append(_reason(exc))
    commit_mode = mode if mode != "applied" else ("applied" if applied_any else "failed")
    summary = yield context.call_activity(
        COMMIT_RUN, {"root": root, "mode": commit_mode, "errors": errors, "finished_partitions": finished}
    )
    summary["run_id"] = run_id
    return summary
