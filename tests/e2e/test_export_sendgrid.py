"""End to end through the real orchestrator (in-process Durable replay), Azurite and the SendGrid simulator."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from destinations.sendgrid import SendGridDestination
from devtools.local_env import LocalEnv, local_env
from devtools.sample_data import seed_sample
from shared.models import RunStatus
from shared.orchestration import activities
from shared.pipeline.apply import POLL_WAVE

pytestmark = pytest.mark.e2e


# Batches of 500 (SendGrid takes 30,000): a few thousand profiles make several jobs in several apply units.
SMALL_BATCHES = dataclasses.replace(SendGridDestination.limits, upsert_batch_items=500)


@pytest.fixture
def env(azurite: str) -> Iterator[LocalEnv]:
    settings = {"rows_per_partition": 1000, "first_poll_seconds": 0.05, "max_poll_seconds": 0.2}
    with local_env("sendgrid", azurite, simulator_options={"job_delay": 0.05}, settings=settings) as environment:
        environment.add_connection()
        yield environment


def put_emails(env: LocalEnv) -> list[str]:
    return [c["email"] for r in env.simulator.requests if r.method == "PUT" for c in r.json()["contacts"]]


async def test_full_export_delivers_exactly_the_valid_deduplicated_profiles(env: LocalEnv) -> None:
    sample = seed_sample(env.runtime.segments, 3000)
    unsubscribed = sorted(sample.expected)[:3]
    for email in unsubscribed:
        env.simulator.suppress(email, env.target_id, {"first_name": "Before"})
    env.add_export()

    instance, report = await env.run("weekly")

    assert report is not None, instance.error
    assert report.rejected_rows_blob is not None
    assert report.status is RunStatus.SUCCEEDED, report.errors
    assert report.profiles_read == sample.rows
    assert report.outcomes.total() == sample.rows
    assert report.outcomes.invalid == sample.invalid
    assert report.outcomes.duplicate == sample.duplicate
    assert report.outcomes.suppressed == len(unsubscribed)
    assert report.outcomes.upserted == len(sample.expected) - len(unsubscribed)
    members = env.simulator.members(env.target_id)
    assert set(members) == set(sample.expected) - set(unsubscribed)
    first = sorted(members)[0]
    assert members[first]["first_name"] == sample.expected[first]["first_name"]  # first occurrence wins
    for email in unsubscribed:
        assert env.simulator.subscription_status(email, env.target_id) == "unsubscribed"
        assert email not in put_emails(env)
    # every failure is in the rejected-rows file, with a reason, and nothing else is
    rejected = env.runtime.store.read_bytes(report.rejected_rows_blob).decode().splitlines()
    assert len(rejected) - 1 == sample.invalid + sample.duplicate + len(unsubscribed)
    # the custom fields are read once per run (pre-flight), however many activities beside and after it
    field_reads = [
        r for r in env.simulator.requests if r.method == "GET" and r.path == "/v3/marketing/field_definitions"
    ]
    assert len(field_reads) == 1


async def test_rerun_with_nothing_changed_sends_nothing(env: LocalEnv) -> None:
    sample = seed_sample(env.runtime.segments, 1000)
    env.add_export()
    _, first = await env.run("weekly")
    assert first is not None and first.outcomes.upserted == len(sample.expected)
    env.simulator.reset_log()

    _, second = await env.run("weekly")

    assert second is not None
    assert second.outcomes.unchanged == len(sample.expected)
    assert second.outcomes.total() == sample.rows
    assert env.simulator.writes() == []


async def test_interrupted_run_is_finished_by_a_rerun_without_resending(
    env: LocalEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = seed_sample(env.runtime.segments, 4000)
    env.add_export()
    # Eight batches in four apply units, so one unit can fail alone.
    monkeypatch.setattr(
        SendGridDestination, "limits", dataclasses.replace(SendGridDestination.limits, upsert_batch_items=500)
    )
    calls: dict[str, Any] = {"n": 0, "broken": None}
    original = activities.apply_unit

    async def flaky(runtime, root, unit, *, deadline=None):  # the third unit always fails
        calls["n"] += 1
        if calls["n"] == 3:
            calls["broken"] = unit
        if unit == calls["broken"]:
            raise RuntimeError("worker lost")
        return await original(runtime, root, unit, deadline=deadline)

    monkeypatch.setattr(activities, "apply_unit", flaky)
    _, first = await env.run("weekly", trigger="on_demand")
    assert first is not None
    assert first.outcomes.total() == sample.rows
    assert first.outcomes.failed > 0 and first.outcomes.upserted > 0
    sent_first = set(put_emails(env))
    monkeypatch.setattr(activities, "apply_unit", original)
    env.simulator.reset_log()

    _, second = await env.run("weekly")

    assert second is not None
    assert second.outcomes.total() == sample.rows
    resent = set(put_emails(env))
    assert resent and not (resent & sent_first), "profiles delivered by the first run were sent again"
    assert second.outcomes.upserted == first.outcomes.failed
    assert set(env.simulator.members(env.target_id)) == set(sample.expected)


async def test_a_host_that_dies_mid_run_resumes_from_history(env: LocalEnv) -> None:
    sample = seed_sample(env.runtime.segments, 4000)
    env.add_export()
    env.host.crash_after = 6  # plan, preflight, the stages and a diff or two have completed

    instance, report = await env.run("weekly")
    assert report is None and instance.error == "host crashed (simulated)"

    resumed = await env.host.resume(instance.instance_id)
    report = env.report_of(resumed)

    assert report is not None, resumed.error
    assert report.outcomes.total() == report.profiles_read == sample.rows
    assert set(env.simulator.members(env.target_id)) == set(sample.expected)
    delivered = put_emails(env)
    assert len(delivered) == len(set(delivered)), "a profile was sent twice"


async def test_jobs_are_polled_oldest_first_and_a_round_stops_at_the_first_still_running(
    azurite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SendGridDestination, "limits", SMALL_BATCHES)
    settings = {"rows_per_partition": 1000, "first_poll_seconds": 0.02, "max_poll_seconds": 0.05}
    with local_env("sendgrid", azurite, simulator_options={"job_delay": 0.4}, settings=settings) as env:
        env.add_connection()
        seed_sample(env.runtime.segments, 4000)
        env.add_export()
        rounds = 0

        def count(kind: str, payload: dict[str, Any]) -> None:
            nonlocal rounds
            rounds += kind == "completed" and payload.get("name") == "poll_jobs"

        env.host.on_event = count
        _, report = await env.run("weekly")
        assert report is not None and report.outcomes.failed == 0
        jobs = [r for r in env.simulator.requests if r.method == "PUT" and r.status == 202]
        # Answered polls: each poll activity paces itself afresh, so the first requests of a sweep can
        # meet a 429 left by the previous round's; those are retried after Retry-After, not extra polls.
        polls = [r for r in env.simulator.requests if "/contacts/imports/" in r.path and r.status != 429]
        assert len(jobs) >= 4
        assert rounds >= 1  # the jobs outlived a round: asking every job each round would exceed the bound
        # Each job is read once when done; a round spends at most one wave on jobs still running, and the
        # newest job's poll that checks the vendor keeps to the order.
        assert len(polls) <= len(jobs) + rounds * (POLL_WAVE + 1), (len(polls), len(jobs), rounds)
        # The oldest job (the first the simulator accepted) is polled again only in later rounds, once per
        # round at most. (Not the first job polled: a round asks the oldest and the newest at once, and the
        # newest may be asked again by the sweep of the same round.)
        oldest = f"/v3/marketing/contacts/imports/{next(iter(env.simulator.jobs))}"
        assert any(r.path == oldest for r in polls)
        assert sum(1 for r in polls if r.path == oldest) <= rounds


async def test_bad_input_is_named_by_file_and_line_and_loses_nothing_else(env: LocalEnv) -> None:
    good = "email,first_name,last_name,phone,city,country\n"
    good += "ok1@example.com,Ada,L,,Oslo,Norway\n"
    good += "short@example.com,Only\n"  # too few fields
    good += "ok2@example.com,Bob,M,,Lyon,France,EXTRA\n"  # one field too many
    good += "ok3(at)example.com,Cy,N,,Pune,India\n"  # not an address
    good += "ok4@example.com,Di,O,,Austin,United States\n"
    env.runtime.segments.write_bytes("segments/vip-customers/part-0.csv", good.encode())
    env.runtime.segments.write_bytes("segments/newsletter/part-0.csv", b"mail,first_name\nx@example.com,X\n")
    env.add_export()

    _, report = await env.run("weekly")

    # The file without an email column is held back, named with its line; the other file goes on.
    assert report is not None and report.status.value == "completed_with_errors"
    assert [(h.blob, h.line, h.rows) for h in report.held_back] == [("segments/newsletter/part-0.csv", 1, 1)]
    assert any("segments/newsletter/part-0.csv, line 1" in e and "'email'" in e for e in report.errors), report.errors
    assert report.outcomes.total() == report.profiles_read == 5
    assert set(env.simulator.members(env.target_id)) == {"ok1@example.com", "ok4@example.com"}
    rejected = env.runtime.store.read_bytes(report.rejected_rows_blob or "").decode()
    lines = rejected.splitlines()
    assert any("part-0.csv" in row and ",3," in row and "expected 6 fields, found 2" in row for row in lines), lines
    assert any(",4," in row and "found 7" in row for row in lines), lines
    assert any(",5," in row and "malformed email" in row for row in lines), lines
    assert any("newsletter/part-0.csv,1," in row and "file held back" in row for row in lines), lines
    assert report.outcomes.invalid == 3 and report.outcomes.upserted == 2
