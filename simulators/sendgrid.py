"""A stateful SendGrid Marketing Campaigns simulator (contacts, lists, custom fields, suppressions).

Faithful to ``docs/vendors.md`` §2 and the official spec where they speak: ``PUT /v3/marketing/contacts``
takes at most 30,000 contacts or 6 MB and answers 202 with a job id; the job runs asynchronously and
reports per-contact errors in a file at ``errors_url``; request-time validation errors are 400 with
``errors[].field`` such as ``contacts[3].email``; 401/404 use ``{"errors":[{"field", "message"}]}``;
429 carries ``X-RateLimit-Limit/Remaining/Reset``.

Deviations, on purpose: ``X-RateLimit-Reset`` is a *fractional* epoch so time-scaled runs stay precise
(the real header is whole seconds; the adapter parses either). The error file is CSV ``email,error``
(its real format is UNCONFIRMED). Request-time length checks follow the spec's ``maxLength`` values.
"""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from aiohttp import web

from destinations.sendgrid import (
    MAX_BODY_BYTES,
    MAX_CONTACTS,
    RESERVED,
    SEARCH_MAX_EMAILS,
    SUPPRESSION_LISTS,
    SendGridDestination,
    rate_bucket_of,
)
from simulators.base import BaseSimulator, SlidingWindow

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
# maxLength of ContactRequest fields in the official spec.
MAX_LENGTHS = {
    "email": 254,
    "first_name": 50,
    "last_name": 50,
    "address_line_1": 100,
    "city": 60,
    "state_province_region": 50,
    "postal_code": 60,
    "country": 50,
}
UNSUBSCRIBES, BOUNCES, SPAM = list(SUPPRESSION_LISTS)


def _error(message: str, status: int, field_name: str | None = None, **headers: str) -> web.Response:
    return web.Response(
        body=orjson.dumps({"errors": [{"field": field_name, "message": message}]}),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


@dataclass(slots=True)
class Job:
    id: str
    contacts: list[dict[str, Any]]
    list_ids: list[str]
    status: str = "pending"
    created: int = 0
    updated: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)


