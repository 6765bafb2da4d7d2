"""Through the whole run (in-process orchestration, Azurite, the vendor's simulator): when the vendor keeps
some rows and drops others, the run's outcomes name exactly the dropped rows with the vendor's reason, the
vendor's list holds exactly the kept ones, and the next run sends again only the dropped ones (so the
snapshot recorded exactly the kept ones). A job that vanishes fails its rows, and the next run resends them."""

from __future__ import annotations

import pytest

from devtools.local_env import local_env
from devtools.sample_data import seed_sample
from shared.models import RunStatus

TIME_SCALE = 0.1
SETTINGS = {
    "rows_per_partition": 1000,
    "first_poll_seconds": 0.2,
    "max_poll_seconds": 0.5,
    "vendor_time_scale": TIME_SCALE,
}
KEEPS_SOME = {"sendgrid": "errored", "brevo": "completed", "omnisend": "finished"}
REASON = "the vendor refused this row for the test"
# What the run reports as the reason: the vendor's own words (Brevo's report files name a kind, not words).
REPORTED = {"sendgrid": REASON, "brevo": "Brevo refused the address as invalid", "omnisend": REASON}


def rejected_rows(env, report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """email → outcome and reason, from the run's rejected-rows file."""
    lines = env.runtime.store.read_bytes(report.rejected_rows_blob).decode().splitlines()
    header = lines[0].split(",")
    rows = {}
    for line in lines[1:]:
        values = dict(zip(header, line.split(",", len(header) - 1), strict=False))
        rows[values.get("email", "")] = line
    return rows


@pytest.mark.parametrize("vendor", sorted(KEEPS_SOME))
async def test_dropped_rows_are_named_and_only_they_are_sent_again(azurite: str, vendor: str) -> None:
    options = {"job_delay": 0.05, "time_scale": TIME_SCALE}
    with local_env(vendor, azurite, simulator_options=options, settings=SETTINGS) as env:
        env.add_connection()
        sample = seed_sample(env.runtime.segments, 300)
        dropped = sorted(sample.expected)[5:7]
        env.simulator.scenario.next_job(KEEPS_SOME[vendor], reject=dict.fromkeys(dropped, REASON), times=50)
        env.add_export()

        instance, report = await env.run("weekly")
        assert report is not None, instance.error
        # (The run status for rejected rows is commit's to decide: issue 13.)
        assert report.outcomes.rejected == len(dropped)
        assert report.outcomes.failed == 0
        assert report.outcomes.upserted == len(sample.expected) - len(dropped)
        assert set(env.simulator.members(env.target_id)) == set(sample.expected) - set(dropped)
        rows = rejected_rows(env, report)
        for email in dropped:
            assert email in rows and "rejected" in rows[email] and REPORTED[vendor] in rows[email], rows.get(email)

        env.simulator.scenario.clear()
        env.simulator.reset_log()
        _, again = await env.run("weekly")
        assert again is not None
        assert sorted(env.simulator.upserted_emails()) == dropped
        assert again.outcomes.upserted == len(dropped)
        assert set(env.simulator.members(env.target_id)) == set(sample.expected)


@pytest.mark.parametrize("vendor", sorted(KEEPS_SOME))
async def test_a_vanished_job_fails_its_rows_and_the_next_run_resends_them(azurite: str, vendor: str) -> None:
    options = {"job_delay": 0.05, "time_scale": TIME_SCALE}
    with local_env(vendor, azurite, simulator_options=options, settings=SETTINGS) as env:
        env.add_connection()
        sample = seed_sample(env.runtime.segments, 120)
        env.simulator.scenario.next_job("vanish", times=50)
        env.add_export()

        instance, report = await env.run("weekly")
        assert report is not None, instance.error
        assert report.status is not RunStatus.SUCCEEDED
        assert report.outcomes.upserted == 0
        assert report.outcomes.failed == len(sample.expected)

        env.simulator.scenario.clear()
        env.simulator.reset_log()
        _, again = await env.run("weekly")
        assert again is not None and again.status is RunStatus.SUCCEEDED, again.errors
        assert sorted(env.simulator.upserted_emails()) == sorted(sample.expected)
        assert set(env.simulator.members(env.target_id)) == set(sample.expected)


async def test_a_credential_refused_during_apply_names_the_connection_and_the_fix(azurite: str) -> None:
    with local_env("sendgrid", azurite, simulator_options={"job_delay": 0.05}, settings=SETTINGS) as env:
        env.add_connection(display_name="Newsletter account")
        seed_sample(env.runtime.segments, 50)
        env.add_export()
        # Pre-flight passes; the key is revoked before the upsert.
        env.simulator.inject(401, path_contains="/v3/marketing/contacts", method="PUT", times=20)
        instance, report = await env.run("weekly")
        errors = " ".join(report.errors if report is not None else [str(instance.error)])
        assert "Newsletter account (main)" in errors, errors
        assert "update the credential of connection" in errors
        assert env.simulator.api_key not in errors
