"""The floor: the least time a vendor's documented limits allow for the *fewest* requests an export needs.

The minimum is computed from the export's size and the vendor's limits (``destination_class(v).limits``:
batch items, batch bytes, rate buckets, concurrency, asynchronous jobs), never from the requests the
pipeline happened to make — a floor built from those would rise with every wasted request. The requests
actually made are put beside it (``waste`` = made / minimum) and go through the same time model, which
the projection of scaled runs uses (bench/README.md).

Pure arithmetic, unit-tested without Azurite (tests/unit/test_bench_floor.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from destinations import destination_class, vendor_profile, vendors
from destinations.base import VendorLimits

# Per-request latency each vendor adds (seconds, real time): a realistic figure for a batch call. The
# simulators apply the same figure (× the time scale), so floor and measurement share one model.
LATENCY = {v: vendor_profile(v).bench.latency for v in vendors()}
# Asynchronous processing per job (seconds, real time): undocumented by every vendor, so modest.
JOB_DELAY = {v: vendor_profile(v).bench.job_delay for v in vendors() if vendor_profile(v).bench.job_delay}


@dataclass(frozen=True)
class Calls:
    """The calls besides the upserts that a vendor's API makes unavoidable in every run
    (docs/vendors.md; the adapters in destinations/ make the same ones). Buckets are the rate buckets of
    the adapter's ``limits.rate_limits`` (the simulators count requests by the same names)."""

    upsert_bucket: str
    preflight: tuple[str, ...] = ()  # bucket of each pre-flight call; they need not wait for one another
    poll_bucket: str | None = None  # asynchronous vendors: one status read per job, once it is done
    readback_bucket: str | None = None  # the suppression read-back the vendor forces
    readback_lists: int = 0  # lists the read-back pages through, at least one page each
    readback_page: int = 1  # entries per page
    readback_cursor: bool = False  # each page names the next: pages cannot be read side by side
    readback_modified: bool = False  # pages through every member modified since the previous run


CALLS: dict[str, Calls] = {
    # Pre-flight: key (GET /v3/scopes, which SendGrid counts with the suppression endpoints), list, field
    # ids. Jobs polled at /contacts/imports/{id}. Unsubscribes, bounces and spam reports live in three
    # suppression lists the upsert never touches: each is read (500 a page) so nobody on them is pushed.
    "sendgrid": Calls(
        "contacts",
        preflight=("suppressions", "lists", "fields"),
        poll_bucket="imports",
        readback_bucket="suppressions",
        readback_lists=3,
        readback_page=500,
    ),
    # Pre-flight: the list (doubles as the key check) and the attribute types. Processes are polled under
    # /v3/processes (the 100-an-hour bucket). Blocklisted members are only visible through the contact
    # listing (1,000 a page): every member modified since the previous run is paged through.
    "brevo": Calls(
        "contacts",
        preflight=("contacts", "contacts"),
        poll_bucket="other",
        readback_bucket="contacts",
        readback_lists=1,
        readback_page=1000,
        readback_modified=True,
    ),
    # Pre-flight: ping, audience, merge fields. Synchronous; suppressed members come back in the answer.
    "mailchimp": Calls("default", preflight=("default", "default", "default")),
    # Pre-flight: one contact read (the key). Batches polled at /batches/{id} (same bucket as the
    # upserts). Unsubscribed contacts are read back 250 a page, by cursor.
    "omnisend": Calls(
        "batches",
        preflight=("contacts",),
        poll_bucket="batches",
        readback_bucket="contacts",
        readback_lists=1,
        readback_page=250,
        readback_cursor=True,
    ),
    # Pre-flight: system date (the key), list, custom fields. Synchronous; suppressed subscribers come back
    # as failures of the import itself.
    "campaign_monitor": Calls("default", preflight=("default", "default", "default")),
}


@dataclass(frozen=True)
class Work:
    """What one export run must do at the vendor."""

    contacts: int  # contacts to add or update
    contact_bytes: int  # their average encoded size (the adapter's ``encode_contact``)
    readback: int = 0  # entries the suppression read-back must page through (all lists together)


@dataclass(frozen=True)
class Requests:
    """Requests of one run, per rate bucket, and what the time model needs to know about their order."""

    per_bucket: dict[str, int]
    upserts: int  # upsert requests (jobs, for an asynchronous vendor)
    before_upserts: int = 0  # requests of the upsert bucket that must come first (pre-flight)
    sequential: int = 0  # read-back pages that must follow one another (beside the upserts)

    @property
    def total(self) -> int:
        return sum(self.per_bucket.values())


@dataclass(frozen=True)
class Floor:
    seconds: float  # real time
    why: str
    requests: Requests = field(compare=False)


