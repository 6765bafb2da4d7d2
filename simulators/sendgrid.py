"""A stateful SendGrid Marketing Campaigns simulator (contacts, lists, custom fields, suppressions).

Written from ``docs/vendors.md`` §2 and the official spec (``vendor_specs/sendgrid``, twilio/sendgrid-oai),
not from the adapter: ``PUT /v3/marketing/contacts`` takes at most 30,000 contacts or 6 MB and answers
202 with a job id; the job runs asynchronously (``GET /v3/marketing/contacts/imports/{id}``) and ends
``completed`` (no errors), ``errored`` (some rows refused, the others stored), or ``failed`` (every row
refused, or the job unprocessable), per the Import Contacts Status reference
(https://www.twilio.com/docs/sendgrid/api-reference/contacts/import-contacts-status); per-contact errors
are in the file at ``results.errors_url``. Request-time validation errors are 400 with ``errors[].field``
such as ``contacts[3].email``; 401/403/404 use ``ErrorResponse``; 429 carries ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (an epoch in whole seconds, vendors.md §2.3).

Removal is asynchronous too: ``DELETE /v3/marketing/lists/{id}/contacts`` answers 202 "The removal is
accepted and processing" and ``DELETE /v3/marketing/contacts`` 202 (the spec: "Deletion jobs are processed
asynchronously"), each with a ``job_id`` for which no status endpoint is documented. The simulator applies
them ``job_delay`` after accepting them; ``stall_removals`` (tests) leaves accepted removals unapplied,
as a job that never finishes would — the contacts stay where they were.

Read endpoints an integrator uses: ``GET /v3/marketing/contacts/{id}``, ``POST …/contacts/search/emails``,
``GET /v3/marketing/contacts/count``, ``GET /v3/marketing/lists/{id}`` and ``…/contacts/count``.

UNCONFIRMED, marked: the error file's format (SendGrid documents only "download the errors_url file");
it is served as CSV ``email,error`` on a download host that takes no API key.
"""

from __future__ import annotations

import csv
import io
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from aiohttp import web

from simulators.base import BaseSimulator, JobPlan, RateLimit, SimulatorLimits, SlidingWindow, iso_timestamp

# "upsert … of up to 30,000 contacts, or 6MB of data, whichever is lower" (UpdateContact, contacts spec).
MAX_CONTACTS = 30_000
MAX_BODY_BYTES = 6_000_000  # 6 MB read as decimal megabytes: the stricter reading
# search/emails: "up to 100 contacts" (SearchContactsByEmails description, contacts spec).
SEARCH_MAX_EMAILS = 100
# Suppression endpoints' largest ``limit`` (Suppressions API reference; vendors.md §2 notes).
SUPPRESSION_PAGE = 500
# UNCONFIRMED: no number is published for the marketing endpoints (vendors.md §2.3: "Each endpoint permits
# a fixed number of requests per refresh period"); 10 requests/s per endpoint family is assumed.
ASSUMED_RATE = (RateLimit(10, 1.0),)
# ``ContactRequest`` maxLength values in the contacts spec.
MAX_LENGTHS = {
    "email": 254,
    "first_name": 50,
    "last_name": 50,
    "address_line_1": 100,
    "address_line_2": 100,
    "city": 60,
    "state_province_region": 50,
    "postal_code": 60,
    "country": 50,
}
# The product-facing names tests use for attributes → SendGrid reserved fields (ContactRequest).
ATTRIBUTE_FIELDS = {
    "first_name": "first_name",
    "last_name": "last_name",
    "address": "address_line_1",
    "city": "city",
    "state": "state_province_region",
    "postal_code": "postal_code",
    "country": "country",
}
# Suppression lists and their reads (Suppressions API reference,
# https://www.twilio.com/docs/sendgrid/api-reference/suppressions-unsubscribes).
UNSUBSCRIBES = "/v3/suppression/unsubscribes"
BOUNCES = "/v3/suppression/bounces"
SPAM = "/v3/suppression/spam_reports"
SUPPRESSION_LISTS = (UNSUBSCRIBES, BOUNCES, SPAM)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")  # email "required to be a valid email" (ContactRequest)
DOWNLOADS = "/downloads/"  # where errors_url points: a download host that takes no API key


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
    plan: JobPlan | None = None
    status: str = "pending"
    created: int = 0
    updated: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    # When the job may show as done (``time.monotonic``): its processing starts when it is accepted and
    # takes ``job_delay``; finished early, it still shows ``pending`` until then.
    due: float = 0.0


