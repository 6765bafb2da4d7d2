"""Omnisend adapter against its simulator; every request the adapter sends is validated against the
official 2026-03-15 specs (vendor_specs/omnisend, see vendor_specs/SOURCES.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from destinations.base import Contact, Credential, Outcome, RemovalPolicy, Target
from destinations.omnisend import OmnisendDestination
from shared.errors import CredentialRefused, RateLimited
from simulators.omnisend import OmnisendSimulator
from tests.contract.spec_check import SpecValidator
from tests.contract.vendor_cases import upsert_all, wait_for_job

VALIDATOR = SpecValidator(
    ["omnisend/omnisend-batches-api-2026-03-15.json", "omnisend/omnisend-contacts-api-2026-03-15.json"]
)


@pytest.fixture
def sim() -> Iterator[OmnisendSimulator]:
    with OmnisendSimulator() as simulator:
        yield simulator
        unchecked = VALIDATOR.validate(simulator.requests)
        assert unchecked == [], [(r.method, r.path) for r in unchecked]


def make(sim, client, tag, *, attributes=("first_name", "last_name", "city", "phone", "loyalty_tier"), key=None):
    return OmnisendDestination(
        client=client,
        credential=Credential(SecretStr(key or sim.api_key)),
        target=Target(tag, attributes, "subscribed", RemovalPolicy.REMOVE_FROM_LIST),
        base_url=sim.url,
    )


async def test_batch_body_headers_and_tag(sim, client) -> None:
    tag = sim.create_target("vip-customers")
    dest = make(sim, client, tag)
    contact = Contact(
        "ada@example.com", {"first_name": "Ada", "city": "Lisbon", "phone": "+351912345678", "loyalty_tier": "gold"}
    )
    outcomes = await upsert_all(dest, [contact])
    post = next(r for r in sim.requests if r.path == "/api/batches" and r.method == "POST")
    assert post.headers["authorization"] == f"Omnisend-API-Key {sim.api_key}"
    assert post.headers["omnisend-version"] == "2026-03-15"
    body = post.json()
    status_at = body["items"][0]["identifiers"][0]["channels"]["email"]["statusChangedAt"]
    assert body == {
        "method": "POST",
        "endpoint": "contacts",
        "origin": "api",
        "items": [
            {
                "identifiers": [
                    {
                        "type": "email",
                        "id": "ada@example.com",
                        "sendWelcomeMessage": False,
                        "channels": {"email": {"status": "subscribed", "statusChangedAt": status_at}},
                    },
                    {"type": "phone", "id": "+351912345678", "sendWelcomeMessage": False},
                ],
                "tags": ["vip-customers"],
                "firstName": "Ada",
                "city": "Lisbon",
                "customProperties": {"loyalty_tier": "gold"},
            }
        ],
    }
    assert outcomes == {"ada@example.com": (Outcome.UPSERTED, "")}
    assert sim.members(tag)["ada@example.com"]["firstName"] == "Ada"


async def test_unsubscribed_contacts_are_read_once_and_never_sent(sim, client) -> None:
    tag = sim.create_target()
    sim.suppress("gone@example.com", "another-tag")
    outcomes = await upsert_all(make(sim, client, tag), [Contact("gone@example.com", {"first_name": "X"})])
    assert outcomes["gone@example.com"][0] is Outcome.SUPPRESSED
    assert not any(r.path == "/api/batches" for r in sim.requests)
    assert sim.subscription_status("gone@example.com", tag) == "unsubscribed"


async def test_a_missing_scope_is_a_refused_credential(sim, client) -> None:
    sim.inject(403, body={"title": "Forbidden", "status": 403, "detail": "insufficient permissions"})
    with pytest.raises(CredentialRefused) as caught:
        await make(sim, client, "t").preflight()
    assert caught.value.status == 403


async def test_retry_after_comes_from_the_problem_body(sim, client) -> None:
    sim.inject(429, body={"title": "Too Many Requests", "status": 429, "retryAfter": 12})
    with pytest.raises(RateLimited) as caught:
        await make(sim, client, "t").preflight()
    assert caught.value.retry_after == 12.0


async def test_simulator_enforces_100_items_and_the_version_header(sim, client) -> None:
    headers = {"Authorization": f"Omnisend-API-Key {sim.api_key}", "Omnisend-Version": "2026-03-15"}
    items = [{"identifiers": [{"type": "email", "id": f"u{i}@example.com"}]} for i in range(101)]
    too_many = await client.post(
        f"{sim.url}/api/batches", json={"method": "POST", "endpoint": "contacts", "items": items}, headers=headers
    )
    assert too_many.status_code == 400
    old = await client.get(f"{sim.url}/api/contacts", headers={**headers, "Omnisend-Version": "v5"})
    assert old.status_code == 410
    sim.reset_log()  # off-spec on purpose


async def test_untagging_leaves_the_contact_and_is_removed_only_once_omnisend_shows_it(client) -> None:
    """Untagging is asynchronous with no job to ask: the adapter reports a contact ``removed`` only once a
    lookup finds it without the tag (or finds no such contact: unknown emails are "silently ignored")."""
    with OmnisendSimulator(job_delay=0.3, enforce_limits=False) as sim:
        tag = sim.create_target()
        sim.add_member("leaver@example.com", tag)
        sim.add_member("stayer@example.com", tag)
        dest = make(sim, client, tag)
        contacts = [Contact("leaver@example.com"), Contact("unknown@example.com")]
        batch = await dest.remove(contacts)
        assert batch.job is not None and batch.results is None
        assert not (await dest.poll(batch.job, contacts)).done  # accepted, not yet applied
        assert tag in sim.contacts["leaver@example.com"]["tags"]
        results = (await wait_for_job(dest, batch.job, contacts)).results
        assert results is not None
        assert {r.email: r.outcome for r in results} == {
            "leaver@example.com": Outcome.REMOVED,
            "unknown@example.com": Outcome.REMOVED,
        }
        assert tag not in sim.contacts["leaver@example.com"]["tags"]
        assert sim.subscription_status("leaver@example.com", tag) == "subscribed"  # the contact stays
        assert set(sim.members(tag)) == {"stayer@example.com"}
        assert VALIDATOR.validate(sim.requests) == []


async def test_an_untag_that_never_applies_is_never_reported_removed(sim, client) -> None:
    tag = sim.create_target()
    sim.add_member("leaver@example.com", tag)
    sim.add_member("other@example.com", tag)
    sim.stall_removals = True
    dest = make(sim, client, tag)
    contacts = [Contact("leaver@example.com"), Contact("other@example.com")]
    batch = await dest.remove(contacts)
    assert batch.job is not None
    sim.reset_log()
    for _ in range(3):
        assert not (await dest.poll(batch.job, contacts)).done
    assert tag in sim.contacts["leaver@example.com"]["tags"]
    # A round that finds the first contact still tagged asks nothing more (one lookup, not one per contact).
    lookups = [r for r in sim.requests if r.path == "/api/contacts"]
    assert len(lookups) == 3 and {r.query.get("email") for r in lookups} == {"leaver@example.com"}
