"""A stateful Campaign Monitor (createsend v3.3) simulator: lists, custom fields, subscriber states, and
Campaign Monitor's OAuth 2 authorization server.

Written from ``docs/vendors.md`` §5 and the official SDK ``createsend`` 9.1.4 (its code and test fixtures),
not from the adapter: ``import.json`` takes ≤ 1,000 subscribers (400 code 209 beyond) and answers 201 with
a summary, or 400 code 210 "Subscriber Import had some failures" with ``ResultData.FailureDetails``
(``[{EmailAddress, Code, Message}]``, fixture ``import_subscribers_partial_success.json``);
``Resubscribe: false`` leaves unsubscribed (206), bounced (207), deleted (205), unconfirmed (208) and
suppressed (204) subscribers as they are and reports them as failures; an invalid address is code 1;
a repeated address is listed in ``DuplicateEmailsInSubmission`` and imported once. Errors are
``{"Code", "Message"}``; 401 code 100 for a bad key and code 121 "Expired OAuth Token"; 400 code 101 for an
unknown list (status UNCONFIRMED, the code is from the error tables). States: Active, Unsubscribed,
Bounced, Deleted, Unconfirmed.

A custom field the list lacks: Campaign Monitor imports the subscriber and drops the value without a
word (createsend-php#59, "Import Subscriber Ignores Custom Fields": the subscriber is there, its custom
fields empty). The simulator does the same — the subscriber is kept and counted, never dropped — and
records each dropped value in ``sim.ignored_custom_fields`` so a test can see what the response hides;
an adapter must refuse such a mapping in pre-flight.

Read endpoints: ``GET /subscribers/{listid}.json?email=`` (subscriber details, fixture
``subscriber_details.json``) and ``GET /lists/{listid}/{active|unsubscribed|bounced|deleted}.json`` (paged,
fixture ``active_subscribers.json``).

OAuth 2 (https://www.campaignmonitor.com/api/v3-3/getting-started/ and ``createsend.py``
``authorize_url``/``exchange_token``/``refresh_token``): ``GET /oauth`` redirects with a ``code``;
``POST /oauth/token`` (form) exchanges it, or a refresh token, for ``{access_token, expires_in,
refresh_token}``; a refreshed or expired access token is answered 401 code 121.

Addresses treated as invalid (code 1): no ``@``, or a domain under ``.invalid`` / ``.test`` (standing in
for Campaign Monitor's undocumented address checks).
"""

from __future__ import annotations

import base64
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode

import orjson
from aiohttp import web

from simulators.base import BaseSimulator, SimulatorLimits, SlidingWindow

IMPORT_MAX = 1_000  # code 209: "You can only add 1000 subscribers in one call" (vendors.md §5.1)
# UNCONFIRMED: no limit is published for these endpoints (vendors.md §5.3); users report unexplained 429s
# (createsend-dotnet#67). The simulator refuses beyond 10 requests in flight.
ASSUMED_CONCURRENCY = 10
ACCESS_TOKEN_SECONDS = 1_209_600  # expires_in of the token exchange (two weeks, OAuth docs example)
PAGE_SIZE_MAX = 1_000  # pagesize of the list subscriber endpoints (fixture PageSize 1000)
# Code 1 "Invalid Email Address"; RFC 2606 reserved names stand in for CM's undocumented address checks.
INVALID = re.compile(r"(^[^@]*$)|\.(invalid|test)$")
REFUSED_STATES = {
    "Unsubscribed": (206, "Is Unsubscribed"),
    "Bounced": (207, "Is Bounced"),
    "Deleted": (205, "Is Deleted"),
    "Unconfirmed": (208, "Is Unconfirmed"),
}
# The list endpoints per subscriber state (createsend list.py: active, unsubscribed, bounced, deleted).
LIST_STATES = {"active": "Active", "unsubscribed": "Unsubscribed", "bounced": "Bounced", "deleted": "Deleted"}
# The product's standard name parts the test helpers fold into the single ``Name`` field (vendors.md §5.1).
NAME_PARTS = ("first_name", "last_name")


