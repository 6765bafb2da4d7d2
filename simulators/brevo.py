"""A stateful Brevo API v3 simulator: contacts, lists, attributes, blocklist flags and import processes.

Written from ``docs/vendors.md`` §3, the official spec (``vendor_specs/brevo``) and Brevo's Fern SDK
(``brevo-python`` 5.x, ``brevo/process/types``), not from the adapter:
``POST /v3/contacts/import`` (JSON body ≤ 10 MB) answers 202 ``{"processId"}`` and runs asynchronously;
``GET /v3/processes/{id}`` goes ``queued`` → ``in_process`` → ``completed`` (the 2025 spec's enum), or ends
``failed`` / ``cancelled`` (added by the 2026 SDK's ``GetProcessResponseStatus``). A completed import
carries ``info.import``: "URLs to CSV files with details about problematic records" (``invalid_emails``,
``duplicate_email_id``, …, each a URL or null; ``GetProcessResponseInfoImport``) — no counts.
``emailBlacklisted`` is untouched by imports that do not ask for it; list edits take ≤ 150 emails;
``/v3/contacts/*`` is limited to 10/s and 36,000/h and everything else to 100/h, with
``x-sib-ratelimit-*`` headers on 429; errors are ``{"code", "message"}`` (``errorModel``).

Read endpoints an integrator uses: ``GET /v3/contacts/{identifier}`` (email or id), ``GET /v3/contacts``
(``listIds``, ``modifiedSince``), ``GET /v3/contacts/lists/{id}`` and ``…/contacts``, with the fields
the spec requires (``id``, ``createdAt``, ``modifiedAt``, ``smsBlacklisted``, ``uniqueSubscribers``, …).

UNCONFIRMED, marked: the report files' layout (one ``email`` column is served); that a second
occurrence of an email in one import is reported in ``duplicate_email_id`` (the first is applied);
that a value of the wrong type for a typed attribute is dropped without a word (the contact is kept);
``x-sib-ratelimit-reset`` is whole seconds at ``time_scale`` 1 and keeps its fraction when time is scaled.
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import unquote

import orjson
from aiohttp import web

from simulators.base import BaseSimulator, JobPlan, RateLimit, SimulatorLimits, SlidingWindow

MAX_JSON_BODY = 10 * 1024 * 1024  # "Maximum allowed json body size is 10MB" (importContacts, vendors.md §3.1)
LIST_EDIT_MAX = 150  # contacts/add and contacts/remove: at most 150 emails (vendors.md §3.1, §3.2)
CONTACTS_PAGE_MAX = 1000  # GET /contacts ``limit`` maximum (spec: getContacts parameters)
LIST_CONTACTS_PAGE_MAX = 500  # GET /contacts/lists/{listId}/contacts ``limit`` maximum (spec)
# General tier: "All endpoints under /v3/contacts/{…}" 36,000 RPH / 10 RPS; "All other endpoints" 100 RPH
# (https://developers.brevo.com/docs/api-limits, vendors.md §3.3).
CONTACTS_LIMITS = (RateLimit(10, 1.0), RateLimit(36_000, 3_600.0))
OTHER_LIMITS = (RateLimit(100, 3_600.0),)
# Attributes present in an account from the start (spec examples; which defaults a new account has is
# UNCONFIRMED, vendors.md §3.1/§8); the product's standard names the test helpers take map onto them.
DEFAULT_ATTRIBUTES = {"FIRSTNAME": "text", "LASTNAME": "text", "SMS": "text"}
STANDARD_NAMES = {"first_name": "FIRSTNAME", "last_name": "LASTNAME", "phone": "SMS"}
# The report links of a completed import (GetProcessResponseInfoImport, brevo-python 5.x).
REPORT_KINDS = (
    "invalid_emails",
    "duplicate_contact_id",
    "duplicate_ext_id",
    "duplicate_email_id",
    "duplicate_phone_id",
    "duplicate_whatsapp_id",
    "duplicate_landline_number_id",
)
DOWNLOADS = "/downloads/"  # where the report links point: signed URLs that take no API key
NOT_STARTED, RUNNING = "queued", "in_process"


def attribute_name(attribute: str) -> str:
    """Brevo attribute names are upper case (vendors.md §3.1)."""
    return STANDARD_NAMES.get(attribute, attribute.upper())


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.Response(
        body=orjson.dumps({"code": code, "message": message}),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def _stamp(epoch: float) -> str:
    """``YYYY-MM-DDTHH:mm:ss.SSSZ`` (getContactDetails.createdAt)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(slots=True)
