"""Every non-happy state of every vendor, through the whole run (orchestration, Azurite, simulator):
the vendor keeps some rows and drops or loses others; the run names exactly those rows (with the vendor's
reason when it gave one), the snapshot records only what the vendor said it kept (so the next run sends
again exactly the others), and the vendor's list — read back through its own API — ends complete.

- jobs that end ``failed``/``cancelled``/``stopped`` after storing part of a batch: the vendor does not
  say which rows it kept, so none of that batch is called upserted; all are ``failed``, named, resent;
- Mailchimp and Campaign Monitor answer per member: an address the vendor calls fake is ``rejected``
  with the vendor's words; a member the vendor holds as cleaned/bounced or deleted is ``suppressed`` and
  never sent again.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from devtools.local_env import LocalEnv, local_env
from devtools.sample_data import seed_sample
from shared.models import RunStatus

TIME_SCALE = 0.1
SETTINGS = {
    "rows_per_partition": 1000,
    "first_poll_seconds": 0.2,
    "max_poll_seconds": 0.5,
    "vendor_time_scale": TIME_SCALE,
}
OPTIONS = {"job_delay": 0.05, "time_scale": TIME_SCALE}
# (vendor, terminal state that stores only part of the batch)
PARTIAL_JOBS = [
    ("sendgrid", "failed"),
    ("brevo", "failed"),
    ("brevo", "cancelled"),
    ("omnisend", "stopped"),
]


def rejected_file(env: LocalEnv, blob: str | None) -> dict[str, dict[str, str]]:
    """email → row of the run's rejected-rows file."""
    assert blob is not None
    text = env.runtime.store.read_bytes(blob).decode()
    return {row.get("email", ""): row for row in csv.DictReader(io.StringIO(text))}


def active(env: LocalEnv, emails: Any) -> set[str]:
    return {e for e, status in env.read_back(emails).items() if status in ("subscribed", "active")}


@pytest.mark.parametrize(("vendor", "state"), PARTIAL_JOBS, ids=[f"{v}-{s}" for v, s in PARTIAL_JOBS])
async def test_a_job_that_ends_part_way_fails_its_rows_and_the_next_run_resends_exactly_them(
    azurite: str, vendor: str, state: str
) -> None:
    with local_env(vendor, azurite, simulator_options=OPTIONS, settings=SETTINGS) as env:
        env.add_connection()
        sample = seed_sample(env.runtime.segments, 300)
        env.simulator.scenario.next_job(state, apply_first=40, times=1)
        env.add_export()

        instance, report = await env.run("weekly")
        assert report is not None, instance.error
        assert report.status is not RunStatus.SUCCEEDED
        assert report.outcomes.total() == report.profiles_read == sample.rows
        # Never more called upserted than the vendor kept; every other row named, with a reason, as
        # rejected (the vendor named it in its error report) or failed (its fate is unknown).
        not_kept = report.outcomes.rejected + report.outcomes.failed
        assert not_kept > 0
        assert report.outcomes.upserted + not_kept == len(sample.expected)
        named = rejected_file(env, report.rejected_rows_blob)
        failed = {email for email, row in named.items() if row.get("outcome") in ("failed", "rejected")}
        assert len(failed) == not_kept
        assert all(named[email].get("reason") for email in failed)
        called_upserted = set(sample.expected) - failed
        assert called_upserted <= active(env, sample.expected), "a row was called upserted the vendor does not hold"

        env.simulator.scenario.clear()
        env.simulator.reset_log()
        _, again = await env.run("weekly")
        assert again is not None and again.status is RunStatus.SUCCEEDED, again.errors
        assert set(env.simulator.upserted_emails()) == failed  # exactly the rows not known to be kept
        assert again.outcomes.upserted == len(failed)
        assert active(env, sample.expected) == set(sample.expected)


def write_segment(env: LocalEnv, emails: list[str]) -> None:
    lines = ["email,first_name,last_name"] + [f"{e},Ann,Lee" for e in emails]
    env.runtime.segments.write_bytes("segments/members/part-0.csv", ("\n".join(lines) + "\n").encode())


@pytest.mark.parametrize("vendor", ["mailchimp", "campaign_monitor"])
async def test_per_member_refusals_are_named_with_the_vendors_words_and_never_hide_a_kept_row(
    azurite: str, vendor: str
) -> None:
    with local_env(vendor, azurite, simulator_options=OPTIONS, settings=SETTINGS) as env:
        env.add_connection()
        good = [f"member{i:04d}@example.com" for i in range(60)]
        fake = ["someone@shop.test", "other@mail.invalid"]  # the vendor calls these fake / invalid
        gone = good[:2]  # the vendor already holds these as bounced (Mailchimp: cleaned) or deleted
        for email in gone:
            if vendor == "mailchimp":
                env.simulator.clean(email, env.target_id, {"FNAME": "Ann"})
            else:
                env.simulator.set_state(email, env.target_id, "Deleted")
        write_segment(env, good + fake)
        env.add_export(
            segments=["segments/members"],
            field_mapping={"email": "email", "first_name": "first_name", "last_name": "last_name"},
        )

        instance, report = await env.run("weekly")
        assert report is not None, instance.error
        assert report.outcomes.total() == report.profiles_read == len(good) + len(fake)
        assert report.outcomes.rejected == len(fake)
        assert report.outcomes.suppressed == len(gone)
        assert report.outcomes.upserted == len(good) - len(gone)
        named = rejected_file(env, report.rejected_rows_blob)
        for email in fake:
            assert named[email]["outcome"] == "rejected"
            words = "looks fake or invalid" if vendor == "mailchimp" else "Invalid Email Address"
            assert words.lower() in named[email]["reason"].lower(), named[email]
        assert active(env, good) == set(good) - set(gone)

        env.simulator.reset_log()
        _, again = await env.run("weekly")
        assert again is not None
        # Only the refused rows go again (the vendor may accept them later); the suppressed never do.
        assert sorted(env.simulator.upserted_emails()) == sorted(fake)
        assert again.outcomes.suppressed == len(gone) and again.outcomes.unchanged == len(good) - len(gone)
