"""Every fault profile against every vendor, and a hostile-input export per vendor; each followed by a
clean rerun. Nothing may be lost, no credential may leak, the vendor's list must end exactly as
expected, and no contact that unsubscribed may be subscribed again. ``tests/reliability/conftest.py``
prints the table of what each scenario measured (``scenarios.py`` says how) at the end of the session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.azurite import Azurite
from devtools.durable_host import Instance
from devtools.local_env import LocalEnv
from devtools.sample_data import Sample, seed_sample
from shared.models import RunReport, RunStatus
from shared.orchestration.names import COMMIT_RUN, STAGE_PART
from shared.scrub import Scrubber
from simulators import REGISTRY, simulator_class
from tests.e2e.test_hostile_inputs import seed_hostile
from tests.reliability.scenarios import (
    PROFILES,
    REFUSED,
    SETTINGS,
    SUBSCRIBED,
    Result,
    StorageFreeze,
    canary,
    frozen_storage_env,
    inject,
    jobs_left,
    leaks,
    mapping_for_hostile,
    out_of,
    read_list,
    record,
    resend_bound,
    scenario_env,
    sent_more_than_once,
    simulator_of,
    suppress_some,
)

pytestmark = pytest.mark.e2e

FREEZE_SECONDS = 2.0  # under the storage SDK's timeouts: requests wait, then complete

VENDORS = sorted(REGISTRY)
CASES = [(vendor, profile) for vendor in VENDORS for profile in simulator_class(vendor)().fault_profiles()]


def status_of(report: RunReport | None) -> str:
    return report.status.value if report is not None else "no report"


async def run_twice(env: LocalEnv, after_first: Any = None) -> tuple[list[Instance], list[RunReport | None]]:
    """The faulted run, then ``after_first()`` (faults off), then the clean rerun."""
    first_instance, first = await env.run("weekly")
    if after_first is not None:
        after_first()
    rerun_instance, rerun = await env.run("weekly")
    return [first_instance, rerun_instance], [first, rerun]


def conclude(
    result: Result,
    env: LocalEnv,
    *,
    key: str,
    expected: set[str],
    unsubscribed: dict[str, str],
    instances: list[Instance],
    reports: list[RunReport | None],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    started: float,
) -> None:
    """Measure, record the table row, then assert."""
    first, rerun = reports
    records = list(caplog.records)
    captured = capsys.readouterr()
    result.outcomes_out = out_of(first)
    result.lost = sum(max(0, result.profiles_in - out_of(r)) for r in reports)
    result.sent_twice = sent_more_than_once(simulator_of(env), env.target_id)
    result.leaks = leaks(Scrubber([key]), env, records, instances, reports, captured.out + captured.err)
    result.secrets_leaked = len(result.leaks)
    sent = set(env.simulator.upserted_emails())
    after = read_list(env, key, expected | sent | set(unsubscribed))
    result.missing = sorted(expected - set(after))
    result.extra = sorted(set(after) - expected)
    result.list_equal = not result.missing and not result.extra
    result.resubscribed = sum(
        1 for email, was in unsubscribed.items() if was not in SUBSCRIBED and after.get(email) in SUBSCRIBED
    )
    result.statuses = f"{status_of(first)} → {status_of(rerun)}"
    record(result, started)

    assert first is not None, f"the faulted run wrote no report: {instances[0].error}"
    assert rerun is not None, f"the rerun wrote no report: {instances[1].error}"
    for name, report in (("faulted run", first), ("rerun", rerun)):
        assert out_of(report) == result.profiles_in, (
            f"{name}: {result.profiles_in} profiles in the files, {out_of(report)} accounted for "
            f"({report.outcomes}, held back {[(h.blob, h.rows) for h in report.held_back]})"
        )
    assert result.secrets_leaked == 0, result.leaks
    assert result.list_equal, f"missing {result.missing[:10]} ({len(result.missing)}), extra {result.extra[:10]}"
    assert result.resubscribed == 0, {e: after.get(e) for e in unsubscribed}
    assert all(unsubscribed[e] not in SUBSCRIBED for e in unsubscribed), unsubscribed  # the setup took hold
    assert rerun.outcomes.failed == 0 and rerun.outcomes.rejected == 0, (rerun.outcomes, rerun.errors)
    assert result.sent_twice <= result.sent_twice_bound, (
        f"{result.sent_twice} rows sent more than once; {result.faults} faults × one batch "
        f"(as {result.vendor} retries) allow {result.sent_twice_bound}"
    )


def prepare(env: LocalEnv, seed: str, caplog: pytest.LogCaptureFixture) -> tuple[str, Sample, dict[str, str]]:
    """A canary credential, the sample segments, a few expected contacts unsubscribed in the vendor and an
    export: (the canary, the sample, email → status read back before the run)."""
    key = canary(env.vendor, seed)
    simulator_of(env).api_key = key
    env.add_connection()
    sample = seed_sample(env.runtime.segments, PROFILES)
    chosen = suppress_some(env, sample.expected)
    unsubscribed = {e: read_list(env, key, chosen).get(e, "absent") for e in chosen}
    caplog.clear()  # the read-back is the test's own, not the product's
    env.add_export()
    return key, sample, unsubscribed


@pytest.mark.parametrize(("vendor", "profile"), CASES, ids=[f"{v}-{p}" for v, p in CASES])
async def test_a_fault_loses_nothing_and_the_rerun_finishes_the_work(
    azurite: str,
    vendor: str,
    profile: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with scenario_env(vendor, azurite, SETTINGS) as env:
        sim = simulator_of(env)
        key, sample, unsubscribed = prepare(env, profile, caplog)
        result = Result(profile, vendor, profiles_in=sample.rows)
        planned = inject(sim, profile, env.target_id, sorted(sample.expected)[10 : 10 + REFUSED])

        def faults_off() -> None:
            # Job profiles: the planned endings some job reached (the rest are drained unused).
            result.faults = sim.faults_answered + (planned - jobs_left(sim) if planned else 0)
            sim.scenario.clear()

        instances, reports = await run_twice(env, faults_off)
        result.sent_twice_bound = resend_bound(vendor, result.faults, sample.rows)
        conclude(
            result,
            env,
            key=key,
            expected=set(sample.expected),
            unsubscribed=unsubscribed,
            instances=instances,
            reports=reports,
            caplog=caplog,
            capsys=capsys,
            started=started,
        )
        assert result.faults >= 1, f"{profile} was switched on but no request or job met it"
        first, rerun = reports
        # The vendor refused no row here but those it is told to refuse (error_file_unavailable) or a job it
        # says failed (job_fails: its own word): a row whose fate no answer tells is `failed`, never `rejected`.
        refused = {"error_file_unavailable": REFUSED, "job_fails": sample.rows}.get(profile, 0)
        assert first is not None
        assert first.outcomes.rejected <= refused, (first.outcomes, first.errors)
        assert rerun is not None
        assert rerun.status is RunStatus.SUCCEEDED, (rerun.status, rerun.errors)


@pytest.fixture(scope="module")
def private_azurite() -> Iterator[Azurite]:
    """An Azurite of these scenarios alone: stopping it disturbs no other test."""
    with Azurite() as instance:
        yield instance
        if instance.process is not None:
            instance.process.kill()  # its data is not needed: skip the wait for idle connections on SIGTERM
            instance.process.wait()


@pytest.mark.parametrize("activity", [STAGE_PART, COMMIT_RUN])
async def test_storage_stopped_for_a_while_loses_nothing(
    private_azurite: Azurite,
    activity: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    vendor = "sendgrid"
    assert private_azurite.process is not None
    freeze = StorageFreeze(private_azurite.process.pid, activity, FREEZE_SECONDS)
    with frozen_storage_env(vendor, private_azurite, freeze) as env:
        key, sample, unsubscribed = prepare(env, activity, caplog)
        result = Result(f"Azurite stopped {FREEZE_SECONDS:g} s in {activity}", vendor, profiles_in=sample.rows)

        def faults_off() -> None:
            result.faults = freeze.freezes
            freeze.close()

        instances, reports = await run_twice(env, faults_off)
        result.sent_twice_bound = 0  # the vendor answered every request: nothing justifies a resend
        conclude(
            result,
            env,
            key=key,
            expected=set(sample.expected),
            unsubscribed=unsubscribed,
            instances=instances,
            reports=reports,
            caplog=caplog,
            capsys=capsys,
            started=started,
        )
        assert result.faults == 1, f"no {activity} was scheduled while the freeze was armed"
        assert all(r is not None and r.status is RunStatus.SUCCEEDED for r in reports), [
            (r.status, r.errors) for r in reports if r is not None
        ]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_hostile_input_loses_nothing_and_the_rerun_changes_nothing(
    azurite: str,
    vendor: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    # The multi-megabyte lines would size the run at dozens of partitions; one keeps it quick.
    settings = {**SETTINGS, "rows_per_partition": 1_000_000}
    with scenario_env(vendor, azurite, settings) as env:
        key = canary(vendor, "hostile")
        simulator_of(env).api_key = key
        env.add_connection()
        truth = seed_hostile(env)
        expected = set(truth["expected"])  # type: ignore[call-overload]
        held = dict(truth["held"])  # type: ignore[call-overload]
        mapping = mapping_for_hostile(vendor)
        if "country" not in mapping.values():
            # The JSON Lines file held back for lacking 'country' holds everything else this mapping reads.
            del held["segments/jsonl/f.jsonl.gz"]
            expected |= {f"h09{i:02d}@example.com" for i in range(5)}
        chosen = suppress_some(env, expected)
        unsubscribed = {e: read_list(env, key, chosen).get(e, "absent") for e in chosen}
        caplog.clear()
        env.add_export(
            segments=["segments/csv", "segments/jsonl", "segments/parquet", "segments/cdm"], field_mapping=mapping
        )

        result = Result("hostile input", vendor, profiles_in=int(truth["rows_in_files"]))  # type: ignore[call-overload]
        instances, reports = await run_twice(env)
        conclude(
            result,
            env,
            key=key,
            expected=expected,
            unsubscribed=unsubscribed,
            instances=instances,
            reports=reports,
            caplog=caplog,
            capsys=capsys,
            started=started,
        )
        first, rerun = reports
        assert first is not None and rerun is not None
        assert {h.blob for h in first.held_back} == set(held), first.held_back
        assert first.outcomes.invalid == len(truth["invalid"]), first.outcomes  # type: ignore[arg-type]
        assert rerun.outcomes.upserted == 0, "the rerun sent again what the first run delivered"
