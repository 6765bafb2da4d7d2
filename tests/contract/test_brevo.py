"""Brevo adapter against its simulator; every request the adapter sends is validated against the
official spec (vendor_specs/brevo/swagger_definition_v3.yml, see vendor_specs/SOURCES.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from destinations.base import Contact, Credential, Outcome, RemovalPolicy, Target
from destinations.brevo import BrevoDestination
from destinations.brevo.constants import SAFE_BODY_BYTES
from shared.errors import FieldsMissing, RateLimited
from simulators.brevo import BrevoSimulator
from tests.contract.spec_check import SpecValidator
from tests.contract.vendor_cases import upsert_all

VALIDATOR = SpecValidator(["brevo/swagger_definition_v3.yml"])


@pytest.fixture
def sim() -> Iterator[BrevoSimulator]:
    with BrevoSimulator() as simulator:
        yield simulator
        unchecked = VALIDATOR.validate(simulator.requests)
        assert unchecked == [], [(r.method, r.path) for r in unchecked]


def make(sim, client, list_id, *, attributes=("first_name", "last_name", "phone"), policy=None):
    return BrevoDestination(
        client=client,
        credential=Credential(SecretStr(sim.api_key)),
        target=Target(list_id, attributes, "subscribed", policy or RemovalPolicy.REMOVE_FROM_LIST),
        base_url=sim.url,
    )


async def test_import_body_and_headers(sim, client) -> None:
    list_id = sim.create_target()
    outcomes = await upsert_all(
        make(sim, client, list_id),
        [Contact("ada@example.com", {"first_name": "Ada", "phone": "+351912345678"}), Contact("bob@example.com", {})],
    )
    post = next(r for r in sim.requests if r.path == "/v3/contacts/import")
    assert post.headers["api-key"] == sim.api_key and post.headers["content-type"] == "application/json"
    assert post.json() == {
        "listIds": [int(list_id)],
        "updateExistingContacts": True,
        "emptyContactsAttributes": False,
        "disableNotification": True,
        "jsonBody": [
            {"email": "ada@example.com", "attributes": {"FIRSTNAME": "Ada", "SMS": "+351912345678"}},
            {"email": "bob@example.com"},
        ],
    }
    assert "emailBlacklist" not in post.json()  # blocklist flags are never touched by an upsert
    assert outcomes == {"ada@example.com": (Outcome.UPSERTED, ""), "bob@example.com": (Outcome.UPSERTED, "")}
    assert sim.members(list_id)["ada@example.com"] == {"FIRSTNAME": "Ada", "SMS": "+351912345678"}


async def test_process_is_polled_until_completed(client) -> None:
    with BrevoSimulator(job_delay=0.2) as sim:
        list_id = sim.create_target()
        dest = make(sim, client, list_id)
        await dest.prepare()
        contact = Contact("slow@example.com", {})
        batch = await dest.upsert([contact], [dest.encode_contact(contact)])
        assert batch.job is not None
        first = await dest.poll(batch.job, [contact])
        assert not first.done
        await asyncio.sleep(0.3)
        second = await dest.poll(batch.job, [contact])
        assert second.done and second.results is not None and second.results[0].outcome is Outcome.UPSERTED


async def test_missing_attribute_names_the_fix(sim, client) -> None:
    list_id = sim.create_target()
    with pytest.raises(FieldsMissing) as caught:
        await make(sim, client, list_id, attributes=("first_name", "city")).preflight()
    assert caught.value.fields == ["CITY"] and "Contact attributes" in str(caught.value)


async def test_rate_limit_reset_header_is_the_retry_hint(sim, client) -> None:
    list_id = sim.create_target()
    sim.inject(429, headers={"x-sib-ratelimit-reset": "7"})
    with pytest.raises(RateLimited) as caught:
        await make(sim, client, list_id).preflight()
    assert caught.value.retry_after == 7.0


async def test_simulator_enforces_ten_per_second_on_contacts(client) -> None:
    with BrevoSimulator(time_scale=5.0) as sim:
        list_id = sim.create_target()
        headers = {"api-key": sim.api_key}
        responses = [await client.get(f"{sim.url}/v3/contacts/lists/{list_id}", headers=headers) for _ in range(12)]
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == 10 and statuses.count(429) == 2
        assert responses[-1].headers["x-sib-ratelimit-limit"] == "10"
        sim.reset_log()


def test_declared_limits_match_the_documentation() -> None:
    limits = BrevoDestination.limits
    assert limits.upsert_batch_bytes == SAFE_BODY_BYTES == 8_000_000
    assert limits.remove_batch_items == 150
    assert limits.rate_limits["contacts"][0].requests == 10 and limits.rate_limits["other"][0].requests == 100


@pytest.mark.parametrize(
    ("policy", "in_list", "status"),
    [
        (RemovalPolicy.REMOVE_FROM_LIST, False, "subscribed"),
        (RemovalPolicy.UNSUBSCRIBE, True, "blocklisted"),
        (RemovalPolicy.DELETE, False, None),
    ],
)
async def test_removal_policies(sim, client, policy, in_list, status) -> None:
    list_id = sim.create_target()
    sim.add_member("leaver@example.com", list_id)
    batch = await make(sim, client, list_id, policy=policy).remove([Contact("leaver@example.com")])
    assert batch.results is not None and batch.results[0].outcome is Outcome.REMOVED
    assert ("leaver@example.com" in sim.lists[int(list_id)]) is in_list
    assert sim.subscription_status("leaver@example.com", list_id) == status


async def test_blocklisted_members_are_read_from_every_page_side_by_side(sim, client) -> None:
    """The first page says how many members there are; the other pages are read concurrently (offset
    paging) and every blocklisted member on any page is found."""
    list_id = sim.create_target()
    blocked = {f"blocked{i:04d}@example.com" for i in range(0, 2_600, 97)}
    for i in range(2_600):
        email = f"blocked{i:04d}@example.com" if f"blocked{i:04d}@example.com" in blocked else f"m{i:04d}@example.com"
        (sim.suppress if email in blocked else sim.add_member)(email, list_id)
    sim.reset_log()

    found = await make(sim, client, list_id).load_suppressed()

    assert set(found) == blocked
    pages = [r for r in sim.requests if r.method == "GET" and r.path == "/v3/contacts"]
    assert sorted(int(r.query["offset"]) for r in pages) == [0, 1000, 2000]
