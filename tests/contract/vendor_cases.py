"""Per-vendor facts the shared contract suite needs: a contact each vendor refuses for a stated reason,
and what a valid contact looks like. Everything else the suite derives from the registry."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from destinations import destination_class
from destinations.base import Contact, Credential, Destination, RemovalPolicy, RowOutcome, Target
from simulators.base import BaseSimulator


@dataclass(frozen=True)
class VendorCase:
    attributes: tuple[str, ...]
    refused: Contact  # the vendor refuses this one for a stated reason (→ rejected)
    refused_reason: str  # a fragment of the reason the adapter must pass on
    has_lists: bool = True  # Omnisend has tags instead: an unknown tag is not an error
    fields: tuple[tuple[str, str], ...] = ()  # custom fields (name, type) the case needs in the vendor


CASES: dict[str, VendorCase] = {
    "sendgrid": VendorCase(
        ("first_name", "last_name"), Contact("long@example.com", {"first_name": "N" * 60}), "50 characters"
    ),
    "brevo": VendorCase(
        ("first_name", "last_name", "loyalty_points"),
        Contact("points@example.com", {"first_name": "P", "loyalty_points": "lots"}),
        "expects a number",
        fields=(("loyalty_points", "float"),),
    ),
    "omnisend": VendorCase(
        ("first_name", "last_name"),
        Contact("someone@example.test", {"first_name": "Fake"}),
        "valid email",
        has_lists=False,
    ),
    "campaign_monitor": VendorCase(
        ("first_name", "last_name"),
        Contact("someone@example.test", {"first_name": "Fake"}),
        "Invalid Email Address",
    ),
    "mailchimp": VendorCase(
        ("first_name", "last_name"), Contact("someone@example.test", {"first_name": "Fake"}), "looks fake"
    ),
}


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
    for name, kind in CASES[vendor].fields:
        sim.create_field(name, kind)  # type: ignore[call-arg]
    return cls(
        client=client,
        credential=Credential(SecretStr(key or sim.api_key), kind=kind),
        target=Target(list_id=target, mapped_attributes=CASES[vendor].attributes, removal_policy=policy),
        base_url=sim.url,
    )


async def upsert_all(dest: Destination, contacts: list[Contact]) -> dict[str, tuple[RowOutcome, str]]:
    """Upsert and, for asynchronous vendors, poll the job to completion: email → (outcome, reason)."""
    prepare = getattr(dest, "prepare", None)
    if prepare is not None:
        await prepare()
    loader = getattr(dest, "load_suppressed", None)
    if loader is not None:
        dest.suppressed = await loader()  # type: ignore[attr-defined]
    batch = await dest.upsert(contacts, [dest.encode_contact(c) for c in contacts])
    results = batch.results
    if batch.job is not None:
        for _ in range(500):
            status = await dest.poll(batch.job, contacts)
            if status.done:
                results = status.results
                break
            await asyncio.sleep(0.01)
    assert results is not None, "the job never finished"
    return {r.email: (r.outcome, r.reason or "") for r in results}
