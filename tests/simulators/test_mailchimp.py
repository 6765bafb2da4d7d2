"""The Mailchimp simulator driven by the official SDK (``mailchimp-marketing`` 3.0.80; its host pointed at
the loopback simulator), every answer checked against the pinned shapes (vendor_specs/mailchimp):
per-member errors (compliance, merge field, fake or bounced address, duplicates), the strict reading of
``status_if_new``, the read endpoints and the OAuth 2 server."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import mailchimp_marketing
import pytest
from mailchimp_marketing.api_client import ApiClientError

from simulators.mailchimp import MailchimpSimulator
from tests.simulators.shapes import violations


@pytest.fixture(scope="module")
def sim() -> Iterator[MailchimpSimulator]:
    with MailchimpSimulator() as simulator:
        yield simulator


def sdk(sim: MailchimpSimulator, *, key: str | None = None, token: str | None = None) -> Any:
    client = mailchimp_marketing.Client()
    client.set_config({"access_token": token} if token else {"api_key": key or sim.api_key, "server": "us21"})
    client.api_client.host = sim.url + "/3.0"  # the SDK's https://<dc>.api.mailchimp.com/3.0, on loopback
    return client


def batch(client: Any, list_id: str, members: list[dict[str, Any]], **query: Any) -> dict[str, Any]:
    answer: dict[str, Any] = client.lists.batch_list_members(
        list_id, {"members": members, "update_existing": True}, **query
    )
    assert violations("mailchimp", "batch_response", answer) == []
    return answer


def errors_by_email(answer: dict[str, Any]) -> dict[str, str]:
    return {e["email_address"]: e["error"] for e in answer["errors"]}


def test_new_members_need_a_status_and_status_if_new_is_not_honoured(sim) -> None:
    client, list_id = sdk(sim), sim.create_target()
    answer = batch(
        client,
        list_id,
        [
            {"email_address": "with-status@example.com", "status": "subscribed", "merge_fields": {"FNAME": "W"}},
            {"email_address": "only-if-new@example.com", "status_if_new": "subscribed"},
        ],
    )
    assert [m["email_address"] for m in answer["new_members"]] == ["with-status@example.com"]
    assert set(errors_by_email(answer)) == {"only-if-new@example.com"}
    assert answer["errors"][0]["field"] == "status"
    assert sim.subscription_status("only-if-new@example.com", list_id) is None  # never defaulted to subscribed


def test_existing_member_without_status_keeps_it(sim) -> None:
    client, list_id = sdk(sim), sim.create_target()
    sim.suppress("left@example.com", list_id)
    answer = batch(client, list_id, [{"email_address": "left@example.com", "merge_fields": {"FNAME": "New"}}])
    assert [m["status"] for m in answer["updated_members"]] == ["unsubscribed"]
    assert sim.subscription_status("left@example.com", list_id) == "unsubscribed"


def test_per_member_errors(sim) -> None:
    client, list_id = sdk(sim), sim.create_target()
    sim.suppress("gone@example.com", list_id)
    sim.clean("cleaned@example.com", list_id)
    sim.mark_bounced("bounced@example.com")
    members = [
        {"email_address": "gone@example.com", "status": "subscribed"},
        {"email_address": "cleaned@example.com", "status": "subscribed"},
        {"email_address": "bounced@example.com", "status": "subscribed"},
        {"email_address": "someone@example.test", "status": "subscribed"},
        {"email_address": "field@example.com", "status": "subscribed", "merge_fields": {"NOPE": "x"}},
        {"email_address": "ok@example.com", "status": "subscribed"},
    ]
    errors = errors_by_email(batch(client, list_id, members))
    assert "compliance state" in errors["gone@example.com"] and "compliance state" in errors["cleaned@example.com"]
    assert "bounced" in errors["bounced@example.com"]
    assert "looks fake or invalid" in errors["someone@example.test"]
    assert "merge fields were invalid" in errors["field@example.com"]
    assert "ok@example.com" not in errors
    assert sim.subscription_status("gone@example.com", list_id) == "unsubscribed"
    assert set(sim.members(list_id)) == {"ok@example.com"}


def test_a_duplicate_in_one_batch_is_applied_once(sim) -> None:
    client, list_id = sdk(sim), sim.create_target()
    twice = [
        {"email_address": "dup@example.com", "status": "subscribed", "merge_fields": {"FNAME": "First"}},
        {"email_address": "DUP@example.com", "status": "subscribed", "merge_fields": {"FNAME": "Second"}},
    ]
    answer = batch(client, list_id, twice)
    assert answer["total_created"] == 1 and answer["error_count"] == 1
    assert sim.members(list_id)["dup@example.com"]["FNAME"] == "First"
    quiet = batch(client, sim.create_target(), twice, skip_duplicate_check=True)
    assert quiet["total_created"] == 1 and quiet["error_count"] == 0


def test_read_endpoints(sim) -> None:
    client, list_id = sdk(sim), sim.create_target()
    sim.add_member("Reader@Example.com", list_id, {"first_name": "Rea"})
    page = client.lists.get_list_members_info(list_id, count=1000)
    assert violations("mailchimp", "members_page", page) == []
    assert page["total_items"] == 1
    member_id = hashlib.md5(b"reader@example.com", usedforsecurity=False).hexdigest()  # Mailchimp's id scheme
    member = client.lists.get_list_member(list_id, member_id)
    assert violations("mailchimp", "member", member) == []
    assert member["id"] == member_id and member["status"] == "subscribed" and member["merge_fields"]["FNAME"] == "Rea"


def test_refusals_are_problem_documents(sim) -> None:
    for call, status in (
        (lambda: sdk(sim, key="1" * 32 + "-us21").ping.get(), 401),
        (lambda: sdk(sim).lists.get_list("no-such-list"), 404),
    ):
        with pytest.raises(ApiClientError) as caught:
            call()
        assert caught.value.status_code == status
        assert violations("mailchimp", "problem", json.loads(caught.value.text)) == []


def test_oauth_authorize_exchange_and_metadata(sim) -> None:
    client_id, secret = sim.oauth_client
    redirect = "http://127.0.0.1:9/callback"
    authorize = httpx.get(
        f"{sim.url}/oauth2/authorize",
        params={"response_type": "code", "client_id": client_id, "redirect_uri": redirect, "state": "s1"},
    )
    assert authorize.status_code == 302
    location = urlparse(authorize.headers["location"])
    assert location.path == "/callback" and parse_qs(location.query)["state"] == ["s1"]
    code = parse_qs(location.query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uri": redirect,
    }
    token = httpx.post(f"{sim.url}/oauth2/token", data={**form, "code": code}).json()
    assert violations("mailchimp", "oauth_token", token) == [] and token["expires_in"] == 0
    assert httpx.post(f"{sim.url}/oauth2/token", data={**form, "code": code}).status_code == 400  # used once
    metadata = httpx.get(f"{sim.url}/oauth2/metadata", headers={"Authorization": f"OAuth {token['access_token']}"})
    assert violations("mailchimp", "oauth_metadata", metadata.json()) == []
    assert metadata.json()["api_endpoint"] == sim.url and metadata.json()["dc"] == "us21"
    assert sdk(sim, token=token["access_token"]).ping.get()["health_status"] == "Everything's Chimpy!"


def test_list_stats_and_status_reads_follow_every_status_change(sim) -> None:
    """Audience stats count members by status and a status-filtered read lists that status only, through
    every change: a new member, a status update, an archived member re-added, a permanent delete."""
    client, list_id = sdk(sim), sim.create_target()
    sim.add_member("stays@example.com", list_id)
    sim.suppress("left@example.com", list_id)
    batch(client, list_id, [{"email_address": "new@example.com", "status": "subscribed"}])
    batch(client, list_id, [{"email_address": "stays@example.com", "status": "unsubscribed"}])
    client.lists.delete_list_member(list_id, hashlib.md5(b"new@example.com", usedforsecurity=False).hexdigest())
    stats = client.lists.get_list(list_id)["stats"]
    assert (stats["member_count"], stats["unsubscribe_count"]) == (0, 2)
    batch(client, list_id, [{"email_address": "new@example.com", "status": "subscribed"}])  # archived, re-added
    client.lists.delete_list_member_permanent(
        list_id, hashlib.md5(b"left@example.com", usedforsecurity=False).hexdigest()
    )
    stats = client.lists.get_list(list_id)["stats"]
    assert (stats["member_count"], stats["unsubscribe_count"]) == (1, 1)
    unsubscribed = client.lists.get_list_members_info(list_id, status="unsubscribed", count=1000)
    assert [m["email_address"] for m in unsubscribed["members"]] == ["stays@example.com"]
    assert unsubscribed["total_items"] == 1
    subscribed = client.lists.get_list_members_info(list_id, status="subscribed", count=1000)
    assert [m["email_address"] for m in subscribed["members"]] == ["new@example.com"]
