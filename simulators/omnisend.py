"""A stateful Omnisend (API 2026-03-15) simulator: contacts with tags and email status, async batches.

Faithful to ``docs/vendors.md`` §4 and the official specs: ``POST /api/batches`` takes ≤ 100 items and
answers 201 ``{batchID, totalCount}``; the batch runs asynchronously and ``GET /api/batches/{id}`` reports
``errors`` / ``responses`` per item; ``DELETE /api/contacts/tags`` (≤ 250 emails) answers 202; 400/minute
on contacts and batches, 60/minute on tags, 429 as ``RateLimitProblem`` with ``retryAfter``; errors are
RFC 9457 problems; the ``Omnisend-Version`` header is required (410 for another version).

Per-item refusals: an email Omnisend cannot parse, a phone not in E.164, or a birthdate not YYYY-MM-DD
(``ValidationProblem``-shaped item responses).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson
from aiohttp import web

from destinations.omnisend import API_VERSION, BATCH_ITEMS, FIELDS, UNTAG_MAX, OmnisendDestination, email_of
from simulators.base import BaseSimulator, SlidingWindow

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
FAKE_DOMAIN = re.compile(r"\.(invalid|test)$")


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
    limits = OmnisendDestination.limits

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = "68f0" + "a" * 20 + "-" + "Z" * 48
        self.contacts: dict[str, dict[str, Any]] = {}  # email → {"id", "status", "tags", "fields"}
        self.tags: set[str] = set()
        self.batches: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    # ---- auth and refusals -----------------------------------------------------------------------

    def authenticate(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Omnisend-API-Key {self.api_key}"

    def unauthorized_response(self) -> web.StreamResponse:
        return _problem(401, "Unauthorized", "Authentication is missing or invalid")

    def bucket_for(self, method: str, path: str) -> str:
        if path.startswith("/api/contacts/tags"):
            return "tags"
        return "batches" if path.startswith("/api/batches") else "contacts"

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        response = _problem(
            429, "Too Many Requests", "Rate limit exceeded", retryAfter=max(0.001, round(retry_after, 3))
        )
        response.headers["X-Rate-Limit-Limit"] = str(window.limit.requests)
        response.headers["X-Rate-Limit-Remaining"] = "0"
        response.headers["X-Rate-Limit-Reset"] = f"{retry_after:.3f}"
        return response

    # ---- routes --------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/contacts", self._list_contacts)
        app.router.add_post("/api/batches", self._create_batch)
        app.router.add_get("/api/batches/{batch_id}", self._get_batch)
        app.router.add_delete("/api/contacts/tags", self._untag)

    def _version_problem(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Omnisend-Version") != API_VERSION:
            return _problem(410, "Gone", "API version has been retired or is missing")
        return None

    async def _list_contacts(self, request: web.Request) -> web.Response:
        if (problem := self._version_problem(request)) is not None:
            return problem
        limit = min(int(request.query.get("limit", "100")), 250)
        offset = int(request.query.get("after", "0"))
        status = request.query.get("status")
        tag = request.query.get("tag")
        with self.lock:
            chosen = sorted(
                e
                for e, c in self.contacts.items()
                if (status is None or c["status"] == status) and (tag is None or tag in c["tags"])
            )
            page = chosen[offset : offset + limit]
            contacts = [
                {
                    "id": self.contacts[e]["id"],
                    "email": e,
                    "status": self.contacts[e]["status"],
                    "identifiers": [{"type": "email", "id": e}],
                    "tags": sorted(self.contacts[e]["tags"]),
                }
                for e in page
            ]
        more = offset + limit < len(chosen)
        return _json(
            {
                "contacts": contacts,
                "paging": {"hasMore": more, "limit": limit, "cursors": {"after": str(offset + limit) if more else ""}},
            }
        )

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
                errors=[{"code": "out_of_range", "field": "items", "message": "maxItems 100"}],
            )
        batch_id = f"{next(self._ids):024x}"
        batch = {
            "batchID": batch_id,
            "status": "pending",
            "endpoint": "contacts",
            "method": body["method"],
            "totalCount": len(items),
            "finishedCount": 0,
            "errorsCount": 0,
            "errors": [],
            "responses": [],
            "items": items,
        }
        with self.lock:
            self.batches[batch_id] = batch
        self.run_later(self.scaled(self.job_delay), lambda: self._run(batch))
        return _json({"batchID": batch_id, "totalCount": len(items)}, 201)

    def _run(self, batch: dict[str, Any]) -> None:
        with self.lock:
            for n, item in enumerate(batch.pop("items")):
                item_id = f"{batch['batchID']}-{n}"
                email = email_of(item)
                problem = self._item_problem(email, item)
                if problem is not None:
                    batch["errors"].append(
                        {
                            "itemID": item_id,
                            "request": item,
                            "responseCode": 400,
                            "status": "error",
                            "response": {"title": "Bad Request", "status": 400, "detail": problem},
                        }
                    )
                    continue
                contact = self.contacts.get(email)
                code = 200
                if contact is None:
                    code = 201
                    contact = self.contacts[email] = {
                        "id": f"{len(self.contacts) + 1:024x}",
                        "status": "nonSubscribed",
                        "tags": set(),
                        "fields": {},
                    }
                for identifier in item.get("identifiers") or []:
                    channel = ((identifier.get("channels") or {}).get("email") or {}).get("status")
                    if identifier.get("type") == "email" and channel:
                        contact["status"] = channel  # Omnisend applies it, existing contact or not
                contact["tags"].update(item.get("tags") or [])
                self.tags.update(item.get("tags") or [])
                contact["fields"].update({k: v for k, v in item.items() if k in FIELDS.values()})
                contact["fields"].update(item.get("customProperties") or {})
                batch["responses"].append(
                    {
                        "itemID": item_id,
                        "request": item,
                        "responseCode": code,
                        "status": "finished",
                        "response": {"id": contact["id"]},
                    }
                )
            batch["finishedCount"] = batch["totalCount"]
            batch["errorsCount"] = len(batch["errors"])
            batch["status"] = "finished"

    @staticmethod
    def _item_problem(email: str, item: Mapping[str, Any]) -> str | None:
        if not EMAIL.match(email) or FAKE_DOMAIN.search(email):
            return f"identifiers.0.id: Must be a valid email address ({email})"
        for identifier in item.get("identifiers") or []:
            if identifier.get("type") == "phone" and not E164.match(str(identifier.get("id", ""))):
                return "identifiers.phone: phone must be in E.164 format"
        birthdate = item.get("birthdate")
        if birthdate is not None and not re.match(r"^\d{4}-\d{2}-\d{2}$", str(birthdate)):
            return "birthdate: Contact birthdate in YYYY-MM-DD format"
        return None

    async def _get_batch(self, request: web.Request) -> web.Response:
        if (problem := self._version_problem(request)) is not None:
            return problem
        with self.lock:
            batch = self.batches.get(request.match_info["batch_id"])
            if batch is None:
                return _problem(404, "Not Found", "batch not found")
            return _json({k: v for k, v in batch.items() if k != "items"})

    async def _untag(self, request: web.Request) -> web.Response:
        if (problem := self._version_problem(request)) is not None:
            return problem
        body = orjson.loads(await request.read())
        emails = [str(e).lower() for e in body.get("emails") or []]
        tags = body.get("tags") or []
        if not tags or len(emails) > UNTAG_MAX:
            return _problem(400, "Bad Request", f"tags are required and at most {UNTAG_MAX} emails are allowed")
        with self.lock:
            for email in emails:
                contact = self.contacts.get(email)
                if contact is not None:  # unknown emails are "silently ignored"
                    contact["tags"].difference_update(tags)
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
            self.contacts[email] = {
                "id": f"{len(self.contacts) + 1:024x}",
                "status": status,
                "tags": {tag},
                "fields": {FIELDS.get(k, k): v for k, v in (attributes or {}).items()},
            }

    def add_member(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "subscribed")

    def suppress(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "unsubscribed")

    def members(self, target_id: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {
                e: dict(c["fields"])
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