class Process:
    id: int
    items: list[dict[str, Any]]
    list_ids: list[int]
    update_existing: bool
    blocklist: bool = False  # ``emailBlacklist``: "To blacklist all the contacts for email"
    plan: JobPlan | None = None
    status: str = NOT_STARTED
    reports: dict[str, list[str]] = field(default_factory=dict)  # report kind → emails
    error: str | None = None
    created: float = field(default_factory=time.time)
    completed: float | None = None
    # When it shows ``in_process`` rather than ``queued`` (``time.monotonic``; never, for a process that
    # stays queued), and when its end may show: ``job_delay`` after it was accepted, however early the
    # simulator got through its items.
    starts: float = math.inf
    due: float = 0.0


class BrevoSimulator(BaseSimulator):
    vendor: ClassVar[str] = "brevo"
    limits: ClassVar[SimulatorLimits] = SimulatorLimits(
        rate_limits={"contacts": CONTACTS_LIMITS, "other": OTHER_LIMITS}
    )
    job_states: ClassVar[tuple[str, ...]] = (NOT_STARTED, RUNNING, "completed", "failed", "cancelled")
    job_failed_state: ClassVar[str] = "failed"
    error_file_path: ClassVar[str | None] = DOWNLOADS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # "xkeysib-…" (official README example, vendors.md §3.5); the rest of the shape is UNCONFIRMED.
        self.api_key = "xkeysib-" + "a" * 64 + "-" + "B" * 16
        self.contacts: dict[str, dict[str, Any]] = {}  # email → {"id", "attributes", "emailBlacklisted", …}
        self.lists: dict[int, set[str]] = {}
        self.list_created: dict[int, float] = {}
        self.attributes: dict[str, str] = dict(DEFAULT_ATTRIBUTES)
        self.processes: dict[int, Process] = {}
        self.dropped_values = 0  # typed-attribute values dropped by imports (Brevo reports none)
        self._ids = itertools.count(1)
        self._contact_ids = itertools.count(1)
        self._member_order: dict[tuple[int, str | None], tuple[int, list[str], int]] = {}
        self._changes = 0  # bumped by every write that can change list membership or modification times
        self.modified: dict[str, float] = {}  # email → when the contact last changed (modifiedSince)
        # Every change in the order it happened (times never decrease): a ``modifiedSince`` read finds the
        # contacts changed after a moment by bisection, as Brevo's own index would, instead of looking at
        # every member — a pass over 1M members held the server loop for seconds (other answers with it).
        self._change_times: list[float] = []
        self._blocklisted: set[str] = set()  # emails whose ``emailBlacklisted`` is set (list details count them)
        self._changed: list[str] = []

    # ---- auth and refusals -----------------------------------------------------------------------

    def is_public(self, request: web.Request) -> bool:
        return request.path.startswith(DOWNLOADS)  # report links are signed URLs, no key

    def authenticate(self, request: web.Request) -> bool:
        return request.headers.get("api-key") == self.api_key

    def unauthorized_response(self) -> web.StreamResponse:
        return _error(401, "unauthorized", "Key not found")

    def server_error_response(self, status: int) -> web.StreamResponse:
        return _error(status, "bad_request", "Internal server error")

    def bucket_for(self, method: str, path: str) -> str:
        return "contacts" if path.startswith("/v3/contacts") else "other"

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        # x-sib-ratelimit-reset: seconds until the window resets (https://developers.brevo.com/docs/limit-headers).
        reset = str(math.ceil(retry_after)) if self.time_scale >= 1 else f"{retry_after:.3f}"
        return _error(
            429,
            "too_many_requests",
            "The expected rate limit is exceeded.",
            **{
                "x-sib-ratelimit-limit": str(window.limit.requests),
                "x-sib-ratelimit-remaining": "0",
                "x-sib-ratelimit-reset": reset,
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
        app.router.add_get("/v3/contacts/{identifier}", self._get_contact)
        app.router.add_put("/v3/contacts/{identifier}", self._update_contact)
        app.router.add_delete("/v3/contacts/{identifier}", self._delete_contact)
        app.router.add_get(DOWNLOADS + "imports/{process_id}/{kind}.csv", self._report_file)

    async def _account(self, request: web.Request) -> web.Response:
        """``getAccount`` (spec): getClient + address + plan + relay are required."""
        return _json(
            {
                "email": "owner@example.com",
                "firstName": "Sim",
                "lastName": "Ulated",
                "companyName": "Simulated",
                "address": {"street": "1 Loopback Road", "city": "Localhost", "zipCode": "127", "country": "Nowhere"},
                "plan": [{"type": "free", "creditsType": "sendLimit", "credits": 300.0}],
                "relay": {
                    "enabled": True,
                    "data": {"userName": "owner@example.com", "relay": "smtp-relay.example.com", "port": 587},
                },
            }
        )

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
            members = self.lists[list_id]
            blocked = len(members & self._blocklisted)  # a pass over the fewer: not over 1M members on the loop
            return _json(
                {
                    "id": list_id,
                    "name": f"List {list_id}",
                    "totalBlacklisted": blocked,
                    "totalSubscribers": len(members) - blocked,
                    "uniqueSubscribers": len(members),
                    "folderId": 1,
                    "createdAt": _stamp(self.list_created.get(list_id, 0.0)),
                    "dynamicList": False,
                }
            )

    def _details(self, email: str, *, with_email: bool = True) -> dict[str, Any]:
        """``getContactDetails``: required attributes, createdAt, emailBlacklisted, id, listIds, modifiedAt,
        smsBlacklisted."""
        contact = self.contacts[email]
        body = {
            "id": contact["id"],
            "emailBlacklisted": contact["emailBlacklisted"],
            "smsBlacklisted": contact["smsBlacklisted"],
            "createdAt": _stamp(contact["createdAt"]),
            "modifiedAt": _stamp(self.modified.get(email, contact["createdAt"])),
            "listIds": sorted(contact["listIds"]),
            "attributes": dict(contact["attributes"]),
        }
        if with_email:
            body["email"] = email
        return body

    async def _list_members(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "50"))
        if not 0 <= limit <= LIST_CONTACTS_PAGE_MAX:
            return _error(400, "invalid_parameter", f"limit should be between 0 and {LIST_CONTACTS_PAGE_MAX}")
        offset = int(request.query.get("offset", "0"))
        with self.lock:
            list_id = self._list_id(request)
            if list_id is None:
                return _error(404, "document_not_found", "List ID not found")
            emails = self._sorted_members(list_id, request.query.get("modifiedSince"))
            page = [self._details(e) for e in emails[offset : offset + limit]]
        return _json({"contacts": page, "count": len(emails)})

    async def _contacts(self, request: web.Request) -> web.Response:
        """GET /v3/contacts: all contacts, or (``listIds``) one list's members; up to 1,000 a page."""
        limit = int(request.query.get("limit", "50"))
        if not 0 <= limit <= CONTACTS_PAGE_MAX:
            return _error(400, "invalid_parameter", f"limit should be between 0 and {CONTACTS_PAGE_MAX}")
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
            page = [self._details(e) for e in emails[offset : offset + limit]]
        return _json({"contacts": page, "count": len(emails)})

    def _blocklist(self, email: str, contact: dict[str, Any], flag: bool) -> None:
        """Set the contact's ``emailBlacklisted`` (with the lock held), keeping the set of those it is set for."""
        contact["emailBlacklisted"] = flag
        if flag:
            self._blocklisted.add(email)
        else:
            self._blocklisted.discard(email)

    def _touch(self, email: str) -> None:
        """``email`` changed now (called with the lock held)."""
        now = max(time.time(), self._change_times[-1] if self._change_times else 0.0)
        self.modified[email] = now
        self._change_times.append(now)
        self._changed.append(email)

    def _sorted_members(self, list_id: int, since: str | None = None) -> list[str]:
        """Members (modified after ``since``) in a stable order for paging; worked out again only when the
        list changed, so paging through 1M members costs one sort, not one per page."""
        members = self.lists[list_id]
        key = (list_id, since)
        cached = self._member_order.get(key)
        if cached is None or cached[0] != len(members) or cached[2] != self._changes:
            if since:
                after = datetime.strptime(since, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
                changed = self._changed[bisect.bisect_right(self._change_times, after) :]
                emails = sorted({e for e in changed if e in members and self.modified[e] > after})
            else:
                emails = sorted(members)
            cached = (len(members), emails, self._changes)
            # Orders worked out before the last change are stale: drop them (each can hold 1M emails).
            self._member_order = {k: v for k, v in self._member_order.items() if v[2] == self._changes}
            self._member_order[key] = cached
        return cached[1]

    async def _get_contact(self, request: web.Request) -> web.Response:
        identifier = unquote(request.match_info["identifier"]).lower()
        with self.lock:
            if identifier.isdigit():
                identifier = next((e for e, c in self.contacts.items() if c["id"] == int(identifier)), "")
            if identifier not in self.contacts:
                return _error(404, "document_not_found", "Contact does not exist")
            body = self._details(identifier)
        body["statistics"] = {}  # getExtendedContactDetails requires it; no campaigns are simulated
        return _json(body)

    async def _import(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if len(raw) > MAX_JSON_BODY:
            return _error(400, "invalid_parameter", "Maximum allowed json body size is 10MB")
        # Off the server loop: the requests arriving meanwhile are counted when they arrive (``off_loop``).
        body = await self.off_loop(orjson.loads, raw)
        items = body.get("jsonBody")
        if not isinstance(items, list) or not items:
            return _error(400, "missing_parameter", "jsonBody, fileBody or fileUrl is required")
        list_ids = [int(i) for i in body.get("listIds") or []]
        with self.lock:
            if any(i not in self.lists for i in list_ids):
                return _error(404, "document_not_found", "List ID not found")
            process = Process(
                next(self._ids),
                items,
                list_ids,
                bool(body.get("updateExistingContacts", True)),
                blocklist=body.get("emailBlacklist") is True,
                plan=self.scenario.take_job_plan(),
            )
            self.processes[process.id] = process
        plan = process.plan
        if plan is None or plan.state not in (NOT_STARTED, "vanish"):
            accepted = time.monotonic()
            process.starts = accepted + self.scaled(self.job_delay) / 2
            if plan is None or plan.state != RUNNING:
                # Processed from now on, shown queued for half the delay, then in_process, and done no
                # earlier than the whole delay. Its items are applied at once by the simulator's one job
                # thread: started only once a process shows in_process, fourteen 8 MB imports of a 1M
                # export took that thread 6.6 s on this machine's shared cores, against the 2.5 s the
                # second half of the delay allowed, and the last ones ended two seconds after their
                # ``due`` — the simulator's own CPU measured as Brevo's processing time.
                process.due = accepted + self.scaled(self.job_delay)
                self.process_later(0.0, lambda: self._run(process))
        return _json({"processId": process.id}, 202)

    def _run(self, process: Process) -> None:
        plan = process.plan
        ending = plan.state if plan is not None else "completed"
        with self.lock:
            seen: set[str] = set()
            for n, item in enumerate(process.items):
                self.let_others_in(n)
                if ending in ("failed", "cancelled") and (
                    plan is None or plan.apply_first is None or n >= plan.apply_first
                ):
                    break
                email = str(item.get("email", "")).lower()
                if "@" not in email or (plan is not None and email in plan.reject):
                    process.reports.setdefault("invalid_emails", []).append(email)
                    continue
                if email in seen:
                    process.reports.setdefault("duplicate_email_id", []).append(email)
                    continue
                seen.add(email)
                self._apply(process, item, email)
            process.status = ending
            if ending == "failed":
                process.error = "The import could not be processed"
            process.completed = time.time()
            self._changes += 1

    def _apply(self, process: Process, item: Mapping[str, Any], email: str) -> None:
        contact = self.contacts.get(email)
        if contact is not None and not process.update_existing:
            return
        if contact is None:
            contact = self._new_contact(email)
        for name, value in (item.get("attributes") or {}).items():
            kind = self.attributes.get(str(name).upper())
            if kind is None:
                continue  # "Any contact attribute that doesn't exist in your account will be ignored"
            if kind == "float" and not _is_number(value):
                self.dropped_values += 1
                continue
            contact["attributes"][str(name).upper()] = value
        if process.blocklist:
            self._blocklist(email, contact, True)  # false (the default) leaves the flag as it was
        self._touch(email)
        for list_id in process.list_ids:
            contact["listIds"].add(list_id)
            self.lists[list_id].add(email)

    def _new_contact(self, email: str) -> dict[str, Any]:
        contact = {
            "id": next(self._contact_ids),
            "attributes": {},
            "emailBlacklisted": False,
            "smsBlacklisted": False,
            "listIds": set(),
            "createdAt": time.time(),
        }
        self.contacts[email] = contact
        return contact

    async def _process(self, request: web.Request) -> web.Response:
        raw = request.match_info["process_id"]
        with self.lock:
            process = self.processes.get(int(raw)) if raw.isdigit() else None
            if process is None or (process.plan is not None and process.plan.vanishes):
                return _error(404, "invalid_parameter", "processId is invalid")
            now = time.monotonic()
            ended = process.status not in (NOT_STARTED, RUNNING) and now >= process.due
            status = process.status if ended else NOT_STARTED if now < process.starts else RUNNING
            body: dict[str, Any] = {"id": process.id, "status": status, "name": "IMPORTUSER"}
            if status == "completed":
                # "only returned for completed IMPORTUSER processes" (GetProcessResponseInfo).
                body["info"] = {
                    "import": {
                        kind: (
                            f"{self.url}{DOWNLOADS}imports/{process.id}/{kind}.csv"
                            if process.reports.get(kind)
                            else None
                        )
                        for kind in REPORT_KINDS
                    }
                }
            if ended and process.error is not None:
                body["error"] = process.error
            body["created_at"] = _stamp(process.created)
            if ended and process.completed is not None:
                body["completed_at"] = _stamp(process.completed)
        return _json(body)

    async def _report_file(self, request: web.Request) -> web.Response:
        raw = request.match_info["process_id"]
        with self.lock:
            process = self.processes.get(int(raw)) if raw.isdigit() else None
            emails = (process.reports.get(request.match_info["kind"]) if process else None) or []
        if not emails:
            return web.Response(status=404, text="not found")
        return web.Response(text="email\n" + "".join(f"{e}\n" for e in emails), content_type="text/csv")

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
                self._touch(email)
        if not success:
            return _error(400, "invalid_parameter", "Contact already removed from list and/or does not exist")
        failure = [e for e in emails if e not in success]
        return _json({"contacts": {"success": success, "failure": failure, "total": len(emails)}}, 201)

    async def _update_contact(self, request: web.Request) -> web.Response:
        email = unquote(request.match_info["identifier"]).lower()
        body = orjson.loads(await request.read())
        with self.lock:
            contact = self.contacts.get(email)
            if contact is None:
                return _error(404, "document_not_found", "Contact does not exist")
            if "emailBlacklisted" in body:
                self._blocklist(email, contact, bool(body["emailBlacklisted"]))
                self._touch(email)
                self._changes += 1
        return web.Response(status=204)

    async def _delete_contact(self, request: web.Request) -> web.Response:
        email = unquote(request.match_info["identifier"]).lower()
        with self.lock:
            self._changes += 1
            contact = self.contacts.pop(email, None)
            if contact is None:
                return _error(404, "document_not_found", "Contact does not exist")
            self._blocklisted.discard(email)
            for list_id in contact["listIds"]:
                self.lists[list_id].discard(email)
        return web.Response(status=204)

    # ---- test-facing state API -----------------------------------------------------------------

    def create_target(self, target_id: str | None = None) -> str:
        with self.lock:
            list_id = int(target_id) if target_id else len(self.lists) + 2
            self.lists.setdefault(list_id, set())
            self.list_created.setdefault(list_id, time.time())
        return str(list_id)

    def create_field(self, name: str, field_type: str = "text") -> None:
        with self.lock:
            self.attributes.setdefault(attribute_name(name), field_type)

    def _put(self, email: str, target_id: str, attributes: Mapping[str, str] | None, blocklisted: bool) -> None:
        email = email.lower()
        with self.lock:
            list_id = int(target_id)
            contact = self.contacts.get(email) or self._new_contact(email)
            contact["attributes"] = {attribute_name(k): v for k, v in (attributes or {}).items()}
            self._blocklist(email, contact, blocklisted)
            contact["listIds"] = {list_id}
            self.lists.setdefault(list_id, set()).add(email)
            self.list_created.setdefault(list_id, time.time())
            self._touch(email)
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
