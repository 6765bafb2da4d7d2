"""The benchmark's floor arithmetic (bench/floor.py), checked against cases worked out by hand from each
vendor's documented limits (destinations/*.py ``limits``) and the benchmark's latency and job delays."""

from __future__ import annotations

import pytest

from bench.floor import (
    CALLS,
    JOB_DELAY,
    LATENCY,
    Requests,
    Work,
    batch_size,
    floor_for,
    made_seconds,
    minimum_requests,
    waste,
)
from destinations import destination_class, vendors


def test_the_model_assumes_the_latencies_the_floor_cases_were_worked_out_with() -> None:
    assert LATENCY == {"sendgrid": 0.8, "mailchimp": 2.0, "brevo": 0.5, "omnisend": 0.3, "campaign_monitor": 1.0}
    assert JOB_DELAY == {"sendgrid": 5.0, "brevo": 5.0, "omnisend": 2.0}


@pytest.mark.parametrize("vendor", sorted(CALLS))
def test_every_bucket_the_floor_names_is_one_of_the_adapters_rate_buckets(vendor: str) -> None:
    limits = destination_class(vendor).limits
    calls = CALLS[vendor]
    named = {calls.upsert_bucket, *calls.preflight, calls.poll_bucket, calls.readback_bucket} - {None}
    if limits.rate_limits:
        assert named <= set(limits.rate_limits), named - set(limits.rate_limits)
    assert (calls.poll_bucket is not None) == limits.asynchronous


def test_every_vendor_has_a_floor() -> None:
    assert set(CALLS) == set(vendors())


def test_sendgrid_1m_is_bound_by_30000_contacts_a_request_and_10_requests_a_second() -> None:
    # 30,000 items vs (6,000,000 - 256) // 121 = 49,584 by bytes → 30,000 a request → ⌈1,000,000 / 30,000⌉ = 34.
    floor = floor_for("sendgrid", Work(contacts=1_000_000, contact_bytes=120))
    assert floor.requests.upserts == 34
    # scopes + 3 suppression lists (one page each), list, field ids, 34 imports, 34 polls.
    assert floor.requests.per_bucket == {"suppressions": 4, "lists": 1, "fields": 1, "contacts": 34, "imports": 34}
    # The 34th import starts after ⌊33/10⌋ = 3 windows of 1 s: 3 + 0.8 latency + 5 processing + 0.8 poll.
    assert floor.seconds == pytest.approx(9.6)
    assert "34 upserts at 10/1s" in floor.why


def test_sendgrid_large_contacts_are_bound_by_the_6_mb_body() -> None:
    limits = destination_class("sendgrid").limits
    assert batch_size(limits, 300) == 19_932  # (6,000,000 - 256) // 301
    floor = floor_for("sendgrid", Work(contacts=1_000_000, contact_bytes=300))
    assert floor.requests.upserts == 51  # ⌈1,000,000 / 19,932⌉
    assert floor.seconds == pytest.approx(5 + 0.8 + 5 + 0.8)  # ⌊50/10⌋ windows, then latency, job, poll


def test_sendgrid_1_percent_refresh_is_one_import_and_its_job() -> None:
    floor = floor_for("sendgrid", Work(contacts=10_000, contact_bytes=120))
    assert floor.requests.upserts == 1
    # pre-flight 0.8 → import 0.8 → processing 5 → poll 0.8
    assert floor.seconds == pytest.approx(7.4)


def test_brevo_1m_is_bound_by_the_8_mb_body_and_its_processing() -> None:
    # No item cap: (8,000,000 - 512) // 101 = 79,202 a request → ⌈1,000,000 / 79,202⌉ = 13 imports.
    floor = floor_for("brevo", Work(contacts=1_000_000, contact_bytes=100))
    assert floor.requests.upserts == 13
    # list + attributes + one read-back page + 13 imports in /v3/contacts; 13 polls under /v3/processes.
    assert floor.requests.per_bucket == {"contacts": 16, "other": 13}
    # The last import is the 15th request of its bucket (after the 2 pre-flight ones): ⌊14/10⌋ = 1 window,
    # + 0.5 latency + 5 processing + 0.5 poll.
    assert floor.seconds == pytest.approx(7.0)


def test_brevo_first_refresh_pages_through_every_member_the_full_export_wrote() -> None:
    floor = floor_for("brevo", Work(contacts=10_000, contact_bytes=100, readback=1_000_000))
    assert floor.requests.per_bucket == {"contacts": 2 + 1 + 1000, "other": 1}
    # 1,003 requests at 10 a second: the last starts after ⌊1002/10⌋ = 100 s, + 0.5 latency.
    assert floor.seconds == pytest.approx(100.5)
    assert "1003 contacts requests at 10/1s" in floor.why


