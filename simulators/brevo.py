"""A stateful Brevo API v3 simulator: contacts, lists, attributes, blocklist flags and import processes.

Faithful to ``docs/vendors.md`` §3 and the official spec: ``POST /v3/contacts/import`` (JSON body ≤ 10 MB)
answers 202 ``{"processId"}`` and is processed asynchronously (``GET /v3/processes/{id}``: ``queued`` →
``in_process`` → ``completed``); ``emailBlacklisted`` is untouched by imports that do not ask for it;
list edits take ≤ 150 emails; ``/v3/contacts/*`` is limited to 10/s and 36,000/h and everything else to
100/h, with ``x-sib-ratelimit-*`` headers on 429; errors are ``{"code", "message"}``.

Values of the wrong type for a typed attribute are dropped and counted in the process's
``info.import`` (the 2026 SDK's shape); Brevo documents counts, not addresses, for import problems.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import unquote

import orjson
from aiohttp import web

from destinations.brevo import LIST_EDIT_MAX, BrevoDestination, attribute_name
from simulators.base import BaseSimulator, SlidingWindow

MAX_JSON_BODY = 10 * 1024 * 1024  # "Maximum allowed json body size is 10MB"


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.Response(
        body=orjson.dumps({"code": code, "message": message}),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


@dataclass(slots=True)
class Process:
    id: int
    items: list[dict[str, Any]]
    list_ids: list[int]
    update_existing: bool
    status: str = "queued"
    invalid: int = 0
    dropped_values: int = 0
    created: float = field(default_factory=time.time)


class BrevoSimulator(BaseSimulator):
    vendor: ClassVar[str] = "brevo"
    limits = BrevoDestination.limits

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = "xkeysib-" + "a" * 64 + "-" + "B" * 16
        self.contacts: dict[str, dict[str, Any]] = {}  # email → {"attributes", "emailBlacklisted", "listIds"}
        self.lists: dict[int, set[str]] = {}
        self.attributes: dict[str, str] = {"FIRSTNAME": "text", "LASTNAME": "text", "SMS": "text"}
        self.processes: dict[int, Process] = {}
        self._ids = itertools.count(1)
        self._member_order: dict[tuple[int, str | None], tuple[int, list[str], int]] = {}
        self._changes = 0  # bumped by every write that can change list membership or modification times
        self.modified: dict[str, float] = {}  # email → when the contact last changed (modifiedSince)

    # ---- auth and refusals -----------------------------------------------------------------------

    def authenticate(self, request: web.Request) -> bool:
        return request.headers.get("api-key") == self.api_key

    def unauthorized_response(self) -> web.StreamResponse:
        return _error(401, "unauthorized", "Key not found")

    def bucket_for(self, method: str, path: str) -> str:
        return "contacts" if path.startswith("/v3/contacts") else "other"

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        return _error(
            429,
            "too_many_requests",
            "The expected rate limit is exceeded.",
            **{
                "x-sib-ratelimit-limit": str(window.limit.requests),
                "x-sib-ratelimit-remaining": "0",
                "x-sib-ratelimit-reset": f"{retry_after:.3f}",
            },
        )

    # ---- routes --------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v3/account", self._account)
        app.router.add_get("/v3/contacts/attributes", self._attributes)
        app.router.add_get("/v3/contacts/lists/{list_id}", self._get_list)
        app.router.add_get("/v3/contacts/lists/{list_id}/contacts", self._list_members)
        app.router.add_get("/v3/contacts", self._contacts)
        app.router.add_post("/v3/contacts/lists/{list_id}/contacts/remove", self._remove_from_list)
        app.router.add_post("/v3/contacts/import", self._import)
        app.router.add_get("/v3/processes/{process_id}", self._process)
        app.router.add_put("/v3/contacts/{identifier}", self._update_contact)
        app.router.add_delete("/v3/contacts/{identifier}", self._delete_contact)

    async def _account(self, request: web.Request) -> web.Response:
        return _json({"email": "owner@example.com", "companyName": "Simulated"})

    async def _attributes(self, request: web.Request) -> web.Response:
        with self.lock:
            items = [{"name": n, "category": "normal", "type": t} for n, t in self.attributes.items()]
        return _json({"attributes": items})

    def _list_id(self, request: web.Request) -> int | None:
        raw = request.match_info["list_id"]
        return int(raw) if raw.isdigit() and int(raw) in self.lists else None

    async def _get_list(self, request: web.Request) -> web.Response:
        with self.lock:
            list_id = self._list_id(request)
            if list_id is None:
                return _error(404, "document_not_found", "List ID not found")
            return _json({"id": list_id, "name": f"List {list_id}", "totalSubscribers": len(self.lists[list_id])})

    async def _list_members(self, request: web.Request) -> web.Response:
        limit = min(int(request.query.get("limit", "50")), 500)
        offset = int(request.query.get("offset", "0"))
        with self.lock:
            list_id = self._list_id(request)
            if list_id is None:
                return _error(404, "document_not_found", "List ID not found")
            emails = self._sorted_members(list_id, request.query.get("modifiedSince"))
            page = [
                {
                    "email": e,
                    "emailBlacklisted": self.contacts[e]["emailBlacklisted"],
                    "attributes": self.contacts[e]["attributes"],
                }
                for e in emails[offset : offset + limit]
            ]
        return _json({"contacts": page, "count": len(emails)})

    async def _contacts(self, request: web.Request) -> web.Response:
        """GET /v3/contacts: all contacts, or (``listIds``) one list's members; up to 1,000 a page."""
        limit = int(request.query.get("limit", "50"))
        if not 0 <= limit <= 1000:
            return _error(400, "invalid_parameter", "limit should be between 0 and 1000")
        offset = int(request.query.get("offset", "0"))
        list_ids = request.query.getall("listIds", [])
        with self.lock:
            if len(list_ids) > 1:
                return _error(400, "invalid_parameter", "only one list is simulated per request")
            if list_ids:
                list_id = int(list_ids[0])
                if list_id not in self.lists:
                    return _error(404, "document_not_found", "List ID not found")
                emails = self._sorted_members(list_id, request.query.get("modifiedSince"))
            else:
                emails = sorted(self.contacts)
            page = [
                {
                    "email": e,
                    "emailBlacklisted": self.contacts[e]["emailBlacklisted"],
                    "listIds": sorted(self.contacts[e]["listIds"]),
                    "attributes": self.contacts[e]["attributes"],
                }
                for e in emails[offset : offset + limit]
            ]
        return _json({"contacts": page, "count": len(emails)})

    def _sorted_members(self, list_id: int, since: str | None = None) -> list[str]:
        """Members (modified after ``since``) in a stable order for paging; worked out again only when the
        list changed, so paging through 1M members costs one sort, not one per page."""
        members = self.lists[list_id]
        key = (list_id, since)
        cached = self._member_order.get(key)
        if cached is None or cached[0] != len(members) or cached[2] != self._changes:
            emails = sorted(members)
            if since:
                after = datetime.strptime(since, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
                emails = [e for e in emails if self.modified.get(e, 0.0) > after]
            cached = (len(members), emails, self._changes)
            # Orders worked out before the last change are stale: drop them (each can hold 1M emails).
            self._member_order = {k: v for k, v in self._member_order.items() if v[2] == self._changes}
            self._member_order[key] = cached
        return cached[1]

    async def _import(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if len(raw) > MAX_JSON_BODY:
            return _error(400, "invalid_parameter", "Maximum allowed json body size is 10MB")
        body = orjson.loads(raw)
        items = body.get("jsonBody")
        if not isinstance(items, list) or not items:
            return _error(400, "missing_parameter", "jsonBody, fileBody or fileUrl is required")
        list_ids = [int(i) for i in body.get("listIds") or []]
        with self.lock:
            if any(i not in self.lists for i in list_ids):
                return _error(404, "document_not_found", "List ID not found")
            process = Process(next(self._ids), items, list_ids, bool(body.get("updateExistingContacts", True)))
            self.processes[process.id] = process
        self.run_later(self.scaled(self.job_delay), lambda: self._run(process))
        return _json({"processId": process.id}, 202)

    def _run(self, process: Process) -> None:
        with self.lock:
            for item in process.items:
                email = str(item.get("email", "")).lower()
                if "@" not in email:
                    process.invalid += 1
                    continue
                contact = self.contacts.get(email)
                if contact is not None and not process.update_existing:
                    continue
                if contact is None:
                    contact = self.contacts[email] = {"attributes": {}, "emailBlacklisted": False, "listIds": set()}
                for name, value in (item.get("attributes") or {}).items():
                    kind = self.attributes.get(str(name).upper())
                    if kind is None:
                        continue  # "Any contact attribute that doesn't exist in your account will be ignored"
                    if kind == "float" and not _is_number(value):
                        process.dropped_values += 1
                        continue
                    contact["attributes"][str(name).upper()] = value
                self.modified[email] = time.time()
                for list_id in process.list_ids:
                    contact["listIds"].add(list_id)
                    self.lists[list_id].add(email)
            process.status = "completed"
            self._changes += 1

    async def _process(self, request: web.Request) -> web.Response:
        with self.lock:
            process = self.processes.get(int(request.match_info["process_id"]))
            if process is None:
                return _error(404, "document_not_found", "Process not found")
            return _json(
                {
                    "id": process.id,
                    "status": process.status,
                    "name": "import_contacts",
                    "info": {"import": {"invalid_emails": process.invalid, "dropped_values": process.dropped_values}},
                }
            )

    async def _remove_from_list(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        emails = [str(e).lower() for e in body.get("emails") or []]
        if len(emails) > LIST_EDIT_MAX:
            return _error(400, "out_of_range", f"at most {LIST_EDIT_MAX} emails per request")
        with self.lock:
            list_id = self._list_id(request)
            if list_id is None:
                return _error(404, "document_not_found", "List ID not found")
            members = self.lists[list_id]
            success = [e for e in emails if e in members]
            self._changes += 1
            for email in success:
                members.discard(email)
                self.contacts[email]["listIds"].discard(list_id)
        if not success:
            return _error(400, "invalid_parameter", "Contact already removed from list and/or does not exist")
        return _json({"contacts": {"success": success, "failure": [e for e in emails if e not in success]}}, 201)

    async def _update_contact(self, request: web.Request) -> web.Response:
        email = unquote(request.match_info["identifier"]).lower()
        body = orjson.loads(await request.read())
        with self.lock:
            contact = self.contacts.get(email)
            if contact is None:
                return _error(404, "document_not_found", "Contact does not exist")
            if "emailBlacklisted" in body:
                contact["emailBlacklisted"] = bool(body["emailBlacklisted"])
                self.modified[email] = time.time()
                self._changes += 1
        return web.Response(status=204)

    async def _delete_contact(self, request: web.Request) -> web.Response:
        email = unquote(request.match_info["identifier"]).lower()
        with self.lock:
            self._changes += 1
            contact = self.contacts.pop(email, None)
            if contact is None:
                return _error(404, "document_not_found", "Contact does not exist")
            for list_id in contact["listIds"]:
                self.lists[list_id].discard(email)
        return web.Response(status=204)

    # ---- test-facing state API -----------------------------------------------------------------

    def create_target(self, target_id: str | None = None) -> str:
        with self.lock:
            list_id = int(target_id) if target_id else len(self.lists) + 2
            self.lists.setdefault(list_id, set())
        return str(list_id)

    def create_field(self, name: str, field_type: str = "text") -> None:
        with self.lock:
            self.attributes.setdefault(attribute_name(name), field_type)

    def _put(self, email: str, target_id: str, attributes: Mapping[str, str] | None, blocklisted: bool) -> None:
        email = email.lower()
        with self.lock:
            list_id = int(target_id)
            self.contacts[email] = {
                "attributes": {attribute_name(k): v for k, v in (attributes or {}).items()},
                "emailBlacklisted": blocklisted,
                "listIds": {list_id},
            }
            self.lists.setdefault(list_id, set()).add(email)
            self.modified[email] = time.time()
            self._changes += 1

    def add_member(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, False)

    def suppress(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, True)

    def members(self, target_id: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {
                e: dict(self.contacts[e]["attributes"])
                for e in self.lists.get(int(target_id), set())
                if not self.contacts[e]["emailBlacklisted"]
            }

    def subscription_status(self, email: str, target_id: str) -> str | None:
        with self.lock:
            contact = self.contacts.get(email.lower())
            if contact is None:
                return None
            return "blocklisted" if contact["emailBlacklisted"] else "subscribed"

    def upserted_emails(self) -> list[str]:
        with self.lock:
            imports = [r for r in self.requests if r.path == "/v3/contacts/import" and r.status == 202]
        return [str(i["email"]).lower() for r in imports for i in r.json()["jsonBody"]]

    def removed_emails(self) -> list[str]:
        with self.lock:
            done = [r for r in self.requests if r.status in (201, 204)]
        emails = [str(e).lower() for r in done if r.path.endswith("/contacts/remove") for e in r.json()["emails"]]
        emails += [unquote(r.path.rsplit("/", 1)[1]).lower() for r in done if r.method in ("PUT", "DELETE")]
        return emails


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
