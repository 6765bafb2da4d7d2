"""The contract suite's per-vendor facts, read from each vendor's package, and helpers that drive an
adapter the way the pipeline does (prepare, suppressions withheld, upsert, poll)."""

from __future__ import annotations

import asyncio

import httpx
from pydantic import SecretStr

from destinations import destination_class, vendor_profile, vendors
from destinations.base import Contact, Credential, Destination, JobStatus, Outcome, RemovalPolicy, Target
from destinations.profile import ContractCase
from shared.errors import RateLimited
from shared.pipeline.suppressions import withhold
from simulators.base import BaseSimulator

# Each vendor declares its case in its own package (destinations/<vendor>/profile.py).
CASES: dict[str, ContractCase] = {v: vendor_profile(v).contract for v in vendors()}


def adapter(
    vendor: str,
    sim: BaseSimulator,
    client: httpx.AsyncClient,
    target: str,
    *,
    key: str | None = None,
    kind: str = "api_key",
    policy: RemovalPolicy = RemovalPolicy.REMOVE_FROM_LIST,
) -> Destination:
    cls = destination_class(vendor)
    for name, field_type in CASES[vendor].fields:
        sim.create_field(name, field_type)  # type: ignore[call-arg]
    return cls(
        client=client,
        credential=Credential(SecretStr(key or sim.api_key), kind=kind),
        target=Target(list_id=target, mapped_attributes=CASES[vendor].attributes, removal_policy=policy),
        base_url=sim.url,
    )


async def upsert_all(
    dest: Destination, contacts: list[Contact], *, read_suppressions: bool = True
) -> dict[str, tuple[Outcome, str]]:
    """Upsert as the pipeline does — prepare, read the vendor's suppressions, withhold those rows — and, for
    asynchronous vendors, poll the job to completion: email → (outcome, reason)."""
    await dest.prepare()
    if read_suppressions:
        dest.suppressed = await dest.load_suppressed()
    send, encoded, withheld = withhold(contacts, [dest.encode_contact(c) for c in contacts], dest.suppressed)
    outcomes = {email: (Outcome(v[0]), v[1]) for email, v in withheld.items()}
    if not send:
        return outcomes
    batch = await dest.upsert(send, encoded)
    results = batch.results
    if batch.job is not None:
        results = (await wait_for_job(dest, batch.job, send)).results
    assert results is not None, "the job never finished"
    return outcomes | {r.email: (r.outcome, r.reason or "") for r in results}


async def wait_for_job(dest: Destination, job: dict[str, object], contacts: list[Contact]) -> JobStatus:
    """Poll until the job is done, a pause between polls and a 429 waited out: what the pipeline's pacer
    and retries do for a poll (a job polled by looking contacts up can spend a rate budget quickly)."""
    for _ in range(500):
        try:
            status = await dest.poll(job, contacts)
        except RateLimited as exc:
            await asyncio.sleep(exc.retry_after or 0.1)
            continue
        if status.done:
            return status
        await asyncio.sleep(0.01)
    raise AssertionError("the job never finished")
