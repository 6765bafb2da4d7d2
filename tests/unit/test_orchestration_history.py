"""The orchestrator's history stays small however many profiles a run has: only counts and blob
references pass through it. Driven by the in-process host (the SDK's own replay); the activities are
stand-ins that answer what the real ones answer for a 1,000,000-profile run (64 source files,
32 partitions of ~31,000 profiles, asynchronous vendor jobs needing three polls) — the point is the
orchestrator's own behaviour, which the real activities cannot change."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from typing import Any

import pytest

from devtools.durable_host import TIMER_CREATED, DirectDispatch, LocalDurableHost
from shared.orchestration import names
from shared.orchestration.names import ORCHESTRATOR
from shared.orchestration.orchestrator import export_orchestrator

PROFILES = 1_000_000
PARTS = 64
PARTITIONS = 32
UNITS = 16  # batches are cut across partitions, then grouped into at most ``width`` apply units


def stand_in_activities(calls: dict[str, int], polls_needed: int = 3) -> dict[str, Any]:
    def count(name: str) -> None:
        calls[name] = calls.get(name, 0) + 1

    def plan(payload: dict[str, Any]) -> dict[str, Any]:
        count(names.PLAN_RUN)
        return {
            "root": "runs/weekly/r1",
            "parts": PARTS,
            "partitions": PARTITIONS,
            "width": 16,
            "mirror": False,
            "max_profiles": 10_000_000,
            "mass_removal_share": 0.2,
            "previous_profiles": 0,
            "first_poll": 0.0,
            "max_poll": 0.0,
            "give_up_seconds": 3600.0,
            "asynchronous": True,
            "retry": {"attempts": 3, "interval_ms": 10},
        }

    def check(payload: dict[str, Any]) -> dict[str, Any]:
        count(names.CHECK_DESTINATION)
        return {"ok": True}

    def stage(payload: dict[str, Any]) -> dict[str, Any]:
        count(names.STAGE_PART)
        return {"part": payload["index"], "read": PROFILES // PARTS, "invalid": 0}

    def diff(payload: dict[str, Any]) -> dict[str, Any]:
        count(names.DIFF_PARTITION)
        share = PROFILES // PARTITIONS
        return {
            "partition": payload["partition"],
            "profiles": share,
            "to_upsert": share,
            "to_remove": 0,
            "list_size": 0,
            "unchanged": 0,
            "duplicates": 0,
        }

    def cut(payload: dict[str, Any]) -> dict[str, Any]:
        count(names.CUT_BATCHES)
        return {"units": UNITS, "batches": {"changes": 34, "removals": 0}}

    def apply(payload: dict[str, Any]) -> dict[str, Any]:
        count(names.APPLY_BATCHES)
        return {"unit": payload["unit"], "batches": 2, "pending_jobs": 2}

    def poll(payload: dict[str, Any]) -> dict[str, Any]:
        count(names.POLL_JOBS)
        left = max(0, polls_needed - calls[names.POLL_JOBS])
        return {"pending_jobs": left * 10, "retry_after": None}

    def finish(payload: dict[str, Any]) -> dict[str, Any]:
        count(names.FINISH_PARTITION)
        return {}

    def commit(payload: dict[str, Any]) -> dict[str, Any]:
        count(names.COMMIT_RUN)
        return {"status": "succeeded", "report": "runs/weekly/r1/report.json", "profiles_read": PROFILES}

    return {
        names.PLAN_RUN: plan,
        names.CHECK_DESTINATION: check,
        names.READ_SUPPRESSIONS: check,
        names.STAGE_PART: stage,
        names.DIFF_PARTITION: diff,
        names.CUT_BATCHES: cut,
        names.APPLY_BATCHES: apply,
        names.POLL_JOBS: poll,
        names.FINISH_PARTITION: finish,
        names.COMMIT_RUN: commit,
    }


async def run_to_failure(activities: dict[str, Any], replaced: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """Run the orchestrator with ``replaced`` activities and a commit that records what it was given."""
    committed: list[dict[str, Any]] = []

    def commit(payload: dict[str, Any]) -> dict[str, Any]:
        committed.append(payload)
        return {"status": "failed", "errors": payload["errors"]}

    activities.update({names.COMMIT_RUN: commit, **replaced})
    host = LocalDurableHost(DirectDispatch({ORCHESTRATOR: export_orchestrator}, activities))
    return await host.run(ORCHESTRATOR, "export-weekly", {"export_id": "weekly"}), committed


@pytest.mark.parametrize("width", [4, 16])
async def test_a_million_profile_run_has_a_history_under_500_events(width: int) -> None:
    calls: dict[str, int] = {}
    activities = stand_in_activities(calls)
    host = LocalDurableHost(DirectDispatch({ORCHESTRATOR: export_orchestrator}, activities), activity_width=width)
    instance = await host.run(ORCHESTRATOR, "export-weekly", {"export_id": "weekly"})

    assert instance.error is None
    assert instance.output["profiles_read"] == PROFILES
    assert calls[names.STAGE_PART] == PARTS
    assert calls[names.CUT_BATCHES] == 1
    assert calls[names.APPLY_BATCHES] == UNITS
    assert calls[names.FINISH_PARTITION] == PARTITIONS
    assert calls[names.POLL_JOBS] == 3
    assert len(instance.history) < 500, len(instance.history)
    # nothing profile-sized ever entered the history
    assert max(len(str(event)) for event in instance.history) < 2_000


async def test_apply_in_bounded_units_continues_as_new_and_finishes_every_partition() -> None:
    """An apply activity that stops at its time budget (``more``) is called again; once a generation has
    scheduled its share of units the orchestration continues as new, keeping the same run."""
    calls: dict[str, int] = {}
    activities = stand_in_activities(calls, polls_needed=1)
    plan = activities[names.PLAN_RUN]
    applied: dict[int, int] = {}
    finished: list[int] = []

    def small_plan(payload: dict[str, Any]) -> dict[str, Any]:
        return {**plan(payload), "parts": 2, "partitions": 4, "width": 2, "units_per_generation": 3}

    def apply_in_units(payload: dict[str, Any]) -> dict[str, Any]:
        k = payload["unit"]
        applied[k] = applied.get(k, 0) + 1
        return {"unit": k, "batches": 1, "pending_jobs": 1, "more": applied[k] < 3}  # 3 activities each

    def finish(payload: dict[str, Any]) -> dict[str, Any]:
        finished.append(payload["partition"])
        return {}

    activities.update(
        {
            names.PLAN_RUN: small_plan,
            names.CUT_BATCHES: lambda payload: {"units": 4, "batches": {"changes": 4, "removals": 0}},
            names.APPLY_BATCHES: apply_in_units,
            names.FINISH_PARTITION: finish,
        }
    )
    continued: list[str] = []
    host = LocalDurableHost(
        DirectDispatch({ORCHESTRATOR: export_orchestrator}, activities),
        on_event=lambda kind, payload: continued.append(kind) if kind == "continued" else None,
    )
    instance = await host.run(ORCHESTRATOR, "export-weekly", {"export_id": "weekly"})

    assert instance.error is None, instance.error
    assert applied == {0: 3, 1: 3, 2: 3, 3: 3}
    assert sorted(finished) == [0, 1, 2, 3]
    assert len(continued) == 2  # 12 units in waves of 2, a new generation once 3 were scheduled
    assert calls[names.PLAN_RUN] == 1  # the same run carried on: planned once
    assert instance.output["status"] == "succeeded"


@pytest.mark.parametrize("stage_fails", [False, True])
async def test_a_refused_pre_flight_beside_stage_fails_the_run_with_its_words_and_sends_nothing(
    stage_fails: bool,
) -> None:
    """Pre-flight runs beside stage; when it refuses, the run ends with its message (even when a file also
    failed to stage) and nothing after stage is scheduled."""
    calls: dict[str, int] = {}
    activities = stand_in_activities(calls)
    stage = activities[names.STAGE_PART]

    def stage_or_fail(payload: dict[str, Any]) -> dict[str, Any]:
        if stage_fails and payload["index"] == 3:
            raise OSError("storage refused the staging blob")
        return stage(payload)

    refused = "the credential of connection c1 was refused by SendGrid"
    instance, committed = await run_to_failure(
        activities, {names.CHECK_DESTINATION: lambda payload: {"refused": refused}, names.STAGE_PART: stage_or_fail}
    )

    assert instance.error is not None and refused in instance.error
    assert [c["errors"] for c in committed] == [[refused]] and committed[0]["mode"] == "failed"
    assert calls[names.STAGE_PART] >= PARTS - stage_fails  # ran beside pre-flight (a failing one never counts)
    for later in (names.DIFF_PARTITION, names.CUT_BATCHES, names.APPLY_BATCHES, names.POLL_JOBS):
        assert later not in calls


@pytest.mark.parametrize(("oldest_age", "timer_seconds"), [(31.0, None), (25.0, 5.0)])
async def test_the_first_poll_waits_only_what_the_oldest_job_has_not_yet_waited(
    oldest_age: float, timer_seconds: float | None
) -> None:
    # First poll delay 30 s. Jobs submitted early in a long apply phase have waited it already when the
    # last unit ends: they are read at once; a job 25 s old is read 5 s later, not 30 s.
    calls: dict[str, int] = {}
    activities = stand_in_activities(calls, polls_needed=1)
    plan, apply = activities[names.PLAN_RUN], activities[names.APPLY_BATCHES]
    activities[names.PLAN_RUN] = lambda payload: {**plan(payload), "first_poll": 30.0, "max_poll": 30.0}
    activities[names.APPLY_BATCHES] = lambda payload: {
        **apply(payload),
        "oldest_job_age": oldest_age if payload["unit"] == 3 else 1.0,
    }
    host = LocalDurableHost(DirectDispatch({ORCHESTRATOR: export_orchestrator}, activities), timer_scale=0.0)
    instance = await host.run(ORCHESTRATOR, "export-weekly", {"export_id": "weekly"})

    assert instance.error is None
    assert calls[names.POLL_JOBS] == 1
    timers = [e for e in instance.history if e["EventType"] == TIMER_CREATED]
    if timer_seconds is None:
        assert not timers
        return
    (timer,) = timers
    fire_at = datetime.fromisoformat(timer["FireAt"].replace("Z", "+00:00"))
    created = datetime.fromisoformat(timer["Timestamp"])
    assert abs((fire_at - created).total_seconds() - timer_seconds) < 1.0


async def test_the_suppressions_read_goes_on_beside_diff_and_gates_only_what_follows() -> None:
    """A long read-back (Brevo's first refresh pages through every member) no longer holds diff back: here
    it answers only once a diff has run — waiting for it before diff would never finish."""
    calls: dict[str, int] = {}
    activities = stand_in_activities(calls, polls_needed=1)
    diff = activities[names.DIFF_PARTITION]
    diffed = threading.Event()

    def diff_and_tell(payload: dict[str, Any]) -> dict[str, Any]:
        diffed.set()
        return diff(payload)

    async def read_back(payload: dict[str, Any]) -> dict[str, Any]:
        for _ in range(500):
            if diffed.is_set():
                return {}
            await asyncio.sleep(0.01)
        raise TimeoutError("the run waited for the suppressions before it diffed")

    activities.update({names.DIFF_PARTITION: diff_and_tell, names.READ_SUPPRESSIONS: read_back})
    host = LocalDurableHost(DirectDispatch({ORCHESTRATOR: export_orchestrator}, activities))
    instance = await host.run(ORCHESTRATOR, "export-weekly", {"export_id": "weekly"})

    assert instance.error is None, instance.error
    assert instance.output["status"] == "succeeded"
    assert calls[names.APPLY_BATCHES] == UNITS


async def test_a_refused_suppressions_read_after_diff_fails_the_run_before_anything_is_sent() -> None:
    calls: dict[str, int] = {}
    refused = "the list 7 of connection c1 no longer exists in Brevo"
    instance, committed = await run_to_failure(
        stand_in_activities(calls), {names.READ_SUPPRESSIONS: lambda payload: {"refused": refused}}
    )

    assert instance.error is not None and refused in instance.error
    assert [c["errors"] for c in committed] == [[refused]] and committed[0]["mode"] == "failed"
    assert calls[names.DIFF_PARTITION] == PARTITIONS
    for later in (names.CUT_BATCHES, names.APPLY_BATCHES, names.POLL_JOBS):
        assert later not in calls


async def test_a_run_refused_by_pre_flight_waits_for_the_suppressions_read_and_keeps_only_its_words() -> None:
    """The read-back fails too (the same broken credential): the run still ends with pre-flight's words
    alone, and not before the read-back has finished."""
    calls: dict[str, int] = {}
    read_backs: list[str] = []

    async def read_back(payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.2)
        read_backs.append("done")
        raise OSError("the suppressions could not be read")

    refused = "the credential of connection c1 was refused by Brevo"
    instance, committed = await run_to_failure(
        stand_in_activities(calls),
        {names.CHECK_DESTINATION: lambda payload: {"refused": refused}, names.READ_SUPPRESSIONS: read_back},
    )

    assert instance.error is not None and refused in instance.error
    assert [c["errors"] for c in committed] == [[refused]]
    assert len(read_backs) == 3  # every attempt ran to its end before the run did (not left running)
    assert names.DIFF_PARTITION not in calls
