"""The export orchestration: the only place where the steps of a run are sequenced.

A plain generator over the Durable context API, deterministic and free of I/O, so the same code runs
under the Azure Functions host and under the local stand-in for the Durable extension
(``devtools/durable_host.py``). Only blob prefixes, indexes and counts pass through its history.

One helper generator per phase (``yield from``): plan → preflight beside stage → diff → guards → cut → apply →
await jobs → finish → commit. Idempotent steps are scheduled with ``call_activity_with_retry`` (retry
options come from the app settings through the plan), so a worker restart or a passing storage or
vendor fault costs a retry, not the run. Activities *raise* on such faults; a domain verdict (the
credential was refused, the list is gone) comes back as data and stops the run with its message.

A run that fails still writes its report, then raises ``RunFailed`` so the orchestration's runtime
status is ``Failed`` (alerts key on it). Apply works in bounded units — an activity stops at its time
budget and the orchestrator calls it again for the rest — and the orchestration continues as new when
its history would otherwise grow without bound.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from shared.orchestration.failures import plain_reason
from shared.orchestration.names import (
    APPLY_BATCHES,
    CHECK_DESTINATION,
    COMMIT_RUN,
    CUT_BATCHES,
    DIFF_PARTITION,
    FINISH_PARTITION,
    ORCHESTRATOR,
    PLAN_RUN,
    POLL_JOBS,
    READ_SUPPRESSIONS,
    REPORT_UNPLANNED,
    STAGE_PART,
    instance_id_for,
)
from shared.pipeline.layout import RunPaths

__all__ = ["ORCHESTRATOR", "RunFailed", "export_orchestrator", "guard_verdict", "instance_id_for"]

# Before the plan has told us the configured retry options.
DEFAULT_RETRY = {"attempts": 3, "interval_ms": 15_000}
# Apply units scheduled per orchestration generation before it continues as new (history stays small).
MAX_UNITS_PER_GENERATION = 400

Step = Generator[Any, Any, Any]


class RunFailed(Exception):
    """Raised last by a run that failed, after its report was written: runtime status ``Failed``."""


@dataclass
class Run:
    """What the orchestration knows about the run so far (rebuilt deterministically on replay)."""

    request: dict[str, Any]
    run_id: str
    root: str
    retry: df.RetryOptions
    plan: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    mode: str = "applied"  # applied | dry_run | blocked | failed
    diffs: list[dict[str, Any]] = field(default_factory=list)
    applied_any: bool = False
    units: int = 0
    oldest_job_age: float = 0.0  # seconds the oldest submitted job had waited when apply reported it

    def fail(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)
        self.mode = "failed"


def _retry(options: dict[str, Any]) -> df.RetryOptions:
    return df.RetryOptions(
        first_retry_interval_in_milliseconds=max(1, int(options["interval_ms"])),
        max_number_of_attempts=max(1, int(options["attempts"])),
    )


def _call(context: Any, run: Run, name: str, payload: dict[str, Any]) -> Any:
    return context.call_activity_with_retry(name, run.retry, payload)


def _settle(context: Any, tasks: list[Any]) -> Step:
    """Wait until every task has finished, failed or not. ``task_all`` fails on the first failure while
    the others may still run; nothing may move on (finish, commit) while a sibling is still sending."""
    while pending := [task for task in tasks if not task.is_completed]:
        # A failure only ends this wait: each task's own failure is read from the task by the caller.
        try:
            yield context.task_all(pending)
        except Exception:  # noqa: S112  # nosec B112
            continue


def _all(context: Any, run: Run, tasks: list[Any]) -> Step:
    """``task_all`` that, on a failure, first lets the siblings finish, then raises the first failure."""
    try:
        results = yield context.task_all(tasks)
    except Exception:
        yield from _settle(context, tasks)
        raise
    return results


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


# ---- phases ------------------------------------------------------------------------------------


def _plan_phase(context: Any, run: Run, started: str) -> Step:
    payload = {"request": run.request, "run_id": run.run_id, "instance_id": context.instance_id, "started_at": started}
    plan = yield _call(context, run, PLAN_RUN, payload)
    if plan.get("refused"):
        run.fail(plan["refused"])
        return
    run.plan = plan
    run.root = plan["root"]
    run.retry = _retry(plan["retry"])


def _prepare_phase(context: Any, run: Run) -> Step:
    """Pre-flight, stage and diff, then the guards: decides whether anything is applied."""
    context.set_custom_status({"run_id": run.run_id, "step": "stage"})
    # Pre-flight runs beside stage: staging sends nothing to the vendor, so nothing is pushed before the
    # checks pass, and a run no longer waits for the vendor's answers before it starts reading. The
    # suppressions are read beside them and beside diff as well: only apply needs them, and a long
    # read-back (Brevo's first refresh after a full export pages through every member it wrote: about
    # 100 s at 1M) would otherwise hold diff back. The SDK schedules a task when the orchestrator yields
    # it, so all three go out in one ``task_any``; only pre-flight and the stages are waited for here.
    check = _call(context, run, CHECK_DESTINATION, {"root": run.root})
    suppressions = _call(context, run, READ_SUPPRESSIONS, {"root": run.root})
    stage_tasks = [_call(context, run, STAGE_PART, {"root": run.root, "index": i}) for i in range(run.plan["parts"])]
    gate = [check, *stage_tasks]
    yield context.task_any([context.task_all(gate), suppressions])
    try:
        checked, *stages = yield from _all(context, run, gate)
    except Exception:
        yield from _settle(context, [suppressions])
        refused = check.result.get("refused") if isinstance(check.result, dict) else None
        if refused:  # a file that failed to stage matters less than a credential or list that is wrong
            run.fail(refused)
            return
        raise
    if checked and checked.get("refused"):  # the pre-flight's words first: they name the fix
        run.fail(checked["refused"])
    read = sum(s["read"] for s in stages)
    if run.mode != "failed" and read > run.plan["max_profiles"]:
        run.errors.append(
            f"blocked: the segments hold {read} profiles, more than the export's max_profiles "
            f"({run.plan['max_profiles']}); raise max_profiles if this is expected"
        )
        run.mode = "blocked"
    if run.mode != "applied":
        yield from _read_back(context, run, suppressions)
        return
    context.set_custom_status({"run_id": run.run_id, "step": "diff", "profiles_read": read})
    diff_tasks = [
        _call(context, run, DIFF_PARTITION, {"root": run.root, "partition": k}) for k in range(run.plan["partitions"])
    ]
    try:
        run.diffs = yield from _all(context, run, diff_tasks)
    except Exception:
        yield from _settle(context, [suppressions])
        raise
    yield from _read_back(context, run, suppressions)
    if run.mode != "applied":
        return
    verdict = guard_verdict(run.plan, run.diffs, run.request.get("approve_mass_removal", False))
    if verdict:
        run.errors.append(verdict)
        run.mode = "blocked"
    elif run.request.get("dry_run"):
        run.mode = "dry_run"


def _read_back(context: Any, run: Run, suppressions: Any) -> Step:
    """Wait for the suppressions read; a refusal ends the run with its words (nothing has been sent). A run
    that has already failed only waits for it: its own failure would add nothing to the run's words."""
    if run.mode == "failed":
        yield from _settle(context, [suppressions])
        verdict = suppressions.result if isinstance(suppressions.result, dict) else None
    else:
        (verdict,) = yield from _all(context, run, [suppressions])
    if verdict and verdict.get("refused"):
        run.fail(verdict["refused"])


