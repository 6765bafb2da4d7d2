"""Durable semantics end to end, every function invoked through the real worker runtime: a fault is
retried by the extension's retry (not by the activity swallowing it), and a run that fails ends with
runtime status ``Failed`` — what alerts key on — with its report written all the same."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from devtools.durable_host import TASK_FAILED, TASK_SCHEDULED
from devtools.local_env import LocalEnv, local_env
from devtools.sample_data import seed_sample
from shared.models import RunStatus
from shared.orchestration.names import CHECK_DESTINATION

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(azurite: str) -> Iterator[LocalEnv]:
    # max_attempts=1: the adapter does not retry a 5xx itself, so the activity raises and the
    # Durable retry is what has to recover.
    settings = {"rows_per_partition": 1000, "max_attempts": 1, "first_poll_seconds": 0.2, "max_poll_seconds": 0.5}
    with local_env("sendgrid", azurite, simulator_options={"job_delay": 0.1}, settings=settings) as env:
        yield env


async def test_a_503_on_an_activitys_first_attempt_is_retried_by_durable_and_the_run_completes(env: LocalEnv) -> None:
    env.add_connection()
    sample = seed_sample(env.runtime.segments, 1500)
    env.add_export()
    # Pre-flight's key check (the suppressions are read beside it, so "the first GET" could be theirs).
    env.simulator.inject(503, times=1, method="GET", path_contains="/v3/scopes")

    instance, report = await env.run("weekly")

    assert instance.status is OrchestrationRuntimeStatus.Completed, instance.error
    assert report is not None and report.status is RunStatus.SUCCEEDED, report and report.errors
    assert report.outcomes.upserted == len(sample.expected)
    failures = [e for e in instance.history if e["EventType"] == TASK_FAILED]
    assert len(failures) == 1
    # The text the Durable extension gives an activity failure, as the orchestrator receives it.
    assert failures[0]["Reason"].startswith(
        f"Activity function '{CHECK_DESTINATION}' failed: Result: Failure\nException: VendorUnavailable: "
    )
    attempts = [e for e in instance.history if e["EventType"] == TASK_SCHEDULED and e["Name"] == CHECK_DESTINATION]
    assert len(attempts) == 2


async def test_a_refused_credential_fails_the_run_with_its_report_written(env: LocalEnv) -> None:
    env.add_connection(secret="SG.not-the-key")
    seed_sample(env.runtime.segments, 500)
    env.add_export()

    instance, report = await env.run("weekly")

    assert instance.status is OrchestrationRuntimeStatus.Failed
    assert instance.error is not None
    assert instance.error.startswith("Orchestrator function 'export_orchestrator' failed")
    assert report is not None and report.status is RunStatus.FAILED
    assert any("credential" in error for error in report.errors), report.errors
    assert report.outcomes.total() == report.profiles_read
    assert "SG.not-the-key" not in instance.error and all("SG.not-the-key" not in e for e in report.errors)
    assert env.simulator.writes() == []


async def test_a_run_of_an_export_that_does_not_exist_fails_with_a_report(env: LocalEnv) -> None:
    instance, report = await env.run("nowhere")

    assert instance.status is OrchestrationRuntimeStatus.Failed
    assert report is not None and report.status is RunStatus.FAILED and report.profiles_read == 0
    assert any("nowhere" in error for error in report.errors), report.errors


async def test_apply_stops_at_its_time_budget_and_is_called_again_for_the_rest(azurite: str) -> None:
    """However slow the vendor, no apply activity outlasts the budget: it stops starting batches at the
    budget, reports ``more``, and the orchestrator calls it again until every batch went out."""
    settings = {
        "rows_per_partition": 4000,  # one partition
        "vendor_time_scale": 0.05,
        "activity_budget_seconds": 10,  # 0.5 s at this scale
        "batch_concurrency": 1,  # batches one after another: four of them take longer than the budget
        "first_poll_seconds": 0.2,
        "max_poll_seconds": 0.5,
    }
    # Campaign Monitor takes 1,000 subscribers a request; 0.4 s of latency each (at this scale).
    options = {"latency": 8.0, "time_scale": 0.05}
    with local_env("campaign_monitor", azurite, simulator_options=options, settings=settings) as env:
        env.add_connection()
        sample = seed_sample(env.runtime.segments, 3500)
        env.add_export()

        instance, report = await env.run("weekly")

        assert report is not None and report.status is RunStatus.SUCCEEDED, report and report.errors
        assert report.outcomes.upserted == len(sample.expected)
        assert set(env.simulator.members(env.target_id)) == set(sample.expected)
        applies = [e for e in instance.history if e["EventType"] == TASK_SCHEDULED and e["Name"] == "apply_batches"]
        assert len(applies) >= 2, "the apply was not split at its budget"
        delivered = env.simulator.upserted_emails()
        assert len(delivered) == len(set(delivered)), "a unit sent again what an earlier one had sent"


async def test_a_job_that_never_finishes_is_given_up_its_rows_named_and_resent_next_run(azurite: str) -> None:
    """Waiting is bounded: a vendor job stalled for ever is given up after EXPORT_POLL_GIVE_UP_SECONDS;
    its rows are failed with the vendor's job id, never called upserted, and the next run resends them."""
    settings = {
        "rows_per_partition": 1000,
        "first_poll_seconds": 0.2,
        "max_poll_seconds": 0.5,
        "poll_give_up_seconds": 3,
    }
    with local_env("sendgrid", azurite, simulator_options={"job_delay": 0.1}, settings=settings) as env:
        env.add_connection()
        sample = seed_sample(env.runtime.segments, 400)
        env.add_export()
        env.simulator.scenario.next_job("pending", times=1)  # SendGrid's import stays pending for ever

        instance, report = await env.run("weekly")

        assert report is not None, instance.error
        # Nothing could be confirmed delivered: the run failed (and says why), nothing is lost.
        assert report.status is RunStatus.FAILED, report.errors
        assert instance.status is OrchestrationRuntimeStatus.Failed
        assert report.outcomes.failed == len(sample.expected) and report.outcomes.upserted == 0
        assert any("given up" in error for error in report.errors), report.errors
        rejected = env.runtime.store.read_bytes(report.rejected_rows_blob or "").decode()
        assert "the vendor's job" in rejected and "had not finished" in rejected

        env.simulator.scenario.clear()
        env.simulator.reset_log()
        _, again = await env.run("weekly")
        assert again is not None and again.status is RunStatus.SUCCEEDED, again.errors
        assert sorted(env.simulator.upserted_emails()) == sorted(sample.expected)
