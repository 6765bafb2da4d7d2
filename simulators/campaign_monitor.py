"""A stateful Campaign Monitor (createsend v3.3) simulator: lists, custom fields, subscriber states.

Faithful to ``docs/vendors.md`` §5 and the official SDK's fixtures: ``import.json`` takes ≤ 1,000
subscribers (400 code 209 beyond) and answers 201 with a summary or 400 code 210 with
``ResultData.FailureDetails``; ``Resubscribe: false`` leaves unsubscribed (206), bounced (207), deleted
(205) and suppressed (204) subscribers as they are and reports them as failures; errors are
``{"Code", "Message"}``; 401 code 100 for a bad key; 400 code 101 for an unknown list (UNCONFIRMED
status, the code is from the error tables). Subscriber states: Active, Unsubscribed, Bounced, Deleted.

Addresses treated as invalid (code 1): no ``@``, or a domain under ``.invalid`` / ``.test`` (standing in
for Campaign Monitor's undocumented address checks).
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson
from aiohttp import web

from destinations.campaign_monitor import IMPORT_MAX, CampaignMonitorDestination, field_key
from simulators.base import BaseSimulator, SlidingWindow

INVALID = re.compile(r"(^[^@]*$)|\.(invalid|test)$")
REFUSED_STATES = {
    "Unsubscribed": (206, "Is Unsubscribed"),
    "Bounced": (207, "Is Bounced"),
    "Deleted": (205, "Is Deleted"),
}


def _error(status: int, code: int, message: str, **extra: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps({"Code": code, "Message": message, **extra}), status=status, content_type="application/json"
    )


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


class CampaignMonitorSimulator(BaseSimulator):
    vendor: ClassVar[str] = "campaign_monitor"
    limits = CampaignMonitorDestination.limits

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = "cm" + "k" * 46
        self.oauth_token = "cm-oauth-" + "o" * 30
        self.lists: dict[str, dict[str, dict[str, Any]]] = {}  # list id → email → subscriber
        self.custom_fields: dict[str, dict[str, str]] = {}  # list id → key → data type
        self.suppression_list: set[str] = set()

    def authenticate(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[7:] == self.oauth_token
        if header.startswith("Basic "):
            try:
                user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return user == self.api_key
        return False

    def unauthorized_response(self) -> web.StreamResponse:
        return _error(401, 100, "Invalid API Key")

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        return _error(429, 429, "Rate limit exceeded")

    def too_many_connections_response(self) -> web.StreamResponse:
        return _error(429, 429, "Rate limit exceeded")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v3.3/systemdate.json", self._system_date)
        app.router.add_get("/api/v3.3/lists/{list_id}.json", self._list)
        app.router.add_get("/api/v3.3/lists/{list_id}/customfields.json", self._custom_fields)
        app.router.add_post("/api/v3.3/subscribers/{list_id}/import.json", self._import)
        app.router.add_delete("/api/v3.3/subscribers/{list_id}.json", self._delete)
        app.router.add_post("/api/v3.3/subscribers/{list_id}/unsubscribe.json", self._unsubscribe)

    async def _system_date(self, request: web.Request) -> web.Response:
        return _json({"SystemDate": "2026-11-24 09:00:00"})

    def _subscribers(self, request: web.Request) -> dict[str, dict[str, Any]] | None:
        return self.lists.get(request.match_info["list_id"])

    async def _list(self, request: web.Request) -> web.Response:
        with self.lock:
            if self._subscribers(request) is None:
                return _error(400, 101, "Invalid ListID")
        list_id = request.match_info["list_id"]
        return _json({"ListID": list_id, "Title": f"List {list_id}", "ConfirmedOptIn": False})

    async def _custom_fields(self, request: web.Request) -> web.Response:
        list_id = request.match_info["list_id"]
        with self.lock:
            if list_id not in self.lists:
                return _error(400, 101, "Invalid ListID")
            fields = [
                {"FieldName": key, "Key": f"[{key}]", "DataType": kind}
                for key, kind in self.custom_fields[list_id].items()
            ]
        return _json(fields)

    async def _import(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        items = body.get("Subscribers") or []
        if not items:
            return _error(400, 212, "No subscribers were provided in this batch")
        if len(items) > IMPORT_MAX:
            return _error(400, 209, "Too many subscribers in this batch. You can only add 1000 subscribers in one call")
        resubscribe = bool(body.get("Resubscribe"))
        failures, new, existing, seen, duplicates = [], 0, 0, set(), []
        with self.lock:
            subscribers = self._subscribers(request)
            if subscribers is None:
                return _error(400, 101, "Invalid ListID")
            fields = self.custom_fields[request.match_info["list_id"]]
            for item in items:
                email = str(item.get("EmailAddress", "")).lower()
                if email in seen:
                    duplicates.append(email)
                    continue
                seen.add(email)
                if INVALID.search(email):
                    failures.append({"EmailAddress": email, "Code": 1, "Message": "Invalid Email Address"})
                    continue
                if email in self.suppression_list:
                    failures.append({"EmailAddress": email, "Code": 204, "Message": "In Suppression List"})
                    continue
                current = subscribers.get(email)
                if current is not None and current["State"] in REFUSED_STATES and not resubscribe:
                    code, message = REFUSED_STATES[current["State"]]
                    failures.append({"EmailAddress": email, "Code": code, "Message": message})
                    continue
                custom = {field_key(str(f.get("Key", ""))): f.get("Value") for f in item.get("CustomFields") or []}
                unknown = [k for k in custom if k not in fields]
                if unknown:
                    continue  # Campaign Monitor ignores values for fields the list does not have
                if current is None:
                    new += 1
                    current = subscribers[email] = {"EmailAddress": email, "State": "Active", "CustomFields": {}}
                else:
                    existing += 1
                    if resubscribe:
                        current["State"] = "Active"
                current["Name"] = item.get("Name", "")
                current["CustomFields"].update(custom)
        summary = {
            "TotalUniqueEmailsSubmitted": len(seen),
            "TotalExistingSubscribers": existing,
            "TotalNewSubscribers": new,
            "DuplicateEmailsInSubmission": duplicates,
            "FailureDetails": failures,
        }
        if failures:
            return _error(400, 210, "Subscriber Import had some failures", ResultData=summary)
        return _json(summary, 201)

    async def _delete(self, request: web.Request) -> web.Response:
        email = request.query.get("email", "").lower()
        with self.lock:
            subscribers = self._subscribers(request)
            if subscribers is None:
                return _error(400, 101, "Invalid ListID")
            if email not in subscribers or subscribers[email]["State"] == "Deleted":
                return _error(400, 203, "Subscriber not in list or has already been removed.")
            subscribers[email]["State"] = "Deleted"
        return web.Response(status=200)

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        email = str(orjson.loads(await request.read()).get("EmailAddress", "")).lower()
        with self.lock:
            subscribers = self._subscribers(request)
            if subscribers is None:
                return _error(400, 101, "Invalid ListID")
            if email not in subscribers:
                return _error(400, 203, "Subscriber not in list or has already been removed.")
            subscribers[email]["State"] = "Unsubscribed"
        return web.Response(status=200)

    # ---- test-facing state API -----------------------------------------------------------------

    def create_target(self, target_id: str | None = None) -> str:
        list_id = target_id or uuid.uuid4().hex
        with self.lock:
            self.lists.setdefault(list_id, {})
            self.custom_fields.setdefault(list_id, {"city": "Text", "country": "Text", "phone": "Text"})
        return list_id

    def create_field(self, name: str, field_type: str = "Text") -> None:
        with self.lock:
            for fields in self.custom_fields.values():
                fields.setdefault(field_key(name), field_type)

    def _put(self, email: str, target_id: str, attributes: Mapping[str, str] | None, state: str) -> None:
        attributes = dict(attributes or {})
        name = " ".join(attributes.pop(k) for k in ("first_name", "last_name") if k in attributes)
        with self.lock:
            self.lists.setdefault(target_id, {})[email.lower()] = {
                "EmailAddress": email.lower(),
                "Name": name,
                "State": state,
                "CustomFields": attributes,
            }

    def add_member(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "Active")

    def suppress(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "Unsubscribed")

    def members(self, target_id: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {
                e: {"Name": s["Name"], **s["CustomFields"]}
                for e, s in self.lists.get(target_id, {}).items()
                if s["State"] == "Active"
            }

    def subscription_status(self, email: str, target_id: str) -> str | None:
        with self.lock:
            subscriber = self.lists.get(target_id, {}).get(email.lower())
            return None if subscriber is None else str(subscriber["State"]).lower()

    def upserted_emails(self) -> list[str]:
        with self.lock:
            imports = [r for r in self.requests if r.path.endswith("/import.json") and r.status in (201, 400)]
        # A 400 with at most 1,000 subscribers on an existing list is a partial import (code 210).
        return [
            str(s["EmailAddress"]).lower()
            for r in imports
            for s in r.json()["Subscribers"]
            if r.status == 201 or len(r.json()["Subscribers"]) <= IMPORT_MAX
        ]

    def removed_emails(self) -> list[str]:
        with self.lock:
            done = [r for r in self.requests if r.status == 200]
        emails = [r.query.get("email", "").lower() for r in done if r.method == "DELETE"]
        emails += [str(r.json()["EmailAddress"]).lower() for r in done if r.path.endswith("/unsubscribe.json")]
        return emails
