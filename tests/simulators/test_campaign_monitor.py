"""The Campaign Monitor simulator driven by the official SDK (``createsend`` 9.1.4), every answer checked
against the pinned shapes (vendor_specs/campaign_monitor, from the SDK's fixtures): failure codes per
subscriber, a custom field the list lacks (the subscriber kept, the value dropped and recorded), the read
endpoints and the OAuth 2 server (authorize, exchange, refresh, expiry).

The SDK speaks only HTTPS (``VerifiedHTTPSConnection``); the simulator serves plain HTTP on loopback, so
the tests swap that one class for ``http.client.HTTPConnection`` and point ``CreateSend.base_uri`` and the
OAuth URIs at the simulator. Nothing else of the SDK is replaced."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import createsend
import createsend.createsend as createsend_core
import httpx
import pytest

from simulators.campaign_monitor import CampaignMonitorSimulator
from tests.simulators.shapes import violations


@pytest.fixture(scope="module")
def sim() -> Iterator[CampaignMonitorSimulator]:
    with CampaignMonitorSimulator() as simulator:
        yield simulator


@pytest.fixture
def answers(sim: CampaignMonitorSimulator, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Any]]:
    """The SDK pointed at the simulator; every raw answer it handles, as (status, parsed JSON)."""
    seen: list[tuple[int, Any]] = []
    handle = createsend_core.CreateSendBase.handle_response

    def recording(self: Any, status: int, data: bytes) -> Any:
        seen.append((status, json.loads(data) if data else None))
        return handle(self, status, data)

    monkeypatch.setattr(createsend_core, "VerifiedHTTPSConnection", _plain_connection)
    monkeypatch.setattr(createsend_core.CreateSendBase, "handle_response", recording)
    monkeypatch.setattr(createsend.CreateSend, "base_uri", sim.url + "/api/v3.3")
    monkeypatch.setattr(createsend.CreateSend, "oauth_uri", sim.url + "/oauth")
    monkeypatch.setattr(createsend.CreateSend, "oauth_token_uri", sim.url + "/oauth/token")
    return seen


def _plain_connection(host: str, timeout: Any = None) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(host, timeout=10)


def key(sim: CampaignMonitorSimulator) -> dict[str, str]:
    return {"api_key": sim.api_key}


def subscriber(email: str, **fields: str) -> dict[str, Any]:
    return {"EmailAddress": email, "Name": "N", "CustomFields": [{"Key": k, "Value": v} for k, v in fields.items()]}


def test_import_reports_each_failure_code_and_keeps_the_rest(sim, answers) -> None:
    list_id = sim.create_target()
    sim.suppress("unsub@example.com", list_id)
    sim.set_state("bounced@example.com", list_id, "Bounced")
    sim.set_state("deleted@example.com", list_id, "Deleted")
    sim.set_state("unconfirmed@example.com", list_id, "Unconfirmed")
    sim.suppression_list.add("suppressed@example.com")
    emails = ["ok@example.com", "unsub@example.com", "bounced@example.com", "deleted@example.com"]
    emails += ["unconfirmed@example.com", "suppressed@example.com", "bad@example.invalid", "ok@example.com"]
    result = createsend.Subscriber(key(sim)).import_subscribers(list_id, [subscriber(e) for e in emails], False)
    codes = {f.EmailAddress: f.Code for f in result.FailureDetails}
    assert codes == {
        "unsub@example.com": 206,
        "bounced@example.com": 207,
        "deleted@example.com": 205,
        "unconfirmed@example.com": 208,
        "suppressed@example.com": 204,
        "bad@example.invalid": 1,
    }
    assert result.DuplicateEmailsInSubmission == ["ok@example.com"] and result.TotalNewSubscribers == 1
    status, body = answers[-1]
    assert status == 400 and violations("campaign_monitor", "import_partial", body) == []
    assert set(sim.members(list_id)) == {"ok@example.com"}


def test_unknown_custom_field_keeps_the_subscriber_and_records_the_dropped_value(sim, answers) -> None:
    list_id = sim.create_target()
    result = createsend.Subscriber(key(sim)).import_subscribers(
        list_id, [subscriber("field@example.com", city="Oslo", loyalty="gold")], False
    )
    assert result.TotalNewSubscribers == 1 and result.FailureDetails == []
    assert violations("campaign_monitor", "import_result", answers[-1][1]) == []
    assert sim.members(list_id)["field@example.com"] == {"Name": "N", "city": "Oslo"}
    assert sim.ignored_custom_fields[-1] == ("field@example.com", "loyalty")


def test_read_endpoints(sim, answers) -> None:
    list_id = sim.create_target()
    sim.add_member("reader@example.com", list_id, {"first_name": "Rea", "city": "Bergen"})
    details = createsend.Subscriber(key(sim), list_id, "reader@example.com").get()
    assert details.State == "Active" and details.Name == "Rea"
    assert violations("campaign_monitor", "subscriber_details", answers[-1][1]) == []
    page = createsend.List(key(sim), list_id).active()
    assert page.TotalNumberOfRecords == 1
    assert violations("campaign_monitor", "subscribers_page", answers[-1][1]) == []
    createsend.List(key(sim), list_id).details()
    assert violations("campaign_monitor", "list_details", answers[-1][1]) == []
    with pytest.raises(createsend.BadRequest):
        createsend.Subscriber(key(sim), list_id, "nobody@example.com").get()
    assert violations("campaign_monitor", "error", answers[-1][1]) == [] and answers[-1][1]["Code"] == 203


def test_oauth_authorize_exchange_refresh_and_expiry(sim, answers) -> None:
    client_id, secret = sim.oauth_client
    redirect = "http://127.0.0.1:9/callback"
    sdk = createsend.CreateSend()
    authorize = httpx.get(sdk.authorize_url(client_id, redirect, "ManageLists,ImportSubscribers", "s2"))
    assert authorize.status_code == 302
    query = parse_qs(urlparse(authorize.headers["location"]).query)
    assert query["state"] == ["s2"]
    access, expires_in, refresh = sdk.exchange_token(client_id, secret, redirect, query["code"][0])
    assert expires_in == 1_209_600 and violations("campaign_monitor", "oauth_token", answers[-1][1]) == []
    oauth = createsend.CreateSend({"access_token": access, "refresh_token": refresh})
    assert oauth.systemdate()
    sim.expire_oauth_tokens()
    with pytest.raises(createsend.ExpiredOAuthToken):
        oauth.systemdate()
    new_access, _, new_refresh = oauth.refresh_token()
    assert new_access != access and new_refresh != refresh
    assert oauth.systemdate()  # the SDK now holds the new token
    with pytest.raises(createsend.Unauthorized):
        createsend.CreateSend({"access_token": access}).systemdate()  # the old one no longer works
