"""A stateful Omnisend (API 2026-03-15) simulator: contacts with tags and email status, async batches.

Written from ``docs/vendors.md`` §4 and the 2026-03-15 specs (``vendor_specs/omnisend``), not from the
adapter: ``POST /api/batches`` takes ≤ 100 items (``CreateBatchRequest.items maxItems 100``) and answers
201 ``{batchID, totalCount}``; the batch runs asynchronously, ``pending`` → ``inProgress`` → ``finished``,
or ``stopped`` ("Batch stopped for too many errors", v3 batches reference); ``DELETE /api/contacts/tags``
(≤ 250 emails) answers 202; 400/minute on contacts and batches, 60/minute on tags, 429 as
``RateLimitProblem`` with an integer ``retryAfter`` (seconds); errors are RFC 9457 problems; the
``Omnisend-Version`` header is required (410 for another version).

Untagging is asynchronous ("Untagging is performed asynchronously, so the tags may not disappear
immediately", contacts spec) and answers no job to ask: the simulator removes the tags ``job_delay`` after
the 202; ``stall_removals`` (tests) leaves accepted untags unapplied, as an untag that never happens would.

Where per-item results live — an ASSUMPTION, the stricter reading of the spec: ``GET /batches/{batchID}``
answers the ``Batch`` with its status and counts only, and the per-item results are at
``GET /batches/{batchID}/items`` (its own operation, "Batch items for a given batch ID", answering a
``Batch`` whose ``responses`` hold the items that succeeded and ``errors`` those that did not, each a
``BatchItem {itemID, request, response, responseCode, status}``). The v3 reference lists ``errors[]``,
``responses[]`` and ``items[]`` on the batch itself; which of them the 2026 API fills is unverified, so an
adapter must read the items endpoint. ``results_in_batch = True`` (class or instance) also puts them on
``GET /batches/{batchID}`` for a caller that still reads them there.

Per-item refusals: an email Omnisend cannot parse, a phone not in E.164, a birthdate not YYYY-MM-DD
(``ValidationProblem``-shaped item responses). Read endpoints: ``GET /api/contacts`` (``email``, ``tag``,
``status`` filters) and ``GET /api/contacts/{id}`` answer ``ContactResponse`` bodies.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

import orjson
from aiohttp import web

from simulators.base import BaseSimulator, JobPlan, RateLimit, SimulatorLimits, SlidingWindow, iso_timestamp

API_VERSION = "2026-03-15"  # "Omnisend-Version: 2026-03-15" required (vendors.md §4)
BATCH_ITEMS = 100  # CreateBatchRequest.items maxItems 100 (batches spec)
UNTAG_MAX = 250  # RemoveTagsRequest.emails maxItems 250 (contacts spec)
CONTACTS_PAGE_MAX = 250  # GET /contacts ``limit`` maximum 250 (contacts spec)
PER_MINUTE = (RateLimit(400, 60.0),)  # "rate limited to 400 requests per minute" (both specs)
TAGS_PER_MINUTE = (RateLimit(60, 60.0),)  # tag endpoints: 60 requests/minute (contacts spec)
# ContactRequest / ContactResponse profile fields (contacts spec).
CONTACT_FIELDS = ("firstName", "lastName", "address", "city", "state", "postalCode", "country", "countryCode")
# The product's standard attribute names the test helpers take → ContactRequest fields.
STANDARD_NAMES = {
    "first_name": "firstName",
    "last_name": "lastName",
    "address": "address",
    "city": "city",
    "state": "state",
    "postal_code": "postalCode",
    "country": "country",
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")  # "Must be a valid email address" (FieldError example)
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")  # "Phone must be E.164" (vendors.md §4.1)
BIRTHDATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # "Contact birthdate in YYYY-MM-DD format"
FAKE_DOMAIN = re.compile(r"\.(invalid|test)$")  # reserved names (RFC 2606) stand in for undeliverable ones


def email_of(item: Mapping[str, Any]) -> str:
    """The email identifier of a ContactRequest (``identifiers[type=email].id``)."""
    for identifier in item.get("identifiers") or []:
        if identifier.get("type") == "email":
            return str(identifier.get("id", "")).lower()
    return str(item.get("email", "")).lower()


def _problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    body = {
        "type": "https://problems.omnisend.com/problem",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "urn:omnisend:request:simulated",
        **extra,
    }
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/problem+json")


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


class OmnisendSimulator(BaseSimulator):
    vendor: ClassVar[str] = "omnisend"
    limits: ClassVar[SimulatorLimits] = SimulatorLimits(
        rate_limits={"contacts": PER_MINUTE, "batches": PER_MINUTE, "tags": TAGS_PER_MINUTE}
    )
    job_states: ClassVar[tuple[str, ...]] = ("pending", "inProgress", "finished", "stopped")
    job_failed_state: ClassVar[str] = "stopped"
    results_in_batch: bool = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Key format is UNCONFIRMED (vendors.md §4.5): any opaque string of this shape.
        self.api_key = "68f0" + "a" * 20 + "-" + "Z" * 48
        self.contacts: dict[str, dict[str, Any]] = {}  # email → {"id", "status", "tags", "fields", …}
        self.tags: set[str] = set()
        self.batches: dict[str, dict[str, Any]] = {}
        self._plans: dict[str, JobPlan | None] = {}
        self._ids = itertools.count(1)
        self.stall_removals = False  # accepted untags are never applied
        # status → emails: a status-filtered read (the unsubscribed read-back) looks at that status only, as
        # Omnisend's index would, not at every contact on the server loop (1M contacts: seconds a page).
        self._by_status: dict[str, set[str]] = {}

    # ---- auth and refusals -----------------------------------------------------------------------

    def authenticate(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Omnisend-API-Key {self.api_key}"

    def unauthorized_response(self) -> web.StreamResponse:
        return _problem(401, "Unauthorized", "Authentication is missing or invalid")

    def server_error_response(self, status: int) -> web.StreamResponse:
        return _problem(status, "Internal Server Error", "Unexpected error occurred")

    def bucket_for(self, method: str, path: str) -> str:
        if path.startswith("/api/contacts/tags"):
            return "tags"
        return "batches" if path.startswith("/api/batches") else "contacts"

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        # RateLimitProblem.retryAfter: "Seconds to wait before retrying the request", type integer.
        seconds = max(1, math.ceil(retry_after))
        response = _problem(429, "Too Many Requests", "Rate limit exceeded", retryAfter=seconds)
        # X-Rate-Limit-* (v3 rate-limit page, vendors.md §4.3; whether 2026 sends them is UNCONFIRMED).
        response.headers["X-Rate-Limit-Limit"] = str(window.limit.requests)
        response.headers["X-Rate-Limit-Remaining"] = "0"
        response.headers["X-Rate-Limit-Reset"] = str(seconds)
        return response

    # ---- routes --------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/contacts", self._list_contacts)
        app.router.add_get("/api/contacts/{contact_id}", self._get_contact)
        app.router.add_post("/api/batches", self._create_batch)
        app.router.add_get("/api/batches/{batch_id}", self._get_batch)
        app.router.add_get("/api/batches/{batch_id}/items", self._batch_items)
        app.router.add_delete("/api/contacts/tags", self._untag)

    def _version_problem(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Omnisend-Version") != API_VERSION:
            return _problem(410, "Gone", "API version has been retired or is missing")
        return None

    def _contact_body(self, email: str) -> dict[str, Any]:
        """``ContactResponse`` (contacts spec)."""
        contact = self.contacts[email]
        channel = {"status": contact["status"], "statusChangedAt": iso_timestamp(contact["statusChangedAt"])}
        body: dict[str, Any] = {
            "id": contact["id"],
            "email": email,
            "status": contact["status"],
            "statuses": [{"channel": "email", **channel}],
            "identifiers": [{"type": "email", "id": email, "channels": {"email": channel}}],
            "tags": sorted(contact["tags"]),
            "createdAt": iso_timestamp(contact["createdAt"]),
            "updatedAt": iso_timestamp(contact["updatedAt"]),
            "customProperties": dict(contact["custom"]),
        }
        body.update({k: v for k, v in contact["fields"].items() if k in CONTACT_FIELDS or k == "birthdate"})
        return body

    async def _list_contacts(self, request: web.Request) -> web.Response:
        if (problem := self._version_problem(request)) is not None:
            return problem
        limit = int(request.query.get("limit", "100"))
        if not 1 <= limit <= CONTACTS_PAGE_MAX:
            return _problem(
                400,
                "Bad Request",
                "Request contains invalid or missing fields",
                errors=[{"code": "out_of_range", "field": "limit", "message": f"limit must be 1..{CONTACTS_PAGE_MAX}"}],
            )
        offset = int(request.query.get("after") or "0")
        status = request.query.get("status")
        tag = request.query.get("tag")
        wanted = request.query.get("email")
        with self.lock:
            # An email names at most one contact, a status its own set: looked up directly, not by a pass
            # over every contact.
            candidates: Collection[str] = self.contacts if status is None else self._by_status.get(status, set())
            if wanted is not None:
                candidates = [wanted.lower()] if wanted.lower() in candidates else []
            chosen = sorted(e for e in candidates if tag is None or tag in self.contacts[e]["tags"])
            contacts = [self._contact_body(e) for e in chosen[offset : offset + limit]]
        more = offset + limit < len(chosen)
        cursors = {"after": str(offset + limit) if more else None, "before": str(offset) if offset else None}
        return _json({"contacts": contacts, "paging": {"hasMore": more, "limit": limit, "cursors": cursors}})

    async def _get_contact(self, request: web.Request) -> web.Response:
        if (problem := self._version_problem(request)) is not None:
            return problem
        with self.lock:
            email = next((e for e, c in self.contacts.items() if c["id"] == request.match_info["contact_id"]), None)
            if email is None:
                return _problem(404, "Not Found", "Contact not found")
            return _json(self._contact_body(email))

    async def _create_batch(self, request: web.Request) -> web.Response:
        if (problem := self._version_problem(request)) is not None:
            return problem
        body = orjson.loads(await request.read())
        items = body.get("items")
        if body.get("endpoint") != "contacts" or body.get("method") not in ("POST", "PUT"):
            return _problem(
                400,
                "Bad Request",
                "endpoint and method are required",
                errors=[{"code": "invalid_value", "field": "endpoint", "message": "must be contacts"}],
            )
        if not isinstance(items, list) or not 1 <= len(items) <= BATCH_ITEMS:
            return _problem(
                400,
                "Bad Request",
                f"items must hold 1 to {BATCH_ITEMS} entries",
                errors=[{"code": "out_of_range", "field": "items", "message": f"maxItems {BATCH_ITEMS}"}],
            )
        batch_id = f"{next(self._ids):024x}"
        batch = {
            "batchID": batch_id,
            "status": "pending",
            "endpoint": "contacts",
            "method": body["method"],
            "origin": "api",
            "createdAt": iso_timestamp(time.time()),
            "totalCount": len(items),
            "finishedCount": 0,
            "errorsCount": 0,
            "errors": [],
            "responses": [],
            "items": items,
        }
        plan = self.scenario.take_job_plan()
        with self.lock:
            self.batches[batch_id] = batch
            self._plans[batch_id] = plan
        if plan is None or plan.state not in ("pending", "vanish"):
            self.run_later(self.scaled(self.job_delay) / 2, lambda: self._start(batch, plan))
        return _json({"batchID": batch_id, "totalCount": len(items)}, 201)

    def _start(self, batch: dict[str, Any], plan: JobPlan | None) -> None:
        with self.lock:
            batch["status"] = "inProgress"
            batch["startedAt"] = iso_timestamp(time.time())
        if plan is None or plan.state != "inProgress":
            self.process_later(self.scaled(self.job_delay) / 2, lambda: self._run(batch, plan))

    def _run(self, batch: dict[str, Any], plan: JobPlan | None) -> None:
        stopped = plan is not None and plan.state == "stopped"
        with self.lock:
            for n, item in enumerate(batch["items"]):
                self.let_others_in(n)
                if stopped and (plan is None or plan.apply_first is None or n >= plan.apply_first):
                    break  # items after the stop are neither in responses nor in errors
                item_id = f"{batch['batchID']}-{n}"
                email = email_of(item)
                problem = self._item_problem(email, item)
                if problem is None and plan is not None and email in plan.reject:
                    problem = plan.reject[email]
                if problem is not None:
                    batch["errors"].append(
                        {
                            "itemID": item_id,
                            "request": item,
                            "responseCode": 400,
                            "status": "error",
                            "response": {
                                "type": "https://problems.omnisend.com/problem",
                                "title": "Bad Request",
                                "status": 400,
                                "detail": problem,
                            },
                        }
                    )
                    continue
                code, contact_id = self._apply(email, item)
                batch["responses"].append(
                    {
                        "itemID": item_id,
                        "request": item,
                        "responseCode": code,
                        "status": "finished",
                        "response": {"id": contact_id},
                    }
                )
            batch["finishedCount"] = len(batch["responses"]) + len(batch["errors"])
            batch["errorsCount"] = len(batch["errors"])
            batch["status"] = "stopped" if stopped else "finished"
            batch["endedAt"] = iso_timestamp(time.time())

    def _apply(self, email: str, item: Mapping[str, Any]) -> tuple[int, str]:
        contact = self.contacts.get(email)
        code = 200
        now = time.time()
        if contact is None:
            code = 201
            contact = self._new_contact(email, "nonSubscribed", now)
        for identifier in item.get("identifiers") or []:
            channel = ((identifier.get("channels") or {}).get("email") or {}).get("status")
            if identifier.get("type") == "email" and channel and channel != contact["status"]:
                self._set_status(email, contact, channel)  # Omnisend applies it, existing contact or not
                contact["statusChangedAt"] = now
        contact["tags"].update(item.get("tags") or [])
        self.tags.update(item.get("tags") or [])
        contact["fields"].update({k: v for k, v in item.items() if k in CONTACT_FIELDS or k == "birthdate"})
        contact["custom"].update(item.get("customProperties") or {})
        contact["updatedAt"] = now
        return code, str(contact["id"])

    def _set_status(self, email: str, contact: dict[str, Any], status: str) -> None:
        """Set a contact's email status (with the lock held), keeping ``_by_status`` in step."""
        self._reindex(email, contact["status"], status)
        contact["status"] = status

    def _reindex(self, email: str, old: str | None, new: str) -> None:
        """Move ``email`` from status ``old`` (None: in none) to ``new`` in ``_by_status`` (lock held)."""
        if old is not None:
            self._by_status.get(old, set()).discard(email)
        self._by_status.setdefault(new, set()).add(email)

    def _new_contact(self, email: str, status: str, now: float) -> dict[str, Any]:
        replaced = self.contacts.get(email)
        self._reindex(email, None if replaced is None else replaced["status"], status)
        contact = {
            "id": f"{len(self.contacts) + 1:024x}",
            "status": status,
            "statusChangedAt": now,
            "tags": set(),
            "fields": {},
            "custom": {},
            "createdAt": now,
            "updatedAt": now,
        }
        self.contacts[email] = contact
        return contact

    @staticmethod
    def _item_problem(email: str, item: Mapping[str, Any]) -> str | None:
        if not EMAIL.match(email) or FAKE_DOMAIN.search(email):
            return f"identifiers.0.id: Must be a valid email address ({email})"
        for identifier in item.get("identifiers") or []:
            if identifier.get("type") == "phone" and not E164.match(str(identifier.get("id", ""))):
                return "identifiers.phone: phone must be in E.164 format"
        birthdate = item.get("birthdate")
        if birthdate is not None and not BIRTHDATE.match(str(birthdate)):
            return "birthdate: Contact birthdate in YYYY-MM-DD format"
        return None

    def _batch_or_problem(self, request: web.Request) -> dict[str, Any] | web.Response:
        batch_id = request.match_info["batch_id"]
        batch = self.batches.get(batch_id)
        plan = self._plans.get(batch_id)
        if batch is None or (plan is not None and plan.vanishes):
            return _problem(404, "Not Found", "batch not found")
        return batch

    async def _get_batch(self, request: web.Request) -> web.Response:
        if (problem := self._version_problem(request)) is not None:
            return problem
        with self.lock:
            batch = self._batch_or_problem(request)
            if isinstance(batch, web.Response):
                return batch
            hidden = ("items",) if self.results_in_batch else ("items", "responses", "errors")
            return _json({k: v for k, v in batch.items() if k not in hidden})

    async def _batch_items(self, request: web.Request) -> web.Response:
        if (problem := self._version_problem(request)) is not None:
            return problem
        with self.lock:
            batch = self._batch_or_problem(request)
            if isinstance(batch, web.Response):
                return batch
            return _json({k: v for k, v in batch.items() if k != "items"})

    async def _untag(self, request: web.Request) -> web.Response:
        if (problem := self._version_problem(request)) is not None:
            return problem
        body = orjson.loads(await request.read())
        emails = [str(e).lower() for e in body.get("emails") or []]
        tags = body.get("tags") or []
        if not tags or len(emails) > UNTAG_MAX:
            return _problem(400, "Bad Request", f"tags are required and at most {UNTAG_MAX} emails are allowed")

        def untag() -> None:
            with self.lock:
                for email in emails:
                    contact = self.contacts.get(email)
                    if contact is not None:  # unknown emails are "silently ignored"
                        contact["tags"].difference_update(tags)

        if not self.stall_removals:
            self.run_later(self.scaled(self.job_delay), untag)
        return web.Response(status=202)

    # ---- test-facing state API -----------------------------------------------------------------

    def create_target(self, target_id: str | None = None) -> str:
        tag = target_id or f"export-{next(self._ids)}"
        with self.lock:
            self.tags.add(tag)
        return tag

    def create_field(self, name: str, field_type: str = "text") -> None:
        """Omnisend accepts any custom property: nothing to create."""

    def _put(self, email: str, tag: str, attributes: Mapping[str, str] | None, status: str) -> None:
        email = email.lower()
        with self.lock:
            contact = self._new_contact(email, status, time.time())
            contact["tags"] = {tag}
            for name, value in (attributes or {}).items():
                if name in STANDARD_NAMES:
                    contact["fields"][STANDARD_NAMES[name]] = value
                else:
                    contact["custom"][name] = value

    def add_member(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "subscribed")

    def suppress(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "unsubscribed")

    def members(self, target_id: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {
                e: {**c["fields"], **c["custom"]}
                for e, c in self.contacts.items()
                if target_id in c["tags"] and c["status"] == "subscribed"
            }

    def subscription_status(self, email: str, target_id: str) -> str | None:
        with self.lock:
            contact = self.contacts.get(email.lower())
            return None if contact is None else str(contact["status"])

    def upserted_emails(self) -> list[str]:
        with self.lock:
            posts = [r for r in self.requests if r.path == "/api/batches" and r.method == "POST" and r.status == 201]
        return [email_of(item) for r in posts for item in r.json()["items"]]

    def removed_emails(self) -> list[str]:
        with self.lock:
            deletes = [r for r in self.requests if r.path == "/api/contacts/tags" and r.status == 202]
        return [str(e).lower() for r in deletes for e in r.json().get("emails", [])]