def _cut_phase(context: Any, run: Run) -> Step:
    """Cut the changes into vendor batches across partitions, and the batches into apply units."""
    context.set_custom_status({"run_id": run.run_id, "step": "cut"})
    cut = yield _call(context, run, CUT_BATCHES, {"root": run.root})
    if cut.get("refused"):
        run.fail(cut["refused"])
        return []
    run.applied_any = True  # the changes are decided and cut: a run with nothing to send applied nothing
    return list(range(int(cut["units"])))


def _apply_phase(context: Any, run: Run, todo: list[int]) -> Step:
    """Apply units in waves bounded by the vendor's concurrency. A unit whose activity stopped at its
    time budget (``more``) is called again; returns what is still to do when this generation has
    scheduled its share of activities (the caller continues as new)."""
    width = run.plan["width"]
    queue = list(todo)
    while queue:
        if run.units >= run.plan.get("units_per_generation", MAX_UNITS_PER_GENERATION):
            return queue
        wave, queue = queue[:width], queue[width:]
        context.set_custom_status({"run_id": run.run_id, "step": "apply", "units_left": len(queue) + len(wave)})
        tasks = [_call(context, run, APPLY_BATCHES, {"root": run.root, "unit": u}) for u in wave]
        run.units += len(tasks)
        run.applied_any = True
        try:
            results = yield context.task_all(tasks)
        except Exception:
            # A unit that still fails after its retries does not hold back the others: its rows are
            # failed (retried next run), the siblings' outcomes are collected, later waves still go out.
            yield from _settle(context, tasks)
            results = []
            for task in tasks:
                if isinstance(task.result, Exception):
                    reason = plain_reason(task.result)
                    if reason not in run.errors:
                        run.errors.append(reason)
                else:
                    results.append(task.result)
        ages = [float(r["oldest_job_age"]) for r in results if r.get("oldest_job_age") is not None]
        run.oldest_job_age = max([run.oldest_job_age, *ages])
        refused = [r for r in results if r.get("refused")]
        for result in refused:
            if result["refused"] not in run.errors:
                run.errors.append(result["refused"])
        if any(r.get("fatal") for r in refused):
            run.mode = "failed"
            return []  # the credential or the list is gone: later waves would fail the same way
        queue = [r["unit"] for r in results if r.get("more")] + queue
    return []


