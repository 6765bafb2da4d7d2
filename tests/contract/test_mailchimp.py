"""Mailchimp adapter against its simulator. Mailchimp publishes no usable OpenAPI document (vendors.md
§1.6), so the request and response shapes are pinned here, from:
- batch subscribe ``POST /3.0/lists/{list_id}`` with ``members``, ``update_existing``: official SDK
  mailchimp/mailchimp-marketing-python@3305fa45:mailchimp_marketing/api/lists_api.py (``batch_list_members``,
  ~line 6157) and the Fern SDK type BatchSubscribeOrUnsubscribeListsRequest.ts
  (mailchimp-marketing-typescript-sdk@353aaf8e);
- ``status_if_new``: BatchSubscribeOrUnsubscribeListsRequestMembersItemStatusIfNew.ts (same SDK);
- response ``new_members`` / ``updated_members`` / ``errors[{email_address, error, error_code}]``:
  BatchSubscribeOrUnsubscribeListsResponse.ts;
- Basic auth with the key as password, data centre from the ``-usNN`` suffix: api_client.py lines 38–46, 124–128;
- OAuth metadata ``https://login.mailchimp.com/oauth2/metadata`` → ``api_endpoint``: Mailchimp OAuth guide;
- archive ``DELETE /lists/{id}/members/{subscriber_hash}`` and ``.../actions/delete-permanent``: lists_api.py.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from destinations.base import Contact, Credential, Outcome, RemovalPolicy, Target
from destinations.mailchimp import MailchimpDestination
from shared.errors import CredentialRefused, FieldsMissing, RateLimited
from simulators.mailchimp import MailchimpSimulator
from tests.contract.vendor_cases import upsert_all


@pytest.fixture
def sim() -> Iterator[MailchimpSimulator]:
    with MailchimpSimulator() as simulator:
        yield simulator


def make(sim, client, audience, *, attributes=("first_name", "last_name"), kind="api_key", secret=None, policy=None):
    return MailchimpDestination(
        client=client,
        credential=Credential(SecretStr(secret or (sim.oauth_token if kind == "oauth_token" else sim.api_key)), kind),
        target=Target(audience, attributes, "subscribed", policy or RemovalPolicy.REMOVE_FROM_LIST),
        base_url=sim.url,
    )


async def test_new_members_get_a_status_existing_ones_never_do(sim, client) -> None:
    """Pinned bodies of the upsert (adapter docstring): members unsubscribed in Mailchimp are read back and
    never sent; new members are created with ``status`` and ``status_if_new`` under ``update_existing:
    false``; members that already exist — known from an earlier export (vendor id) or refused as existing —
    are sent with ``update_existing: true`` and *no* ``status``."""
    audience = sim.create_target()
    sim.add_member("old@example.com", audience, {"FNAME": "Before"})
    sim.add_member("known@example.com", audience, {"FNAME": "Before"})
    sim.suppress("gone@example.com", audience)
    dest = make(sim, client, audience, attributes=("first_name", "address", "city", "state", "postal_code", "phone"))
    address = {"address": "1 Main St", "city": "Lisbon", "state": "LX", "postal_code": "1000"}
    contacts = [
        Contact("ada@example.com", {"first_name": "Ada", "phone": "+351912345678", **address}),
        Contact("old@example.com", {"first_name": "After"}),
        Contact("gone@example.com", {"first_name": "Gone"}),
        Contact("known@example.com", {"first_name": "Known"}, vendor_id=hashlib.md5(b"known@example.com").hexdigest()),
    ]
    outcomes = await upsert_all(dest, contacts)
    posts = [r for r in sim.requests if r.method == "POST"]
    assert [p.path for p in posts] == [f"/3.0/lists/{audience}"] * 2
    user, _, password = (
        base64.b64decode(posts[0].headers["authorization"].removeprefix("Basic ")).decode().partition(":")
    )
    assert password == sim.api_key and user
    assert posts[0].json() == {
        "update_existing": False,
        "members": [
            {
                "email_address": "ada@example.com",
                "merge_fields": {
                    "FNAME": "Ada",
                    "PHONE": "+351912345678",
                    "ADDRESS": {"addr1": "1 Main St", "city": "Lisbon", "state": "LX", "zip": "1000"},
                },
                "status": "subscribed",
                "status_if_new": "subscribed",
            },
            {
                "email_address": "old@example.com",
                "merge_fields": {"FNAME": "After"},
                "status": "subscribed",
                "status_if_new": "subscribed",
            },
        ],
    }
    assert posts[1].json() == {
        "update_existing": True,
        "members": [
            {"email_address": "old@example.com", "merge_fields": {"FNAME": "After"}, "status_if_new": "subscribed"},
            {"email_address": "known@example.com", "merge_fields": {"FNAME": "Known"}, "status_if_new": "subscribed"},
        ],
    }
    assert outcomes["ada@example.com"] == (Outcome.UPSERTED, "")
    assert outcomes["old@example.com"] == (Outcome.UPSERTED, "")
    assert outcomes["known@example.com"] == (Outcome.UPSERTED, "")
    assert outcomes["gone@example.com"][0] is Outcome.SUPPRESSED
    assert sim.subscription_status("gone@example.com", audience) == "unsubscribed"
    assert sim.members(audience)["old@example.com"]["FNAME"] == "After"
    assert sim.members(audience)["known@example.com"]["FNAME"] == "Known"


async def test_oauth_token_finds_the_data_centre_through_metadata(sim, client) -> None:
    audience = sim.create_target()
    dest = make(sim, client, audience, kind="oauth_token")
    dest._base = None  # as in production: an OAuth token carries no data centre
    await dest.preflight()
    assert sim.requests[0].path == "/oauth2/metadata"
    assert all(r.headers["authorization"] == f"Bearer {sim.oauth_token}" for r in sim.requests)


def test_api_key_suffix_selects_the_data_centre() -> None:
    dest = MailchimpDestination(
        client=None,  # type: ignore[arg-type]
        credential=Credential(SecretStr("abc123-us14")),
        target=Target("a1"),
    )
    assert dest._base == "https://us14.api.mailchimp.com"


async def test_a_key_without_data_centre_is_refused_in_words(client) -> None:
    dest = MailchimpDestination(client=client, credential=Credential(SecretStr("nodatacentre")), target=Target("a1"))
    with pytest.raises(CredentialRefused, match="data-centre suffix") as caught:
        await dest.preflight()
    assert "nodatacentre" not in str(caught.value)


async def test_missing_merge_field_names_tag_and_audience(sim, client) -> None:
    audience = sim.create_target()
    with pytest.raises(FieldsMissing) as caught:
        await make(sim, client, audience, attributes=("first_name", "loyalty_tier")).preflight()
    assert caught.value.fields == ["loyalty_tier"]
    assert audience in str(caught.value) and "merge tags" in str(caught.value)


async def test_existing_unsubscribed_member_keeps_status_and_is_suppressed(sim, client) -> None:
    audience = sim.create_target()
    sim.suppress("gone@example.com", audience)
    # Not read back first: the batch answer itself must report the member suppressed, status untouched.
    outcomes = await upsert_all(
        make(sim, client, audience), [Contact("gone@example.com", {"first_name": "X"})], read_suppressions=False
    )
    assert outcomes["gone@example.com"][0] is Outcome.SUPPRESSED
    assert "unsubscribed" in outcomes["gone@example.com"][1]
    assert sim.subscription_status("gone@example.com", audience) == "unsubscribed"
    assert "status" not in sim.requests[-1].json()["members"][0]  # the update of an existing member


async def test_simulator_refuses_more_than_500_members(sim, client) -> None:
    audience = sim.create_target()
    body = {"update_existing": True, "members": [{"email_address": f"u{i}@example.com"} for i in range(501)]}
    response = await client.post(f"{sim.url}/3.0/lists/{audience}", json=body, auth=("any", sim.api_key))
    assert response.status_code == 400 and response.headers["content-type"].startswith("application/problem+json")


async def test_more_than_ten_connections_get_429(client) -> None:
    import asyncio

    with MailchimpSimulator(latency=0.2) as sim:
        audience = sim.create_target()
        responses = await asyncio.gather(
            *(client.get(f"{sim.url}/3.0/lists/{audience}", auth=("any", sim.api_key)) for _ in range(14))
        )
    assert sorted(r.status_code for r in responses).count(429) == 4
    assert sim.peak_in_flight >= 11


@pytest.mark.parametrize(
    ("policy", "status_after"),
    [(RemovalPolicy.ARCHIVE, "archived"), (RemovalPolicy.UNSUBSCRIBE, "unsubscribed"), (RemovalPolicy.DELETE, None)],
)
async def test_removal_policies(sim, client, policy, status_after) -> None:
    audience = sim.create_target()
    sim.add_member("leaver@example.com", audience)
    batch = await make(sim, client, audience, policy=policy).remove([Contact("leaver@example.com")])
    assert batch.results is not None and batch.results[0].outcome is Outcome.REMOVED
    assert sim.subscription_status("leaver@example.com", audience) == status_after
    if policy is RemovalPolicy.ARCHIVE:
        digest = hashlib.md5(b"leaver@example.com").hexdigest()
        assert sim.requests[-1].method == "DELETE" and sim.requests[-1].path.endswith(digest)


async def test_incomplete_address_is_left_out_not_sent(sim, client) -> None:
    audience = sim.create_target()
    dest = make(sim, client, audience, attributes=("first_name", "address", "city"))
    outcomes = await upsert_all(dest, [Contact("street@example.com", {"first_name": "S", "address": "1 Main St"})])
    sent = sim.requests[-1].json()["members"][0]
    assert sent["merge_fields"] == {"FNAME": "S"}  # a lone street would make Mailchimp refuse the whole member
    assert outcomes["street@example.com"][0] is Outcome.UPSERTED
    assert sim.members(audience)["street@example.com"] == {"FNAME": "S"}


async def test_every_contact_gets_one_result_even_if_mailchimp_omits_it(sim, client) -> None:
    audience = sim.create_target()
    sim.inject(200, path_contains=f"/lists/{audience}", method="POST", body={"new_members": [], "errors": []})
    outcomes = await upsert_all(make(sim, client, audience), [Contact("a@example.com"), Contact("b@example.com")])
    assert {email: outcome for email, (outcome, _) in outcomes.items()} == {
        "a@example.com": Outcome.FAILED,
        "b@example.com": Outcome.FAILED,
    }


async def test_permanently_deleted_address_is_suppressed_not_reimported(sim, client) -> None:
    audience = sim.create_target()
    sim.add_member("erased@example.com", audience)
    await make(sim, client, audience, policy=RemovalPolicy.DELETE).remove([Contact("erased@example.com")])
    outcomes = await upsert_all(make(sim, client, audience), [Contact("erased@example.com", {"first_name": "E"})])
    assert outcomes["erased@example.com"][0] is Outcome.SUPPRESSED
    assert "permanently deleted" in outcomes["erased@example.com"][1]
    assert sim.subscription_status("erased@example.com", audience) is None


async def test_connection_limit_429_is_rate_limited_and_names_no_secret(sim, client) -> None:
    audience = sim.create_target()
    sim.inject(429, path_contains=f"/lists/{audience}", method="POST")
    dest = make(sim, client, audience)
    with pytest.raises(RateLimited) as caught:
        await upsert_all(dest, [Contact("x@example.com")])
    assert caught.value.retry_after is None  # Mailchimp documents no retry header: the pipeline backs off itself
    assert sim.api_key not in str(caught.value) and sim.api_key.split("-")[0] not in str(caught.value)


async def test_removing_a_non_member_is_idempotent(sim, client) -> None:
    audience = sim.create_target()
    batch = await make(sim, client, audience).remove([Contact("never@example.com")])
    assert batch.results is not None and [r.outcome for r in batch.results] == [Outcome.REMOVED]
    assert sim.requests[-1].status == 404 and sim.subscription_status("never@example.com", audience) is None


async def test_a_member_exported_before_but_deleted_since_is_created_again(sim, client) -> None:
    """Known from an earlier export (vendor id), absent now: the status-free update is refused for lacking a
    status, and the member is created again with the export's status — not left failing run after run."""
    audience = sim.create_target()
    member_id = hashlib.md5(b"back@example.com").hexdigest()
    outcomes = await upsert_all(
        make(sim, client, audience), [Contact("back@example.com", {"first_name": "Back"}, vendor_id=member_id)]
    )
    assert outcomes["back@example.com"] == (Outcome.UPSERTED, "")
    assert sim.subscription_status("back@example.com", audience) == "subscribed"
    posts = [r.json() for r in sim.requests if r.method == "POST"]
    assert [p["update_existing"] for p in posts] == [True, False]
    assert "status" not in posts[0]["members"][0] and posts[1]["members"][0]["status"] == "subscribed"
