"""Campaign Monitor adapter against its simulator. Campaign Monitor publishes no OpenAPI document
(vendors.md §5.6), so shapes are pinned here, from the official SDK campaignmonitor/createsend-python@e78c132d:
- ``POST /api/v3.3/subscribers/{listid}/import.json`` with ``Subscribers[{EmailAddress, Name, CustomFields[{Key,
  Value}], ConsentToTrack}]``, ``Resubscribe``, ``QueueSubscriptionBasedAutoResponders``,
  ``RestartSubscriptionBasedAutoresponders``: lib/createsend/subscriber.py lines 69–77, test/test_subscriber.py 101–150;
- 201 summary and 400 ``{"Code": 210, "ResultData": {..., "FailureDetails": [{EmailAddress, Code, Message}]}}``:
  test/fixtures/import_subscribers*.json;
- Basic auth ``"%s:x" % api_key`` or ``Bearer``: lib/createsend/createsend.py lines 153–163;
- codes 1, 101, 203–210, 212: Campaign Monitor's error tables as transcribed in vendors.md §5.4 (UNCONFIRMED verbatim);
- ``DELETE /subscribers/{listid}.json?email=`` and ``POST /subscribers/{listid}/unsubscribe.json``:
  subscriber.py 90–108.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from destinations.base import Contact, Credential, Outcome, RemovalPolicy, Target
from destinations.campaign_monitor import CampaignMonitorDestination
from destinations.campaign_monitor.adapter import FIELDS_CHECK_FRESH_SECONDS
from shared.errors import FieldsMissing
from simulators.campaign_monitor import CampaignMonitorSimulator
from tests.contract.vendor_cases import upsert_all


@pytest.fixture
def sim() -> Iterator[CampaignMonitorSimulator]:
    with CampaignMonitorSimulator() as simulator:
        yield simulator


def make(sim, client, list_id, *, attributes=("first_name", "last_name", "city"), kind="api_key", policy=None):
    secret = sim.oauth_token if kind == "oauth_token" else sim.api_key
    return CampaignMonitorDestination(
        client=client,
        credential=Credential(SecretStr(secret), kind),
        target=Target(list_id, attributes, "subscribed", policy or RemovalPolicy.REMOVE_FROM_LIST),
        base_url=sim.url,
    )


async def test_import_body_and_basic_auth(sim, client) -> None:
    list_id = sim.create_target()
    outcomes = await upsert_all(
        make(sim, client, list_id),
        [Contact("ada@example.com", {"first_name": "Ada", "last_name": "L", "city": "Oslo"})],
    )
    post = next(r for r in sim.requests if r.path.endswith("/import.json"))
    assert post.path == f"/api/v3.3/subscribers/{list_id}/import.json"
    assert base64.b64decode(post.headers["authorization"].removeprefix("Basic ")).decode() == f"{sim.api_key}:x"
    assert post.json() == {
        "Resubscribe": False,
        "QueueSubscriptionBasedAutoResponders": False,
        "RestartSubscriptionBasedAutoresponders": False,
        "Subscribers": [
            {
                "EmailAddress": "ada@example.com",
                "Name": "Ada L",
                "ConsentToTrack": "Unchanged",
                "CustomFields": [{"Key": "city", "Value": "Oslo"}],
            }
        ],
    }
    assert outcomes == {"ada@example.com": (Outcome.UPSERTED, "")}
    assert sim.members(list_id)["ada@example.com"] == {"Name": "Ada L", "city": "Oslo"}


async def test_oauth_token_is_a_bearer(sim, client) -> None:
    list_id = sim.create_target()
    await make(sim, client, list_id, kind="oauth_token").preflight()
    assert all(r.headers["authorization"] == f"Bearer {sim.oauth_token}" for r in sim.requests)


async def test_partial_failures_map_per_row(sim, client) -> None:
    list_id = sim.create_target()
    sim.suppress("gone@example.com", list_id)
    sim.suppression_list.add("blocked@example.com")
    outcomes = await upsert_all(
        make(sim, client, list_id),
        [
            Contact("ok@example.com", {}),
            Contact("gone@example.com", {}),
            Contact("blocked@example.com", {}),
            Contact("bad@example.invalid", {}),
        ],
    )
    assert outcomes["ok@example.com"][0] is Outcome.UPSERTED
    assert outcomes["gone@example.com"][0] is Outcome.SUPPRESSED and "unsubscribed" in outcomes["gone@example.com"][1]
    assert outcomes["blocked@example.com"][0] is Outcome.SUPPRESSED
    assert outcomes["bad@example.invalid"] == (Outcome.REJECTED, "Invalid Email Address")
    assert sim.subscription_status("gone@example.com", list_id) == "unsubscribed"


async def test_values_over_250_characters_are_refused_before_sending(sim, client) -> None:
    list_id = sim.create_target()
    outcomes = await upsert_all(make(sim, client, list_id), [Contact("long@example.com", {"city": "x" * 251})])
    assert outcomes["long@example.com"][0] is Outcome.REJECTED
    assert not any(r.path.endswith("/import.json") for r in sim.requests)


async def test_missing_custom_field_names_the_list(sim, client) -> None:
    list_id = sim.create_target()
    with pytest.raises(FieldsMissing) as caught:
        await make(sim, client, list_id, attributes=("first_name", "shoe_size")).preflight()
    assert caught.value.fields == ["shoe_size"] and list_id in str(caught.value)


async def test_simulator_refuses_more_than_1000(sim, client) -> None:
    list_id = sim.create_target()
    body = {"Resubscribe": False, "Subscribers": [{"EmailAddress": f"u{i}@example.com"} for i in range(1001)]}
    response = await client.post(
        f"{sim.url}/api/v3.3/subscribers/{list_id}/import.json", json=body, auth=(sim.api_key, "x")
    )
    assert response.status_code == 400 and response.json()["Code"] == 209


@pytest.mark.parametrize(
    ("policy", "state"), [(RemovalPolicy.REMOVE_FROM_LIST, "deleted"), (RemovalPolicy.UNSUBSCRIBE, "unsubscribed")]
)
async def test_removal_policies(sim, client, policy, state) -> None:
    list_id = sim.create_target()
    sim.add_member("leaver@example.com", list_id)
    batch = await make(sim, client, list_id, policy=policy).remove(
        [Contact("leaver@example.com"), Contact("stranger@example.com")]
    )
    assert batch.results is not None and {r.outcome for r in batch.results} == {Outcome.REMOVED}
    assert sim.subscription_status("leaver@example.com", list_id) == state


async def test_a_field_deleted_after_preflight_stops_a_later_activity_instead_of_losing_values(sim, client) -> None:
    """Campaign Monitor keeps the subscriber and silently drops a value whose field the list lacks (simulator
    docstring, createsend-php#59): an activity whose last check of the mapping is over a minute old checks
    again before sending, and refuses. One that starts with the run trusts pre-flight's check (no request)."""
    list_id = sim.create_target()
    sim.create_field("shoe_size")
    attributes = ("first_name", "shoe_size")
    checked = make(sim, client, list_id, attributes=attributes)
    await checked.preflight()
    state = checked.prepared_state()

    with_the_run = make(sim, client, list_id, attributes=attributes)
    with_the_run.restore_prepared(state)
    sim.reset_log()
    await with_the_run.prepare()
    assert sim.requests == []  # pre-flight's check is seconds old: not asked again

    with sim.lock:
        del sim.custom_fields[list_id]["shoe_size"]  # deleted in the account after pre-flight
    later = make(sim, client, list_id, attributes=attributes)
    later.restore_prepared({"fields_checked_at": state["fields_checked_at"] - FIELDS_CHECK_FRESH_SECONDS})
    with pytest.raises(FieldsMissing) as caught:
        await upsert_all(later, [Contact("a@example.com", {"first_name": "A", "shoe_size": "42"})])
    assert caught.value.fields == ["shoe_size"]
    assert [r.path for r in sim.requests] == [f"/api/v3.3/lists/{list_id}/customfields.json"]
    assert not sim.ignored_custom_fields