def _await_phase(context: Any, run: Run) -> Step:
    """Asynchronous vendor jobs are awaited with durable timers, never by sleeping in an activity.
    Waiting is bounded: when no job has finished for ``give_up_seconds`` (the vendor stalls, or its
    jobs cannot be polled), the jobs still open are given up — their rows failed, named with the
    vendor's job id, and sent again by the next run. A large export whose jobs keep finishing is
    never cut short."""
    if not run.plan.get("asynchronous"):
        return
    first_poll, max_poll = float(run.plan["first_poll"]), float(run.plan["max_poll"])
    # The first round waits what the oldest job has not yet waited of the first delay: jobs submitted
    # early in a long apply phase are read as soon as it ends, not a first delay later.
    fire_at = context.current_utc_datetime + timedelta(seconds=max(0.0, first_poll - run.oldest_job_age))
    began = context.current_utc_datetime
    patience = timedelta(seconds=float(run.plan["give_up_seconds"]))
    deadline = context.current_utc_datetime + patience
    pending: int | None = None
    while pending is None or pending:
        context.set_custom_status({"run_id": run.run_id, "step": "await", "pending_jobs": pending})
        if context.current_utc_datetime >= deadline:
            polled = yield _call(context, run, POLL_JOBS, {"root": run.root, "give_up": True})
            for message in polled.get("given_up", []):
                run.errors.append(message)
            return
        if context.current_utc_datetime < fire_at:
            yield context.create_timer(min(deadline, fire_at))
        asked_at = context.current_utc_datetime
        polled = yield _call(context, run, POLL_JOBS, {"root": run.root, "give_up": False})
        if pending is None or polled["pending_jobs"] < pending:
            deadline = context.current_utc_datetime + patience  # progress: the clock starts again
        pending = int(polled["pending_jobs"])
        # The next round after a quarter of the time waited so far (at least the first delay, at most the
        # longest): a job that takes seconds is read within about a second of finishing, one that takes
        # an hour costs a few dozen rounds, and no round is ever more than 25% late.
        waited = (context.current_utc_datetime - began).total_seconds()
        delay = min(max(first_poll, waited / 4), max_poll)
        # Counted from when the round began: a round that took a while (many jobs, slow answers) does not
        # push the next one later by its own length. A vendor's hint counts from its answer.
        hint = timedelta(seconds=float(polled.get("retry_after") or 0.0))
        fire_at = max(asked_at + timedelta(seconds=delay), context.current_utc_datetime + hint)