class SendGridSimulator(BaseSimulator):
    vendor: ClassVar[str] = "sendgrid"
    limits = SendGridDestination.limits
    read_only_posts: ClassVar[tuple[str, ...]] = ("/search/emails",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = "SG." + "s" * 22 + "." + "k" * 43  # 69 characters, the documented shape
        self.contacts: dict[str, dict[str, Any]] = {}  # email → stored contact (with "id")
        self.by_id: dict[str, str] = {}  # contact id → email
        self.email_of_id: dict[str, str] = {}  # every id ever issued → email, for the request log
        self.lists: dict[str, set[str]] = {}  # list id → emails
        self.fields: dict[str, tuple[str, str]] = {}  # name → (id, field_type)
        self.suppressions: dict[str, dict[str, int]] = {path: {} for path in SUPPRESSION_LISTS}
        self.jobs: dict[str, Job] = {}
        self.contacts_processed = 0  # contacts accepted into jobs, for tests that count vendor work

    # ---- auth and vendor-shaped refusals ---------------------------------------------------------

    def authenticate(self, request: web.Request) -> bool:
        if request.path.startswith("/downloads/"):
            return True  # signed download URLs need no key
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def unauthorized_response(self) -> web.StreamResponse:
        return _error("authorization required", 401)

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        return _error(
            "too many requests",
            429,
            **{
                "X-RateLimit-Limit": str(window.limit.requests),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            },
        )

    def bucket_for(self, method: str, path: str) -> str:
        return rate_bucket_of(path)

    # ---- routes --------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v3/scopes", self._scopes)
        app.router.add_put("/v3/marketing/contacts", self._upsert)
        app.router.add_delete("/v3/marketing/contacts", self._delete_contacts)
        app.router.add_get("/v3/marketing/contacts/imports/{job_id}", self._job)
        app.router.add_post("/v3/marketing/contacts/search/emails", self._search)
        app.router.add_get("/v3/marketing/lists/{list_id}", self._get_list)
        app.router.add_delete("/v3/marketing/lists/{list_id}/contacts", self._remove_from_list)
        app.router.add_get("/v3/marketing/field_definitions", self._fields)
        app.router.add_post("/v3/asm/suppressions/global", self._global_unsubscribe)
        for path in SUPPRESSION_LISTS:
            app.router.add_get(path, self._suppression_page)
        app.router.add_get("/downloads/errors/{job_id}.csv", self._errors_file)

    async def _scopes(self, request: web.Request) -> web.Response:
        return _json({"scopes": ["marketing.read", "marketing.send", "suppression.read", "asm.groups.suppressions"]})

    async def _get_list(self, request: web.Request) -> web.Response:
        list_id = request.match_info["list_id"]
        with self.lock:
            members = self.lists.get(list_id)
            if members is None:
                return _error("list not found", 404)
            return _json({"id": list_id, "name": f"list {list_id}", "contact_count": len(members)})

    async def _fields(self, request: web.Request) -> web.Response:
        with self.lock:
            custom = [{"id": fid, "name": name, "field_type": kind} for name, (fid, kind) in self.fields.items()]
        reserved = [{"id": f"_rf{i}_T", "name": n, "field_type": "Text"} for i, n in enumerate(MAX_LENGTHS)]
        return _json({"custom_fields": custom, "reserved_fields": reserved})

    async def _upsert(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if len(raw) > MAX_BODY_BYTES:
            return _error("request body is larger than 6 MB", 413 if len(raw) > 2 * MAX_BODY_BYTES else 400, "")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _error("invalid JSON", 400, "")
        contacts = body.get("contacts")
        list_ids = body.get("list_ids") or []
        if not isinstance(contacts, list) or not contacts:
            return _error("contacts is required and must hold at least one contact", 400, "contacts")
        if len(contacts) > MAX_CONTACTS:
            return _error(f"contacts may hold at most {MAX_CONTACTS} items", 400, "contacts")
        with self.lock:
            unknown = [lid for lid in list_ids if lid not in self.lists]
        if unknown:
            return _error(f"list ids do not exist: {', '.join(unknown)}", 404, "list_ids")
        errors = []
        for i, contact in enumerate(contacts):
            email = str(contact.get("email", ""))
            if not EMAIL.match(email):
                errors.append({"field": f"contacts[{i}].email", "message": "email is not a valid email address"})
                continue
            for name, value in contact.items():
                limit = MAX_LENGTHS.get(name)
                if limit is not None and isinstance(value, str) and len(value) > limit:
                    errors.append({"field": f"contacts[{i}].{name}", "message": f"{name} exceeds {limit} characters"})
        if errors:
            return _json({"errors": errors}, 400)
        job = Job(id=str(uuid.uuid4()), contacts=contacts, list_ids=list_ids)
        with self.lock:
            self.jobs[job.id] = job
        self.run_later(self.scaled(self.job_delay), lambda: self._process(job))
        return _json({"job_id": job.id}, 202)

    def _process(self, job: Job) -> None:
        """Apply an import job: per-contact custom-field type checks, then upsert and list membership."""
        with self.lock:
            field_types = {fid: kind for fid, kind in self.fields.values()}
            for item in job.contacts:
                email = str(item["email"]).lower()
                problem = None
                for fid, value in (item.get("custom_fields") or {}).items():
                    kind = field_types.get(fid)
                    if kind is None:
                        problem = f"custom field {fid} does not exist"
                    elif kind == "Number" and not _is_number(value):
                        problem = f"custom field {fid} expects a number"
                if problem is not None:
                    job.errors.append((email, problem))
                    continue
                stored = self.contacts.get(email)
                if stored is None:
                    stored = {"id": str(uuid.uuid4()), "email": email, "custom_fields": {}}
                    self.contacts[email] = stored
                    self.by_id[stored["id"]] = email
                    self.email_of_id[stored["id"]] = email
                    job.created += 1
                else:
                    job.updated += 1
                for key, value in item.items():
                    if key == "custom_fields":
                        stored["custom_fields"].update(value)
                    elif key != "email":
                        stored[key] = value
                for list_id in job.list_ids:
                    self.lists[list_id].add(email)
                self.contacts_processed += 1
            job.status = "completed"

    async def _job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return _error("job not found", 404)
            results: dict[str, Any] = {
                "requested_count": len(job.contacts),
                "created_count": job.created,
                "updated_count": job.updated,
                "deleted_count": 0,
                "errored_count": len(job.errors),
            }
            if job.errors:
                results["errors_url"] = f"{self.url}/downloads/errors/{job.id}.csv"
            return _json({"id": job.id, "status": job.status, "job_type": "upsert", "results": results})

    async def _errors_file(self, request: web.Request) -> web.Response:
        with self.lock:
            job = self.jobs.get(request.match_info["job_id"])
            errors = list(job.errors) if job else []
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["email", "error"])
        writer.writerows(errors)
        return web.Response(text=out.getvalue(), content_type="text/csv")

    async def _search(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        emails = body.get("emails") or []
        if len(emails) > SEARCH_MAX_EMAILS:
            return _error(f"at most {SEARCH_MAX_EMAILS} emails per search", 400, "emails")
        result: dict[str, Any] = {}
        with self.lock:
            for email in emails:
                stored = self.contacts.get(str(email).lower())
                if stored is None:
                    result[str(email).lower()] = {"error": "contact not found"}
                else:
                    result[stored["email"]] = {"contact": dict(stored)}
        if not any("contact" in v for v in result.values()):
            return _error("no contacts found", 404)
        return _json({"result": result})

    async def _remove_from_list(self, request: web.Request) -> web.Response:
        list_id = request.match_info["list_id"]
        ids = [i for i in request.query.get("contact_ids", "").split(",") if i]
        with self.lock:
            members = self.lists.get(list_id)
            if members is None or any(i not in self.by_id for i in ids):
                return _error("The specified list ID does not exist or one or more contact IDs do not exist", 404)
            for contact_id in ids:
                members.discard(self.by_id[contact_id])
        return _json({"job_id": str(uuid.uuid4())}, 202)

    async def _delete_contacts(self, request: web.Request) -> web.Response:
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        with self.lock:
            for contact_id in ids:
                email = self.by_id.pop(contact_id, None)
                if email is None:
                    continue
                self.contacts.pop(email, None)
                for members in self.lists.values():
                    members.discard(email)
        return _json({"job_id": str(uuid.uuid4())}, 202)

    async def _global_unsubscribe(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        emails = [str(e).lower() for e in body.get("recipient_emails") or []]
        now = int(time.time())
        with self.lock:
            for email in emails:
                self.suppressions[UNSUBSCRIBES].setdefault(email, now)
        return _json({"recipient_emails": emails}, 201)

    async def _suppression_page(self, request: web.Request) -> web.Response:
        limit = min(int(request.query.get("limit", "500")), 500)
        offset = int(request.query.get("offset", "0"))
        with self.lock:
            start = int(request.query.get("start_time", "0"))
            chosen = sorted((e, c) for e, c in self.suppressions[request.path].items() if c >= start)
            entries = chosen[offset : offset + limit]
        return _json([{"created": created, "email": email} for email, created in entries])

    # ---- test-facing state API -----------------------------------------------------------------

    def create_target(self, target_id: str | None = None) -> str:
        list_id = target_id or str(uuid.uuid4())
        with self.lock:
            self.lists.setdefault(list_id, set())
        return list_id

    def create_field(self, name: str, field_type: str = "Text") -> None:
        with self.lock:
            if name not in self.fields:
                self.fields[name] = (f"e{len(self.fields) + 1}_{field_type[0]}", field_type)

    def _store(self, email: str, target_id: str, attributes: Mapping[str, str] | None) -> None:
        email = email.lower()
        stored = self.contacts.get(email)
        if stored is None:
            stored = {"id": str(uuid.uuid4()), "email": email, "custom_fields": {}}
            self.contacts[email] = stored
            self.by_id[stored["id"]] = email
            self.email_of_id[stored["id"]] = email
        for name, value in (attributes or {}).items():
            reserved = RESERVED.get(name)
            if reserved is not None:
                stored[reserved] = value
            elif name in self.fields:
                stored["custom_fields"][self.fields[name][0]] = value
        self.lists.setdefault(target_id, set()).add(email)

    def add_member(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        with self.lock:
            self._store(email, target_id, attributes)

    def suppress(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        with self.lock:
            self._store(email, target_id, attributes)
            self.suppressions[UNSUBSCRIBES][email.lower()] = int(time.time())

    def suppress_bounce(self, email: str) -> None:
        with self.lock:
            self.suppressions[BOUNCES][email.lower()] = int(time.time())

    def upserted_emails(self) -> list[str]:
        with self.lock:
            puts = [r for r in self.requests if r.method == "PUT" and r.path == "/v3/marketing/contacts"]
        return [str(c["email"]).lower() for r in puts if r.status == 202 for c in r.json()["contacts"]]

    def removed_emails(self) -> list[str]:
        with self.lock:
            deletes = [r for r in self.requests if r.method == "DELETE" and r.status == 202]
            emails: list[str] = []
            for r in deletes:
                ids = r.query.get("contact_ids") or r.query.get("ids") or ""
                emails.extend(self.email_of_id.get(i, "") for i in ids.split(",") if i)
            unsubscribed = [r for r in self.requests if r.path == "/v3/asm/suppressions/global" and r.status == 201]
        emails.extend(str(e).lower() for r in unsubscribed for e in r.json()["recipient_emails"])
        return emails

    def _suppressed(self, email: str) -> bool:
        return any(email in entries for entries in self.suppressions.values())

    def members(self, target_id: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {
                email: dict(self.contacts[email])
                for email in self.lists.get(target_id, set())
                if not self._suppressed(email)
            }

    def subscription_status(self, email: str, target_id: str) -> str | None:
        email = email.lower()
        with self.lock:
            if email in self.suppressions[UNSUBSCRIBES]:
                return "unsubscribed"
            if self._suppressed(email):
                return "bounced"
            return "subscribed" if email in self.lists.get(target_id, set()) else None


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