def test_mailchimp_1m_is_bound_by_10_connections() -> None:
    floor = floor_for("mailchimp", Work(contacts=1_000_000, contact_bytes=150))
    assert floor.requests.upserts == 2000  # 500 members a call
    assert floor.requests.per_bucket == {"default": 2003}
    # ⌈2003 / 10⌉ = 201 rounds of 2 s (the chain: 2 s pre-flight + 200 rounds of 2 s — the same).
    assert floor.seconds == pytest.approx(402.0)


def test_mailchimp_1_percent_refresh() -> None:
    floor = floor_for("mailchimp", Work(contacts=10_000, contact_bytes=150))
    assert floor.requests.per_bucket == {"default": 23}
    assert floor.seconds == pytest.approx(6.0)  # pre-flight 2 s, then 20 calls in 2 rounds of 2 s


def test_omnisend_1m_is_bound_by_400_requests_a_minute_for_batches_and_their_polls() -> None:
    floor = floor_for("omnisend", Work(contacts=1_000_000, contact_bytes=250))
    assert floor.requests.upserts == 10_000  # 100 contacts a batch
    assert floor.requests.per_bucket == {"contacts": 2, "batches": 20_000}
    # 20,000 requests at 400 a minute: the last starts after ⌊19,999/400⌋ = 49 minutes, + 0.3 latency.
    assert floor.seconds == pytest.approx(49 * 60 + 0.3)


def test_omnisend_small_export_is_bound_by_its_chain() -> None:
    floor = floor_for("omnisend", Work(contacts=10_000, contact_bytes=250))
    assert floor.requests.per_bucket == {"contacts": 2, "batches": 200}
    # pre-flight 0.3, the 100 batches side by side 0.3 (beside one read-back page 0.3), processing 2, poll 0.3.
    assert floor.seconds == pytest.approx(2.9)


def test_campaign_monitor_1m_is_bound_by_10_requests_in_flight() -> None:
    floor = floor_for("campaign_monitor", Work(contacts=1_000_000, contact_bytes=120))
    assert floor.requests.per_bucket == {"default": 1003}  # 1,000 subscribers a call + 3 pre-flight
    assert floor.seconds == pytest.approx(101.0)  # ⌈1003/10⌉ rounds of 1 s


def test_campaign_monitor_1_percent_refresh() -> None:
    floor = floor_for("campaign_monitor", Work(contacts=10_000, contact_bytes=120))
    assert floor.seconds == pytest.approx(2.0)  # 13 requests: 2 rounds of 1 s


def test_a_run_with_nothing_to_send_still_pays_its_pre_flight_and_read_back() -> None:
    floor = floor_for("sendgrid", Work(contacts=0, contact_bytes=120))
    assert floor.requests.upserts == 0
    assert floor.requests.per_bucket == {"suppressions": 4, "lists": 1, "fields": 1}
    assert floor.seconds == pytest.approx(0.8)


def test_waste_is_made_over_minimum_per_bucket_and_in_total() -> None:
    minimum = minimum_requests(
        destination_class("sendgrid").limits, CALLS["sendgrid"], Work(contacts=1_000_000, contact_bytes=120)
    )
    made = {"suppressions": 4, "lists": 1, "fields": 17, "contacts": 64, "imports": 200}
    ratios = waste(made, minimum)
    assert ratios["contacts"] == pytest.approx(64 / 34, abs=0.01)
    assert ratios["fields"] == 17.0
    assert ratios["total"] == pytest.approx(286 / 74, abs=0.01)


def test_extra_requests_make_the_vendor_bound_time_longer_than_the_floor() -> None:
    floor = floor_for("sendgrid", Work(contacts=1_000_000, contact_bytes=120))
    made = {"suppressions": 4, "lists": 1, "fields": 1, "contacts": 64, "imports": 200}
    # 64 imports: ⌊63/10⌋ = 6 windows; 200 polls: ⌊199/10⌋ = 19 windows + 0.8.
    assert made_seconds("sendgrid", made, 64, floor.requests) == pytest.approx(19.8)
    assert made_seconds("sendgrid", floor.requests.per_bucket, 34, floor.requests) == pytest.approx(floor.seconds)


def test_cursor_paged_read_back_lengthens_the_chain() -> None:
    limits = destination_class("omnisend").limits
    requests = minimum_requests(limits, CALLS["omnisend"], Work(contacts=100, contact_bytes=250, readback=2_500))
    assert requests.sequential == 10  # 250 a page, each page names the next
    assert isinstance(requests, Requests)
    floor = floor_for("omnisend", Work(contacts=100, contact_bytes=250, readback=2_500))
    assert floor.seconds == pytest.approx(0.3 + 10 * 0.3 + 2.3)