def _finish_phase(context: Any, run: Run) -> Step:
    finish_mode = "applied" if run.applied_any else ("dry_run" if run.mode == "dry_run" else "not_applied")
    stop_reason = run.errors[0] if run.errors else "not sent"
    context.set_custom_status({"run_id": run.run_id, "step": "finish"})
    tasks = [
        _call(
            context,
            run,
            FINISH_PARTITION,
            {"root": run.root, "partition": k, "mode": finish_mode, "stop_reason": stop_reason},
        )
        for k in range(run.plan["partitions"])
    ]
    yield from _all(context, run, tasks)
    return finish_mode == "applied"


def _commit_phase(context: Any, run: Run, finished: bool) -> Step:
    commit_mode = run.mode if run.mode != "applied" else ("applied" if run.applied_any else "failed")
    context.set_custom_status({"run_id": run.run_id, "step": "commit"})
    summary = yield _call(
        context,
        run,
        COMMIT_RUN,
        {"root": run.root, "mode": commit_mode, "errors": run.errors, "finished_partitions": finished},
    )
    summary["run_id"] = run.run_id
    return summary


# ---- the orchestration --------------------------------------------------------------------------


def export_orchestrator(context: Any) -> Generator[Any, Any, dict[str, Any]]:
    request: dict[str, Any] = context.get_input()
    carry: dict[str, Any] | None = request.pop("carry", None)
    started = context.current_utc_datetime
    run_id = carry["run_id"] if carry else f"{started:%Y%m%dT%H%M%S}-{str(context.new_uuid())[:8]}"
    root = RunPaths(str(request.get("export_id", "unknown")), run_id).root
    run = Run(request, run_id, root=root, retry=_retry(DEFAULT_RETRY))
    todo: list[int] = []

    if carry:
        # A continued generation: plan, diffs and errors come from the previous one.
        run.plan, run.root, run.errors = carry["plan"], carry["plan"]["root"], carry["errors"]
        run.retry, run.applied_any, todo = _retry(carry["plan"]["retry"]), True, carry["todo"]
    else:
        try:
            yield from _plan_phase(context, run, started.isoformat())
        except Exception as exc:
            run.fail(plain_reason(exc))
        if not run.plan:
            # Nothing was planned (no export, broken settings, unreadable segments): still a report.
            yield _call(context, run, REPORT_UNPLANNED, {"root": run.root, "request": request, "errors": run.errors})
            context.set_custom_status({"run_id": run.run_id, "step": "done", "status": "failed"})
            raise RunFailed("; ".join(run.errors))
        try:
            yield from _prepare_phase(context, run)
            if run.mode == "applied":
                todo = yield from _cut_phase(context, run)
        except Exception as exc:
            run.fail(plain_reason(exc))

    if todo:
        left = yield from _apply_phase(context, run, todo)
        if left:
            carry_state = {"run_id": run.run_id, "plan": run.plan, "errors": run.errors, "todo": left}
            context.continue_as_new({**request, "carry": carry_state})
            return {"run_id": run.run_id, "status": "continued"}
    if run.applied_any:
        try:
            yield from _await_phase(context, run)
        except Exception as exc:
            run.errors.append(plain_reason(exc))

    finished = False
    if run.diffs or run.applied_any:
        try:
            finished = yield from _finish_phase(context, run)
        except Exception as exc:
            run.errors.append(plain_reason(exc))
    summary = yield from _commit_phase(context, run, finished)
    context.set_custom_status({"run_id": run.run_id, "step": "done", "status": summary["status"]})
    if summary["status"] == "failed":
        raise RunFailed("; ".join(summary.get("errors") or ["the run failed"]))
    return summary