def field_key(name: str) -> str:
    """Custom field keys appear as ``[Key]`` in list definitions; requests may use either form."""
    return name.strip("[]")


def _error(status: int, code: int, message: str, **extra: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps({"Code": code, "Message": message, **extra}), status=status, content_type="application/json"
    )


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def _date(epoch: float) -> str:
    """``2010-10-25 10:28:00`` (the SDK fixtures' date format)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


class CampaignMonitorSimulator(BaseSimulator):
    vendor: ClassVar[str] = "campaign_monitor"
    limits: ClassVar[SimulatorLimits] = SimulatorLimits(rate_limits={}, max_concurrency=ASSUMED_CONCURRENCY)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = "cm" + "k" * 46  # key format UNCONFIRMED (vendors.md §5.5)
        self.oauth_token = "cm-oauth-" + "o" * 30
        self.oauth_client = ("cm-client-id", "cm-client-secret")  # (client_id, client_secret) registered
        self.oauth_tokens: dict[str, float] = {self.oauth_token: float("inf")}  # access token → expiry
        self._refresh_tokens: dict[str, str] = {}  # refresh token → its current access token
        self._codes: dict[str, tuple[str, str]] = {}  # code → (client_id, redirect_uri)
        self.lists: dict[str, dict[str, dict[str, Any]]] = {}  # list id → email → subscriber
        self.custom_fields: dict[str, dict[str, str]] = {}  # list id → key → data type
        self.suppression_list: set[str] = set()
        self.ignored_custom_fields: list[tuple[str, str]] = []  # (email, key) values dropped on import

    def is_public(self, request: web.Request) -> bool:
        return request.path == "/oauth" or request.path.startswith("/oauth/")

    def authenticate(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[7:] in self.oauth_tokens
        if header.startswith("Basic "):
            try:
                user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return user == self.api_key
        return False

    def credential_problem(self, request: web.Request) -> web.StreamResponse | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and self.oauth_tokens.get(header[7:], 0.0) <= time.time():
            return _error(401, 121, "Expired OAuth Token")
        return None

    def unauthorized_response(self) -> web.StreamResponse:
        return _error(401, 100, "Invalid API Key")

    def server_error_response(self, status: int) -> web.StreamResponse:
        return _error(status, status, "Internal Server Error")

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        # {"Code":429,"Message":"Rate limit exceeded"} (transactional docs, vendors.md §5.3; no headers here).
        return _error(429, 429, "Rate limit exceeded")

    def too_many_connections_response(self) -> web.StreamResponse:
        return _error(429, 429, "Rate limit exceeded")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/oauth", self._authorize)
        app.router.add_post("/oauth/token", self._token)
        api = "/api/v3.3"
        app.router.add_get(api + "/systemdate.json", self._system_date)
        app.router.add_get(api + "/lists/{list_id}.json", self._list)
        app.router.add_get(api + "/lists/{list_id}/customfields.json", self._custom_fields)
        for state in LIST_STATES:
            app.router.add_get(api + "/lists/{list_id}/" + state + ".json", self._subscribers_in_state)
        app.router.add_get(api + "/subscribers/{list_id}.json", self._subscriber_details)
        app.router.add_post(api + "/subscribers/{list_id}/import.json", self._import)
        app.router.add_delete(api + "/subscribers/{list_id}.json", self._delete)
        app.router.add_post(api + "/subscribers/{list_id}/unsubscribe.json", self._unsubscribe)

    # ---- OAuth 2 -------------------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.oauth_client[0] or not redirect:
            return web.Response(status=400, text="invalid client_id or redirect_uri")
        code = secrets.token_hex(16)
        with self.lock:
            self._codes[code] = (query["client_id"], redirect)
        params = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        raise web.HTTPFound(f"{redirect}{'&' if '?' in redirect else '?'}{urlencode(params)}")

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = form.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                client = (str(form.get("client_id", "")), str(form.get("client_secret", "")))
                issued = self._codes.pop(str(form.get("code", "")), None)
                if client != self.oauth_client or issued != (client[0], str(form.get("redirect_uri", ""))):
                    return _json({"error": "invalid_grant", "error_description": "Invalid authorization code"}, 400)
            elif grant == "refresh_token":
                old = self._refresh_tokens.pop(str(form.get("refresh_token", "")), None)
                if old is None:
                    return _json({"error": "invalid_grant", "error_description": "Invalid refresh token"}, 400)
                self.oauth_tokens.pop(old, None)  # the old access token stops working
            else:
                return _json({"error": "unsupported_grant_type", "error_description": "grant_type"}, 400)
            access, refresh = secrets.token_hex(16), secrets.token_hex(16)
            self.oauth_tokens[access] = time.time() + ACCESS_TOKEN_SECONDS
            self._refresh_tokens[refresh] = access
        return _json({"access_token": access, "expires_in": ACCESS_TOKEN_SECONDS, "refresh_token": refresh})

    def expire_oauth_tokens(self) -> None:
        """Make every issued access token expired (answered 401 code 121 until refreshed)."""
        with self.lock:
            for token in self.oauth_tokens:
                self.oauth_tokens[token] = 0.0

    # ---- API -----------------------------------------------------------------------------------

    async def _system_date(self, request: web.Request) -> web.Response:
        return _json({"SystemDate": _date(time.time())})

    def _subscribers(self, request: web.Request) -> dict[str, dict[str, Any]] | None:
        return self.lists.get(request.match_info["list_id"])

    async def _list(self, request: web.Request) -> web.Response:
        with self.lock:
            if self._subscribers(request) is None:
                return _error(400, 101, "Invalid ListID")
        list_id = request.match_info["list_id"]
        return _json(
            {
                "ListID": list_id,
                "Title": f"List {list_id}",
                "UnsubscribePage": "",
                "ConfirmedOptIn": False,
                "ConfirmationSuccessPage": "",
                "UnsubscribeSetting": "AllClientLists",
            }
        )

    async def _custom_fields(self, request: web.Request) -> web.Response:
        list_id = request.match_info["list_id"]
        with self.lock:
            if list_id not in self.lists:
                return _error(400, 101, "Invalid ListID")
            fields = [
                {
                    "FieldName": key,
                    "Key": f"[{key}]",
                    "DataType": kind,
                    "FieldOptions": [],
                    "VisibleInPreferenceCenter": True,
                }
                for key, kind in self.custom_fields[list_id].items()
            ]
        return _json(fields)

    @staticmethod
    def _details(subscriber: Mapping[str, Any]) -> dict[str, Any]:
        """Subscriber details as the SDK fixture ``subscriber_details.json`` has them."""
        return {
            "EmailAddress": subscriber["EmailAddress"],
            "Name": subscriber.get("Name", ""),
            "StateChangedDate": _date(subscriber.get("StateChanged", 0.0)),
            "ListJoinedDate": _date(subscriber.get("Joined", 0.0)),
            "State": subscriber["State"],
            "CustomFields": [{"Key": k, "Value": v} for k, v in subscriber["CustomFields"].items()],
            "ReadsEmailWith": "",
        }

    async def _subscriber_details(self, request: web.Request) -> web.Response:
        email = request.query.get("email", "").lower()
        with self.lock:
            subscribers = self._subscribers(request)
            if subscribers is None:
                return _error(400, 101, "Invalid ListID")
            subscriber = subscribers.get(email)
            if subscriber is None:
                return _error(400, 203, "Subscriber not in list or has already been removed.")
            return _json(self._details(subscriber))

    async def _subscribers_in_state(self, request: web.Request) -> web.Response:
        state = LIST_STATES[request.path.rsplit("/", 1)[1].removesuffix(".json")]
        page = max(1, int(request.query.get("page", "1")))
        size = min(PAGE_SIZE_MAX, max(10, int(request.query.get("pagesize", str(PAGE_SIZE_MAX)))))
        with self.lock:
            subscribers = self._subscribers(request)
            if subscribers is None:
                return _error(400, 101, "Invalid ListID")
            chosen = [self._details(s) for e, s in sorted(subscribers.items()) if s["State"] == state]
        results = chosen[(page - 1) * size : page * size]
        return _json(
            {
                "Results": results,
                "ResultsOrderedBy": "email",
                "OrderDirection": "asc",
                "PageNumber": page,
                "PageSize": size,
                "RecordsOnThisPage": len(results),
                "TotalNumberOfRecords": len(chosen),
                "NumberOfPages": max(1, -(-len(chosen) // size)),
            }
        )

    async def _import(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        items = body.get("Subscribers") or []
        if not items:
            return _error(400, 212, "No subscribers were provided in this batch")
        if len(items) > IMPORT_MAX:
            return _error(400, 209, "Too many subscribers in this batch. You can only add 1000 subscribers in one call")
        resubscribe = bool(body.get("Resubscribe"))
        failures: list[dict[str, Any]] = []
        new = existing = 0
        seen: set[str] = set()
        duplicates: list[str] = []
        with self.lock:
            subscribers = self._subscribers(request)
            if subscribers is None:
                return _error(400, 101, "Invalid ListID")
            fields = self.custom_fields[request.match_info["list_id"]]
            now = time.time()
            for item in items:
                email = str(item.get("EmailAddress", "")).lower()
                if email in seen:
                    duplicates.append(email)
                    continue
                seen.add(email)
                failure = self._failure(email, subscribers.get(email), resubscribe)
                if failure is not None:
                    failures.append({"EmailAddress": email, "Code": failure[0], "Message": failure[1]})
                    continue
                current = subscribers.get(email)
                if current is None:
                    new += 1
                    current = subscribers[email] = {
                        "EmailAddress": email,
                        "State": "Active",
                        "CustomFields": {},
                        "Joined": now,
                        "StateChanged": now,
                    }
                else:
                    existing += 1
                    if current["State"] != "Active":
                        current["State"], current["StateChanged"] = "Active", now
                current["Name"] = item.get("Name", "")
                for entry in item.get("CustomFields") or []:
                    key = field_key(str(entry.get("Key", "")))
                    if key not in fields:
                        self.ignored_custom_fields.append((email, key))  # dropped without a word, as CM does
                    elif entry.get("Clear"):
                        current["CustomFields"].pop(key, None)
                    else:
                        current["CustomFields"][key] = entry.get("Value")
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

    def _failure(self, email: str, current: Mapping[str, Any] | None, resubscribe: bool) -> tuple[int, str] | None:
        if INVALID.search(email):
            return 1, "Invalid Email Address"
        if email in self.suppression_list:
            return 204, "In Suppression List"
        if current is not None and current["State"] in REFUSED_STATES and not resubscribe:
            return REFUSED_STATES[current["State"]]
        return None

    async def _delete(self, request: web.Request) -> web.Response:
        email = request.query.get("email", "").lower()
        with self.lock:
            subscribers = self._subscribers(request)
            if subscribers is None:
                return _error(400, 101, "Invalid ListID")
            if email not in subscribers or subscribers[email]["State"] == "Deleted":
                return _error(400, 203, "Subscriber not in list or has already been removed.")
            subscribers[email]["State"] = "Deleted"
            subscribers[email]["StateChanged"] = time.time()
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
            subscribers[email]["StateChanged"] = time.time()
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
        name = " ".join(attributes.pop(k) for k in NAME_PARTS if k in attributes)
        now = time.time()
        with self.lock:
            self.lists.setdefault(target_id, {})[email.lower()] = {
                "EmailAddress": email.lower(),
                "Name": name,
                "State": state,
                "CustomFields": attributes,
                "Joined": now,
                "StateChanged": now,
            }

    def add_member(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "Active")

    def suppress(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "Unsubscribed")

    def set_state(self, email: str, target_id: str, state: str) -> None:
        """Put a subscriber in any state (Bounced, Deleted, Unconfirmed, …) for a test."""
        with self.lock:
            subscriber = self.lists[target_id].get(email.lower())
            if subscriber is None:
                self._put(email, target_id, None, state)
            else:
                subscriber["State"] = state

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