class SendGridSimulator(BaseSimulator):
    vendor: ClassVar[str] = "sendgrid"
    limits: ClassVar[SimulatorLimits] = SimulatorLimits(
        rate_limits={
            "contacts": ASSUMED_RATE,
            "imports": ASSUMED_RATE,
            "search": ASSUMED_RATE,
            "lists": ASSUMED_RATE,
            "fields": ASSUMED_RATE,
            "suppressions": ASSUMED_RATE,
        }
    )
    read_only_posts: ClassVar[tuple[str, ...]] = ("/search/emails",)
    job_states: ClassVar[tuple[str, ...]] = ("pending", "completed", "errored", "failed")
    job_failed_state: ClassVar[str] = "failed"
    error_file_path: ClassVar[str | None] = DOWNLOADS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # "Twilio SendGrid API keys are 69 characters long", SG.<22>.<43> (vendors.md §2.5).
        self.api_key = "SG." + "s" * 22 + "." + "k" * 43
        self.contacts: dict[str, dict[str, Any]] = {}  # email → stored contact (with "id")
        self.by_id: dict[str, str] = {}  # contact id → email
        self.email_of_id: dict[str, str] = {}  # every id ever issued → email, for the request log
        self.lists: dict[str, set[str]] = {}  # list id → emails
        self.list_names: dict[str, str] = {}
        self.fields: dict[str, tuple[str, str]] = {}  # name → (id, field_type)
        self.suppressions: dict[str, dict[str, int]] = {path: {} for path in SUPPRESSION_LISTS}
        self.jobs: dict[str, Job] = {}
        self.contacts_processed = 0  # contacts stored by jobs, for tests that count vendor work
        self._contact_ids = random.Random()  # seeded once from the system's randomness
        self.stall_removals = False  # accepted removal and deletion jobs are never applied

    # ---- auth and vendor-shaped refusals ---------------------------------------------------------

    def is_public(self, request: web.Request) -> bool:
        return request.path.startswith(DOWNLOADS)  # signed download URLs need no key

    def authenticate(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def unauthorized_response(self) -> web.StreamResponse:
        return _error("authorization required", 401)

    def server_error_response(self, status: int) -> web.StreamResponse:
        return _error("internal server error", status)

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        # Reset is an epoch in whole seconds (vendors.md §2.3), rounded up so waiting until it is enough.
        return _error(
            "too many requests",
            429,
            **{
                "X-RateLimit-Limit": str(window.limit.requests),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(math.ceil(time.time() + retry_after)),
            },
        )

    def bucket_for(self, method: str, path: str) -> str:
        if path.startswith("/v3/marketing/contacts/imports"):
            return "imports"
        if path.startswith("/v3/marketing/contacts/search"):
            return "search"
        if path.startswith("/v3/marketing/contacts"):
            return "contacts"
        if path.startswith("/v3/marketing/lists"):
            return "lists"
        if path.startswith("/v3/marketing/field_definitions"):
            return "fields"
        return "suppressions"

    # ---- routes --------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v3/scopes", self._scopes)
        app.router.add_put("/v3/marketing/contacts", self._upsert)
        app.router.add_delete("/v3/marketing/contacts", self._delete_contacts)
        app.router.add_get("/v3/marketing/contacts/count", self._contact_count)
        app.router.add_get("/v3/marketing/contacts/imports/{job_id}", self._job)
        app.router.add_post("/v3/marketing/contacts/search/emails", self._search)
        app.router.add_get("/v3/marketing/contacts/{contact_id}", self._get_contact)
        app.router.add_get("/v3/marketing/lists/{list_id}", self._get_list)
        app.router.add_get("/v3/marketing/lists/{list_id}/contacts/count", self._list_count)
        app.router.add_delete("/v3/marketing/lists/{list_id}/contacts", self._remove_from_list)
        app.router.add_get("/v3/marketing/field_definitions", self._fields)
        app.router.add_post("/v3/asm/suppressions/global", self._global_unsubscribe)
        for path in SUPPRESSION_LISTS:
            app.router.add_get(path, self._suppression_page)
        app.router.add_get(DOWNLOADS + "errors/{job_id}.csv", self._errors_file)

    async def _scopes(self, request: web.Request) -> web.Response:
        return _json({"scopes": ["marketing.read", "marketing.send", "suppression.read", "asm.groups.suppressions"]})

    async def _get_list(self, request: web.Request) -> web.Response:
        list_id = request.match_info["list_id"]
        with self.lock:
            members = self.lists.get(list_id)
            if members is None:
                # This 404 is "an array of Error" in the lists spec (GetMarketingList), unlike the others.
                return _json([{"message": "list not found", "field": "id"}], 404)
            body: dict[str, Any] = {
                "id": list_id,
                "name": self.list_names.get(list_id, f"list {list_id}"),
                "contact_count": len(members),
                "_metadata": {"self": f"{self.url}/v3/marketing/lists/{list_id}"},
            }
            if request.query.get("contact_sample") == "true":
                body["contact_sample"] = [self._details(e) for e in sorted(members)[:50]]
            return _json(body)

    async def _list_count(self, request: web.Request) -> web.Response:
        with self.lock:
            members = self.lists.get(request.match_info["list_id"])
            if members is None:
                return _error("list not found", 404)
            return _json({"contact_count": len(members), "billable_count": len(members)})

    async def _contact_count(self, request: web.Request) -> web.Response:
        with self.lock:
            return _json({"contact_count": len(self.contacts), "billable_count": len(self.contacts)})

    async def _fields(self, request: web.Request) -> web.Response:
        with self.lock:
            custom = [{"id": fid, "name": name, "field_type": kind} for name, (fid, kind) in self.fields.items()]
        reserved = [{"id": f"_rf{i}_T", "name": n, "field_type": "Text"} for i, n in enumerate(MAX_LENGTHS)]
        return _json({"custom_fields": custom, "reserved_fields": reserved})

    async def _upsert(self, request: web.Request) -> web.Response:
        raw = await request.read()
        # Off the server loop: the requests arriving meanwhile are counted when they arrive (``off_loop``).
        checked = await self.off_loop(self._check_upsert, raw)
        if isinstance(checked, web.Response):
            return checked
        contacts, list_ids = checked
        job = Job(id=str(uuid.uuid4()), contacts=contacts, list_ids=list_ids, plan=self.scenario.take_job_plan())
        with self.lock:
            self.jobs[job.id] = job
        if job.plan is None or job.plan.state not in ("pending", "vanish"):
            # Processed from now on, as a vendor's servers work on an import once they accept it; the
            # answer shows no earlier than ``job_delay`` from now. (Waiting the delay before starting
            # would add the simulator's own processing time, on this machine's cores, to every job.)
            job.due = time.monotonic() + self.scaled(self.job_delay)
            self.process_later(0.0, lambda: self._process(job))
        return _json({"job_id": job.id}, 202)

    def _check_upsert(self, raw: bytes) -> web.Response | tuple[list[dict[str, Any]], list[str]]:
        """The upsert's contacts and list ids, or the answer refusing the request."""
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
        return contacts, list_ids

    def _process(self, job: Job) -> None:
        """Apply an import job: per-contact custom-field checks, then upsert and list membership."""
        plan = job.plan
        with self.lock:
            field_types = {fid: kind for fid, kind in self.fields.values()}
            for n, item in enumerate(job.contacts):
                self.let_others_in(n)
                email = str(item["email"]).lower()
                problem = self._row_problem(item, field_types)
                if plan is not None:
                    if plan.state == "failed" and (plan.apply_first is None or n >= plan.apply_first):
                        problem = problem or "the import could not be processed"
                    elif email in plan.reject:
                        problem = plan.reject[email]
                    elif plan.state == "errored" and not plan.reject and n == len(job.contacts) - 1:
                        problem = "the contact could not be stored"
                if problem is not None:
                    job.errors.append((email, problem))
                    continue
                self._store_row(job, item, email)
            if not job.errors:
                job.status = "completed"
            else:
                # "Errored means finished with some errors. Failed means finished with all errors."
                job.status = "failed" if len(job.errors) == len(job.contacts) else "errored"
            job.finished_at = time.time()

    @staticmethod
    def _row_problem(item: Mapping[str, Any], field_types: Mapping[str, str]) -> str | None:
        for fid, value in (item.get("custom_fields") or {}).items():
            kind = field_types.get(fid)
            if kind is None:
                return f"custom field {fid} does not exist"
            if kind == "Number" and not _is_number(value):
                return f"custom field {fid} expects a number"
        return None

    def _store_row(self, job: Job, item: Mapping[str, Any], email: str) -> None:
        stored = self.contacts.get(email)
        now = time.time()
        if stored is None:
            stored = self._new_contact(email, now)
            job.created += 1
        else:
            job.updated += 1
        for key, value in item.items():
            if key == "custom_fields":
                stored["custom_fields"].update(value)
            elif key != "email":
                stored[key] = value
        stored["updated_at"] = now
        for list_id in job.list_ids:
            self.lists[list_id].add(email)
        self.contacts_processed += 1

    def _new_contact(self, email: str, now: float) -> dict[str, Any]:
        # A version-4 UUID as SendGrid gives, from a seeded generator: ``uuid4()`` asks the kernel for 16
        # random bytes each time, 37% of the simulator's CPU in a 1M export, on cores the worker shares
        # (the UUID object itself another 10%: the text is formatted directly).
        value = self._contact_ids.getrandbits(128)
        text = f"{value:032x}"
        contact_id = f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{'89ab'[value & 3]}{text[17:20]}-{text[20:]}"
        stored: dict[str, Any] = {"id": contact_id, "email": email, "custom_fields": {}}
        stored.update(created_at=now, updated_at=now)
        self.contacts[email] = stored
        self.by_id[contact_id] = email
        self.email_of_id[contact_id] = email
        return stored

    async def _job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or (job.plan is not None and job.plan.vanishes):
                return _error("job not found", 404)
            shown = job.status != "pending" and time.monotonic() >= job.due
            results: dict[str, Any] = {
                "requested_count": len(job.contacts),
                "created_count": job.created if shown else 0,
                "updated_count": job.updated if shown else 0,
                "deleted_count": 0,
                "errored_count": len(job.errors) if shown else 0,
            }
            if shown and job.errors:
                results["errors_url"] = f"{self.url}{DOWNLOADS}errors/{job.id}.csv"
            body: dict[str, Any] = {
                "id": job.id,
                "status": job.status if shown else "pending",
                "job_type": "upsert",
                "results": results,
                "started_at": iso_timestamp(job.started_at),
            }
            if shown and job.finished_at is not None:
                body["finished_at"] = iso_timestamp(job.finished_at)
            return _json(body)

    async def _errors_file(self, request: web.Request) -> web.Response:
        with self.lock:
            job = self.jobs.get(request.match_info["job_id"])
            if job is None or not job.errors:
                return web.Response(status=404, text="not found")
            errors = list(job.errors)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["email", "error"])
        writer.writerows(errors)
        return web.Response(text=out.getvalue(), content_type="text/csv")

    def _details(self, email: str) -> dict[str, Any]:
        """A stored contact as ``ContactDetails3`` (contacts spec): required id, list_ids, segment_ids,
        created_at, updated_at."""
        stored = self.contacts[email]
        body: dict[str, Any] = {
            k: v for k, v in stored.items() if k not in ("created_at", "updated_at") and v is not None
        }
        body["alternate_emails"] = list(stored.get("alternate_emails") or [])
        body["list_ids"] = sorted(lid for lid, members in self.lists.items() if email in members)
        body["segment_ids"] = []
        body["created_at"] = iso_timestamp(stored["created_at"])
        body["updated_at"] = iso_timestamp(stored["updated_at"])
        body["_metadata"] = {"self": f"{self.url}/v3/marketing/contacts/{stored['id']}"}
        return body

    async def _get_contact(self, request: web.Request) -> web.Response:
        with self.lock:
            email = self.by_id.get(request.match_info["contact_id"])
            if email is None:
                return _error("contact not found", 404)
            return _json(self._details(email))

    async def _search(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        emails = body.get("emails") or []
        if len(emails) > SEARCH_MAX_EMAILS:
            return _error(f"at most {SEARCH_MAX_EMAILS} emails per search", 400, "emails")
        result: dict[str, Any] = {}
        with self.lock:
            for email in emails:
                key = str(email).lower()
                if key in self.contacts:
                    result[key] = {"contact": self._details(key)}
                else:
                    result[key] = {"error": "contact not found"}
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
            emails = [self.by_id[contact_id] for contact_id in ids]

        def remove() -> None:
            with self.lock:
                for email in emails:
                    members.discard(email)

        return self._removal_job(remove)

    async def _delete_contacts(self, request: web.Request) -> web.Response:
        ids = [i for i in request.query.get("ids", "").split(",") if i]

        def delete() -> None:
            with self.lock:
                for contact_id in ids:
                    email = self.by_id.pop(contact_id, None)
                    if email is None:
                        continue
                    self.contacts.pop(email, None)
                    for members in self.lists.values():
                        members.discard(email)

        return self._removal_job(delete)

    def _removal_job(self, apply: Callable[[], None]) -> web.Response:
        """Accept a removal or deletion: applied ``job_delay`` from now (never, with ``stall_removals``)."""
        if not self.stall_removals:
            self.run_later(self.scaled(self.job_delay), apply)
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
        limit = min(int(request.query.get("limit", str(SUPPRESSION_PAGE))), SUPPRESSION_PAGE)
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
        stored = self.contacts.get(email) or self._new_contact(email, time.time())
        for name, value in (attributes or {}).items():
            reserved = ATTRIBUTE_FIELDS.get(name)
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
                email: {k: v for k, v in self.contacts[email].items() if k not in ("created_at", "updated_at")}
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
