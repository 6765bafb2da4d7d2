"""SendGrid adapter against the stateful simulator; every request checked against the official spec
(``vendor_specs/sendgrid``: twilio/sendgrid-oai, see vendor_specs/SOURCES.md).

Suppression-list reads (``/v3/suppression/*``) and the global unsubscribe (``/v3/asm/suppressions/global``)
are not in the copied specs; their shapes follow SendGrid's Suppressions API reference
(https://www.twilio.com/docs/sendgrid/api-reference/suppressions-unsubscribes) and are pinned below.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from pydantic import SecretStr

from destinations.base import Contact, Credential, Outcome, RemovalPolicy, Target
from destinations.sendgrid import SendGridDestination
from shared.errors import CredentialRefused, FieldsMissing, RateLimited, TargetNotFound, VendorUnavailable
from simulators.sendgrid import SendGridSimulator
from tests.contract.spec_check import SpecValidator
from tests.contract.vendor_cases import upsert_all, wait_for_job

VALIDATOR = SpecValidator(
    [
        "sendgrid/tsg_mc_contacts_v3.json",
        "sendgrid/tsg_mc_lists_v3.json",
        "sendgrid/tsg_mc_custom_fields_v3.json",
        "sendgrid/tsg_scopes_v3.json",
    ]
)
NOT_IN_COPIED_SPECS = ("/v3/suppression/", "/v3/asm/suppressions/global", "/downloads/")


@pytest.fixture
def sim() -> Iterator[SendGridSimulator]:
    with SendGridSimulator() as simulator:
        yield simulator
        unchecked = VALIDATOR.validate(simulator.requests)
        assert all(r.path.startswith(NOT_IN_COPIED_SPECS) for r in unchecked), [r.path for r in unchecked]


def adapter(
    sim: SendGridSimulator,
    client: httpx.AsyncClient,
    list_id: str,
    *,
    key: str | None = None,
    attributes: tuple[str, ...] = ("first_name", "last_name"),
    policy: RemovalPolicy = RemovalPolicy.REMOVE_FROM_LIST,
) -> SendGridDestination:
    return SendGridDestination(
        client=client,
        credential=Credential(SecretStr(key or sim.api_key)),
        target=Target(list_id=list_id, mapped_attributes=attributes, removal_policy=policy),
        base_url=sim.url,
    )


async def upsert_and_wait(dest: SendGridDestination, contacts: list[Contact]) -> dict[str, tuple[Outcome, str]]:
    return await upsert_all(dest, contacts)


async def test_batch_body_and_headers_are_exactly_what_sendgrid_documents(sim, client) -> None:
    list_id = sim.create_target()
    sim.create_field("loyalty_tier")
    dest = adapter(sim, client, list_id, attributes=("first_name", "city", "loyalty_tier"))
    await dest.prepare()
    contacts = [
        Contact("ada@example.com", {"first_name": "Ada", "city": "London", "loyalty_tier": "gold"}),
        Contact("bob@example.com", {"first_name": "Bob"}),
    ]
    outcomes = await upsert_and_wait(dest, contacts)
    put = next(r for r in sim.requests if r.method == "PUT")
    assert put.path == "/v3/marketing/contacts"
    assert put.headers["authorization"] == f"Bearer {sim.api_key}"
    assert put.headers["content-type"] == "application/json"
    field_id = sim.fields["loyalty_tier"][0]
    assert put.json() == {
        "list_ids": [list_id],
        "contacts": [
            {"email": "ada@example.com", "first_name": "Ada", "city": "London", "custom_fields": {field_id: "gold"}},
            {"email": "bob@example.com", "first_name": "Bob"},
        ],
    }
    assert outcomes == {"ada@example.com": (Outcome.UPSERTED, ""), "bob@example.com": (Outcome.UPSERTED, "")}
    assert set(sim.members(list_id)) == {"ada@example.com", "bob@example.com"}
    assert sim.members(list_id)["ada@example.com"]["custom_fields"] == {field_id: "gold"}


async def test_bad_key_is_refused_without_echoing_it(sim, client) -> None:
    list_id = sim.create_target()
    wrong = "SG." + "x" * 22 + "." + "y" * 43
    with pytest.raises(CredentialRefused) as caught:
        await adapter(sim, client, list_id, key=wrong).preflight()
    assert wrong not in str(caught.value) and "x" * 22 not in repr(caught.value)
    assert caught.value.status == 401


async def test_unknown_list_and_missing_field_name_the_fix(sim, client) -> None:
    with pytest.raises(TargetNotFound, match="does not exist"):
        await adapter(sim, client, str(uuid.uuid4())).preflight()
    list_id = sim.create_target()
    with pytest.raises(FieldsMissing) as caught:
        await adapter(sim, client, list_id, attributes=("first_name", "shoe_size")).preflight()
    assert caught.value.fields == ["shoe_size"]
    assert "shoe_size" in str(caught.value) and "Custom Fields" in str(caught.value)


async def test_unknown_list_on_upsert_is_target_not_found(sim, client) -> None:
    dest = adapter(sim, client, str(uuid.uuid4()))
    await dest.prepare()
    contact = Contact("a@example.com", {})
    with pytest.raises(TargetNotFound):
        await dest.upsert([contact], [dest.encode_contact(contact)])


async def test_429_carries_the_reset_as_retry_after(sim, client) -> None:
    list_id = sim.create_target()
    dest = adapter(sim, client, list_id)
    sim.inject(429, path_contains="/marketing/contacts", headers={"X-RateLimit-Reset": "0"})
    contact = Contact("a@example.com", {})
    with pytest.raises(RateLimited) as caught:
        await dest.upsert([contact], [dest.encode_contact(contact)])
    assert caught.value.retry_after == 0.0


async def test_simulator_enforces_its_rate_window_with_vendor_headers(client) -> None:
    with SendGridSimulator(time_scale=10.0) as sim:
        list_id = sim.create_target()
        dest = adapter(sim, client, list_id)
        errors = []
        for _ in range(12):
            try:
                await dest.preflight()
            except RateLimited as exc:
                errors.append(exc)
        assert errors, "10 requests/s per bucket must be enforced"
        # X-RateLimit-Reset is an epoch in whole seconds (vendors.md §2.3): up to 1 s later than the window.
        assert all(e.retry_after is not None and 0 < e.retry_after <= 11.5 for e in errors)
        limited = [r for r in sim.requests if r.status == 429]
        assert limited and "x-ratelimit-reset" not in limited[0].headers  # (request headers, not response)


async def test_5xx_and_timeouts_are_retryable(sim, client) -> None:
    list_id = sim.create_target()
    dest = adapter(sim, client, list_id)
    sim.inject(503, path_contains="/marketing/lists")
    with pytest.raises(VendorUnavailable):
        await dest.preflight()
    sim.inject("reset", path_contains="/v3/scopes")
    with pytest.raises(VendorUnavailable):
        await dest.preflight()


async def test_values_over_the_documented_lengths_are_rejected_before_sending(sim, client) -> None:
    list_id = sim.create_target()
    dest = adapter(sim, client, list_id)
    await dest.prepare()
    contacts = [Contact("ok@example.com", {"first_name": "Ok"}), Contact("long@example.com", {"first_name": "N" * 60})]
    outcomes = await upsert_and_wait(dest, contacts)
    assert outcomes["ok@example.com"][0] is Outcome.UPSERTED
    assert outcomes["long@example.com"][0] is Outcome.REJECTED and "50 characters" in outcomes["long@example.com"][1]
    sent = [c["email"] for r in sim.requests if r.method == "PUT" for c in r.json()["contacts"]]
    assert sent == ["ok@example.com"]


async def test_a_400_naming_single_contacts_rejects_only_those_rows(sim, client) -> None:
    list_id = sim.create_target()
    dest = adapter(sim, client, list_id)
    await dest.prepare()
    refusal = {"errors": [{"field": "contacts[1].email", "message": "email is not a valid email address"}]}
    sim.inject(400, path_contains="/v3/marketing/contacts", method="PUT", body=refusal)
    contacts = [Contact("ok@example.com", {}), Contact("odd@example.com", {}), Contact("fine@example.com", {})]
    outcomes = await upsert_and_wait(dest, contacts)
    assert outcomes["odd@example.com"] == (Outcome.REJECTED, "email is not a valid email address")
    assert outcomes["ok@example.com"][0] is outcomes["fine@example.com"][0] is Outcome.UPSERTED
    assert set(sim.members(list_id)) == {"ok@example.com", "fine@example.com"}
    puts = [r for r in sim.requests if r.method == "PUT"]
    assert [len(r.json()["contacts"]) for r in puts] == [3, 2]


async def test_job_errors_from_the_error_file_become_row_rejections(sim, client) -> None:
    list_id = sim.create_target()
    sim.create_field("orders", field_type="Number")
    dest = adapter(sim, client, list_id, attributes=("orders",))
    await dest.prepare()
    contacts = [Contact("a@example.com", {"orders": "3"}), Contact("b@example.com", {"orders": "many"})]
    outcomes = await upsert_and_wait(dest, contacts)
    assert outcomes["a@example.com"][0] is Outcome.UPSERTED
    assert outcomes["b@example.com"][0] is Outcome.REJECTED and "number" in outcomes["b@example.com"][1]
    download = next(r for r in sim.requests if r.path.startswith("/downloads/"))
    assert "authorization" not in download.headers  # the key never goes to the download host


async def test_unsubscribed_contact_is_suppressed_and_never_pushed(sim, client) -> None:
    list_id = sim.create_target()
    sim.suppress("gone@example.com", list_id, {"first_name": "Old"})
    sim.suppress_bounce("bounced@example.com")
    dest = adapter(sim, client, list_id)
    await dest.prepare()
    contacts = [
        Contact("gone@example.com", {"first_name": "Changed"}),
        Contact("bounced@example.com", {}),
        Contact("new@example.com", {}),
    ]
    outcomes = await upsert_and_wait(dest, contacts)
    assert outcomes["gone@example.com"][0] is Outcome.SUPPRESSED
    assert "unsubscribe" in outcomes["gone@example.com"][1]
    assert outcomes["bounced@example.com"][0] is Outcome.SUPPRESSED
    assert outcomes["new@example.com"][0] is Outcome.UPSERTED
    sent = [c["email"] for r in sim.requests if r.method == "PUT" for c in r.json()["contacts"]]
    assert sent == ["new@example.com"]
    assert sim.subscription_status("gone@example.com", list_id) == "unsubscribed"
    assert sim.contacts["gone@example.com"]["first_name"] == "Old"


@pytest.mark.parametrize(
    ("policy", "in_list", "exists", "status"),
    [
        (RemovalPolicy.REMOVE_FROM_LIST, False, True, None),
        (RemovalPolicy.UNSUBSCRIBE, True, True, "unsubscribed"),
        (RemovalPolicy.DELETE, False, False, None),
    ],
)
async def test_removal_policies(client, policy, in_list, exists, status) -> None:
    """Removal from the list and deletion are jobs SendGrid gives no status for: the adapter reports the
    contacts ``removed`` only once a lookup no longer finds them in the list (or in SendGrid)."""
    with SendGridSimulator(job_delay=0.3, enforce_limits=False) as sim:
        list_id = sim.create_target()
        sim.add_member("leaver@example.com", list_id)
        sim.add_member("stayer@example.com", list_id)
        dest = adapter(sim, client, list_id, policy=policy)
        contacts = [Contact("leaver@example.com"), Contact("unknown@example.com")]
        batch = await dest.remove(contacts)
        results = batch.results
        if batch.job is not None:
            assert policy is not RemovalPolicy.UNSUBSCRIBE
            assert not (await dest.poll(batch.job, contacts)).done  # accepted, not yet applied
            assert "leaver@example.com" in sim.lists[list_id]
            results = (await wait_for_job(dest, batch.job, contacts)).results
        assert results is not None
        assert {r.email: r.outcome for r in results} == {
            "leaver@example.com": Outcome.REMOVED,
            "unknown@example.com": Outcome.REMOVED,
        }
        assert ("leaver@example.com" in sim.lists[list_id]) is in_list
        assert ("leaver@example.com" in sim.contacts) is exists
        assert "stayer@example.com" in sim.members(list_id)
        if status is not None:
            assert sim.subscription_status("leaver@example.com", list_id) == status


@pytest.mark.parametrize("policy", [RemovalPolicy.REMOVE_FROM_LIST, RemovalPolicy.DELETE])
async def test_a_removal_job_that_never_applies_is_never_reported_removed(sim, client, policy) -> None:
    list_id = sim.create_target()
    sim.add_member("leaver@example.com", list_id)
    sim.stall_removals = True
    dest = adapter(sim, client, list_id, policy=policy)
    contacts = [Contact("leaver@example.com"), Contact("unknown@example.com")]
    batch = await dest.remove(contacts)
    assert batch.job is not None and batch.results is None
    for _ in range(5):
        assert not (await dest.poll(batch.job, contacts)).done
    assert "leaver@example.com" in sim.lists[list_id]


async def test_a_contact_already_out_of_the_list_is_removed_without_a_job(sim, client) -> None:
    list_id = sim.create_target()
    other = sim.create_target()
    sim.add_member("elsewhere@example.com", other)
    batch = await adapter(sim, client, list_id).remove([Contact("elsewhere@example.com")])
    assert batch.job is None and batch.results is not None
    assert [r.outcome for r in batch.results] == [Outcome.REMOVED]
    assert "elsewhere@example.com" in sim.lists[other]  # another list's membership is not touched
    assert not [r for r in sim.requests if r.method == "DELETE"]


async def test_simulator_refuses_oversized_batches(sim, client) -> None:
    list_id = sim.create_target()
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    too_many = {"list_ids": [list_id], "contacts": [{"email": f"u{i}@example.com"} for i in range(30_001)]}
    response = await client.put(f"{sim.url}/v3/marketing/contacts", content=orjson.dumps(too_many), headers=headers)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "contacts"
    big = {"list_ids": [list_id], "contacts": [{"email": "a@example.com", "first_name": "x" * 6_000_001}]}
    response = await client.put(f"{sim.url}/v3/marketing/contacts", content=orjson.dumps(big), headers=headers)
    assert response.status_code in (400, 413)
    assert not sim.jobs
    sim.reset_log()  # these requests were off-spec on purpose


def test_declared_limits_match_the_documentation() -> None:
    limits = SendGridDestination.limits
    assert limits.upsert_batch_items == 30_000
    assert limits.upsert_batch_bytes == 6_000_000
    assert limits.asynchronous
