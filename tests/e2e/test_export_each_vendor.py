"""The same sample exported to every vendor through the in-process orchestration: invalid rows,
duplicates across two segments in two formats, and contacts already unsubscribed in the vendor."""

from __future__ import annotations

import pytest

from devtools.local_env import local_env
from devtools.sample_data import seed_sample
from shared.models import RunStatus
from tests.contract.vendor_cases import CASES

pytestmark = pytest.mark.e2e

# Vendor time runs 10x faster: simulator windows, latency and job delays and the pipeline's pacer are
# scaled alike, so the documented limits keep their shape and are still enforced.
TIME_SCALE = 0.1


@pytest.mark.parametrize("vendor", sorted(CASES))
async def test_export_delivers_the_valid_deduplicated_subscribable_profiles(azurite: str, vendor: str) -> None:
    settings = {
        "rows_per_partition": 1000,
        "first_poll_seconds": 0.5,
        "max_poll_seconds": 2.0,
        "vendor_time_scale": TIME_SCALE,
    }
    with local_env(
        vendor, azurite, simulator_options={"job_delay": 0.2, "time_scale": TIME_SCALE}, settings=settings
    ) as env:
        env.add_connection()
        sample = seed_sample(env.runtime.segments, 3000)
        unsubscribed = sorted(sample.expected)[:4]
        for email in unsubscribed:
            env.simulator.suppress(email, env.target_id, {"first_name": "Before"})
        env.add_export()

        instance, report = await env.run("weekly")

        assert report is not None, instance.error
        assert report.status is RunStatus.SUCCEEDED, report.errors
        assert report.outcomes.total() == report.profiles_read == sample.rows
        assert report.outcomes.invalid == sample.invalid
        assert report.outcomes.duplicate == sample.duplicate
        assert report.outcomes.suppressed == len(unsubscribed)
        assert report.outcomes.upserted == len(sample.expected) - len(unsubscribed)
        assert set(env.simulator.members(env.target_id)) == set(sample.expected) - set(unsubscribed)
        for email in unsubscribed:
            assert env.simulator.subscription_status(email, env.target_id) not in ("subscribed", None)
        # The same, read back as an integrator would: through the vendor's own read endpoints.
        listed = env.read_back(sample.expected)
        active = {email for email, status in listed.items() if status in ("subscribed", "active")}
        assert active == set(sample.expected) - set(unsubscribed)
        assert all(listed[email] not in ("subscribed", "active") for email in unsubscribed), listed
        delivered = env.simulator.upserted_emails()
        assert len(delivered) == len(set(delivered)), "a profile was sent twice"

        env.simulator.reset_log()
        _, again = await env.run("weekly")
        assert again is not None and again.outcomes.unchanged == report.outcomes.upserted
        assert again.outcomes.suppressed == len(unsubscribed)
        assert env.simulator.upserted_emails() == []


@pytest.mark.parametrize("vendor", ["mailchimp", "omnisend", "campaign_monitor"])
async def test_cut_reads_no_change_rows_for_a_vendor_without_a_body_limit(
    azurite: str, vendor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Their batches are cut by count alone: the diffs' counts are enough, and reading every change of the
    # run (tens of megabytes at 1M) would only delay the first request.
    from shared.pipeline import cut

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("cut read change rows")

    monkeypatch.setattr(cut, "read_diff", refused)
    settings = {"rows_per_partition": 1000, "vendor_time_scale": TIME_SCALE}
    with local_env(vendor, azurite, simulator_options={"time_scale": TIME_SCALE}, settings=settings) as env:
        env.add_connection()
        sample = seed_sample(env.runtime.segments, 2500)
        env.add_export()
        instance, report = await env.run("weekly")
        assert report is not None, instance.error
        assert report.status is RunStatus.SUCCEEDED, report.errors
        assert report.outcomes.upserted == len(sample.expected)
        assert set(env.simulator.members(env.target_id)) == set(sample.expected)