def batch_size(limits: VendorLimits, contact_bytes: int) -> int:
    """Contacts per upsert request: the item cap, or fewer when the body-size cap binds first (one comma
    between contacts, the adapter's envelope around them)."""
    size = limits.upsert_batch_items
    if limits.upsert_batch_bytes:
        size = min(size, (limits.upsert_batch_bytes - limits.envelope_bytes) // (contact_bytes + 1))
    return max(1, size)


def minimum_requests(limits: VendorLimits, calls: Calls, work: Work) -> Requests:
    """The fewest requests the run needs, per rate bucket."""
    upserts = math.ceil(work.contacts / batch_size(limits, work.contact_bytes)) if work.contacts else 0
    buckets: dict[str, int] = {}

    def add(bucket: str, n: int) -> None:
        if n:
            buckets[bucket] = buckets.get(bucket, 0) + n

    for bucket in calls.preflight:
        add(bucket, 1)
    add(calls.upsert_bucket, upserts)
    if limits.asynchronous and calls.poll_bucket is not None:
        add(calls.poll_bucket, upserts)  # each job's answer is read once, after it is done
    pages = 0
    if calls.readback_bucket is not None and calls.readback_lists:
        pages = max(calls.readback_lists, math.ceil(work.readback / calls.readback_page))
        add(calls.readback_bucket, pages)
    return Requests(
        per_bucket=buckets,
        upserts=upserts,
        before_upserts=sum(1 for b in calls.preflight if b == calls.upsert_bucket),
        sequential=pages if calls.readback_cursor else 0,
    )


def least_seconds(
    limits: VendorLimits, calls: Calls, requests: Requests, *, latency: float, job_delay: float
) -> tuple[float, str]:
    """The least real time ``requests`` can take under the vendor's limits: the largest of

    - the chain: pre-flight (its calls side by side), then the upserts ``max_concurrency`` at a time
      (all at once when the vendor documents no limit) beside any read-back pages that must follow one
      another, then — asynchronous vendors — the last job's processing and the poll that reads it;
    - every rate window: a bucket's n-th request cannot start before ⌊(n-1)/limit⌋ windows have passed
      (for the upsert bucket of an asynchronous vendor, its last upsert is followed by the processing
      of that job and one poll);
    - the concurrency cap: every request of the run, ``max_concurrency`` at a time.
    """
    asynchronous = limits.asynchronous and requests.upserts > 0
    tail = job_delay + latency if asynchronous else 0.0
    concurrency = limits.max_concurrency
    rounds = (math.ceil(requests.upserts / concurrency) if concurrency else 1) if requests.upserts else 0
    chain = latency + max(rounds * latency, requests.sequential * latency) + tail
    chain_why = f"pre-flight, {requests.upserts} upsert(s)"
    chain_why += f" {concurrency} at a time" if concurrency else " side by side"
    if requests.sequential:
        chain_why += f" beside {requests.sequential} read-back page(s) one after another"
    chain_why += f", {latency:g}s each"
    if asynchronous:
        chain_why += f", + {job_delay:g}s processing of the last job and its poll"
    candidates = [(chain, chain_why)]
    for bucket, n in requests.per_bucket.items():
        if n <= 0:
            continue
        for limit in limits.rate_limits.get(bucket, ()):
            windows = (n - 1) // limit.requests
            candidates.append(
                (
                    windows * limit.per_seconds + latency,
                    f"{n} {bucket} requests at {limit.requests}/{limit.per_seconds:g}s",
                )
            )
            if asynchronous and bucket == calls.upsert_bucket:
                last = requests.before_upserts + requests.upserts - 1
                candidates.append(
                    (
                        last // limit.requests * limit.per_seconds + latency + tail,
                        f"{requests.upserts} upserts at {limit.requests}/{limit.per_seconds:g}s "
                        f"+ {job_delay:g}s processing of the last job and its poll",
                    )
                )
    if concurrency:
        candidates.append(
            (
                math.ceil(requests.total / concurrency) * latency,
                f"{requests.total} requests, {concurrency} at a time, {latency:g}s each",
            )
        )
    seconds, why = max(candidates, key=lambda c: c[0])
    return seconds, why


def floor_for(vendor: str, work: Work, *, latency: float | None = None, job_delay: float | None = None) -> Floor:
    """The vendor's floor for ``work`` (real seconds), with the requests it assumes."""
    limits = destination_class(vendor).limits
    calls = CALLS[vendor]
    requests = minimum_requests(limits, calls, work)
    seconds, why = least_seconds(
        limits,
        calls,
        requests,
        latency=LATENCY[vendor] if latency is None else latency,
        job_delay=JOB_DELAY.get(vendor, 0.0) if job_delay is None else job_delay,
    )
    return Floor(seconds, why, requests)


def made_seconds(vendor: str, made: Mapping[str, int], upserts: int, minimum: Requests) -> float:
    """The least real time the requests the pipeline actually made could take (the same model), used to
    project a scaled run: the vendor-bound part at its real duration, waste included."""
    limits = destination_class(vendor).limits
    requests = Requests(
        per_bucket=dict(made),
        upserts=upserts,
        before_upserts=minimum.before_upserts,
        sequential=minimum.sequential,
    )
    seconds, _ = least_seconds(
        limits, CALLS[vendor], requests, latency=LATENCY[vendor], job_delay=JOB_DELAY.get(vendor, 0.0)
    )
    return seconds


def waste(made: Mapping[str, int], minimum: Requests) -> dict[str, float | None]:
    """Requests made / the minimum, per bucket and in total (``None`` where the minimum is zero)."""
    ratios: dict[str, float | None] = {}
    for bucket in sorted(set(made) | set(minimum.per_bucket)):
        least = minimum.per_bucket.get(bucket, 0)
        ratios[bucket] = round(made.get(bucket, 0) / least, 2) if least else None
    ratios["total"] = round(sum(made.values()) / minimum.total, 2) if minimum.total else None
    return ratios
