"""SendGrid Marketing Campaigns ("new" contacts API, v3).

Facts from ``docs/vendors.md`` §2 and the official spec (``vendor_specs/sendgrid``):
- upsert: ``PUT /v3/marketing/contacts`` with ``list_ids`` and up to 30,000 contacts or 6 MB, whichever
  is lower; 202 ``{"job_id"}``; the job is polled at ``GET /v3/marketing/contacts/imports/{id}`` and its
  per-contact errors are in the file at ``results.errors_url``.
- custom fields are keyed by their *id* (``w1``), so ``prepare()`` reads ``/v3/marketing/field_definitions``.
- removal from a list needs contact ids: ``POST /v3/marketing/contacts/search/emails`` (≤ 100 emails),
  then ``DELETE /v3/marketing/lists/{id}/contacts?contact_ids=...`` ("the contacts will not be deleted").
- SendGrid contacts carry no subscription status: unsubscribes, bounces and spam reports live in the
  account's suppression lists, which the upsert never touches. A contact on one of them is reported
  ``suppressed`` and not pushed at all, so the product never works against an unsubscribe.

Removal policies: ``remove_from_list`` removes list membership only (contact and its data stay);
``unsubscribe`` adds the email to the global unsubscribe group (``POST /v3/asm/suppressions/global``)
and leaves list membership; ``delete`` deletes the contact from the whole account
(``DELETE /v3/marketing/contacts?ids=``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx
import orjson

from destinations.base import (
    BatchResult,
    Contact,
    Credential,
    JobStatus,
    RateLimit,
    RemovalPolicy,
    RowOutcome,
    RowResult,
    Target,
    VendorLimits,
    compact_json,
)
from destinations.http import VendorHttp, reset_header
from shared.errors import FieldsMissing, RequestRejected

BASE_URL = "https://api.sendgrid.com"
CONTACTS = "/v3/marketing/contacts"
IMPORTS = "/v3/marketing/contacts/imports/{job_id}"
SEARCH_EMAILS = "/v3/marketing/contacts/search/emails"
LIST = "/v3/marketing/lists/{list_id}"
LIST_CONTACTS = "/v3/marketing/lists/{list_id}/contacts"
FIELD_DEFINITIONS = "/v3/marketing/field_definitions"
SCOPES = "/v3/scopes"
GLOBAL_UNSUBSCRIBE = "/v3/asm/suppressions/global"
# Suppression lists: an address on any of them must not be pushed (``suppressed``).
SUPPRESSION_LISTS = {
    "/v3/suppression/unsubscribes": "unsubscribed in SendGrid (global unsubscribe)",
    "/v3/suppression/bounces": "bounced in SendGrid",
    "/v3/suppression/spam_reports": "reported spam in SendGrid",
}
SUPPRESSION_PAGE = 500  # the suppression endpoints' maximum ``limit``

MAX_CONTACTS = 30_000  # "up to 30,000 contacts, or 6MB of data, whichever is lower"
MAX_BODY_BYTES = 6_000_000  # 6 MB read as decimal megabytes: the stricter reading
SEARCH_MAX_EMAILS = 100  # search/emails: "up to 100 contacts"
# UNCONFIRMED: SendGrid publishes no number for the marketing endpoints (vendors.md §2.3), only that
# each endpoint has one and answers 429 with X-RateLimit-Reset. We assume 10 requests/s per endpoint
# family, a figure comfortably inside what accounts observe; the 429 handling covers a lower real one.
ASSUMED_RATE = (RateLimit(10, 1.0),)

# The product's standard attributes as SendGrid reserved fields (the rest are custom fields by name).
RESERVED = {
    "first_name": "first_name",
    "last_name": "last_name",
    "address": "address_line_1",
    "city": "city",
    "state": "state_province_region",
    "postal_code": "postal_code",
    "country": "country",
}

# ContactRequest ``maxLength`` values of the official spec: longer values are refused per row here,
# before a 400 would cost a round trip.
MAX_LENGTHS = {
    "email": 254,
    "first_name": 50,
    "last_name": 50,
    "address_line_1": 100,
    "city": 60,
    "state_province_region": 50,
    "country": 50,
}

ENVELOPE_BYTES = 256  # '{"list_ids":["<uuid>"],"contacts":[' + ']}'


class SendGridDestination:
    """SendGrid adapter: asynchronous upserts (job polled later), list removal by contact id."""

    vendor: ClassVar[str] = "sendgrid"
    display_name: ClassVar[str] = "SendGrid"
    limits: ClassVar[VendorLimits] = VendorLimits(
        upsert_batch_items=MAX_CONTACTS,
        remove_batch_items=SEARCH_MAX_EMAILS,
        rate_limits={
            "contacts": ASSUMED_RATE,
            "imports": ASSUMED_RATE,
            "search": ASSUMED_RATE,
            "lists": ASSUMED_RATE,
            "fields": ASSUMED_RATE,
            "suppressions": ASSUMED_RATE,
        },
        max_concurrency=None,
        upsert_batch_bytes=MAX_BODY_BYTES,
        envelope_bytes=ENVELOPE_BYTES,
        asynchronous=True,
    )
    removal_policies: ClassVar[frozenset[RemovalPolicy]] = frozenset(
        {RemovalPolicy.REMOVE_FROM_LIST, RemovalPolicy.UNSUBSCRIBE, RemovalPolicy.DELETE}
    )

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        credential: Credential,
        target: Target,
        base_url: str | None = None,
    ) -> None:
        self.client = client
        self.target = target
        self.base_url = (base_url or BASE_URL).rstrip("/")
        # Built once; the key never appears anywhere else (not in URLs, logs or messages).
        self._headers = {
            "Authorization": f"Bearer {credential.secret.get_secret_value()}",
            "Content-Type": "application/json",
        }
        self.http = VendorHttp(
            client,
            base_url=self.base_url,
            headers=self._headers,
            vendor=self.vendor,
            display_name=self.display_name,
            target=f"list {target.list_id!r}",
            retry_after=reset_header("x-ratelimit-reset", epoch=True),
        )
        self._field_ids: dict[str, str] | None = None
        # Addresses the account suppresses (email → reason): read once per run by the pipeline through
        # ``load_suppressed`` and handed to every activity's adapter.
        self.suppressed: dict[str, str] = {}
        self._custom = [a for a in target.mapped_attributes if a not in RESERVED]
        self._envelope_head = b'{"list_ids":' + orjson.dumps([target.list_id]) + b',"contacts":['

    # ---- plumbing ------------------------------------------------------------------------------

    def rate_bucket(self, method: str, path: str) -> str:
        return rate_bucket_of(path)

    # ---- pre-flight and preparation ------------------------------------------------------------

    async def preflight(self) -> None:
        """Key works, list exists, mapped custom fields exist.

        Raises CredentialRefused, TargetNotFound, FieldsMissing, RetryableDestinationError.
        """
        await self.http.call("GET", SCOPES)
        await self.http.call("GET", LIST.format(list_id=self.target.list_id))
        await self._load_fields()

    async def prepare(self) -> None:
        """Read the custom-field ids (one request) before contacts are encoded."""
        await self._load_fields()

    async def _load_fields(self) -> None:
        if self._field_ids is not None:
            return
        body = (await self.http.call("GET", FIELD_DEFINITIONS)).json()
        known = {f["name"]: f["id"] for f in body.get("custom_fields", [])}
        missing = [name for name in self._custom if name not in known]
        if missing:
            raise FieldsMissing(
                f"the custom field(s) {', '.join(missing)} do not exist in the SendGrid account: create them "
                "under Marketing > Custom Fields, or remove them from the export's field mapping",
                vendor=self.vendor,
                fields=missing,
            )
        self._field_ids = {name: known[name] for name in self._custom}

    async def load_suppressed(self, since: datetime | None = None) -> dict[str, str]:
        """The account's unsubscribes, bounces and spam reports (email → reason); with ``since`` only those
        created after it (``start_time``): earlier ones are already remembered in the export's snapshot.

        Raises CredentialRefused, RetryableDestinationError."""
        suppressed: dict[str, str] = {}
        for path, reason in SUPPRESSION_LISTS.items():
            offset = 0
            window = {"start_time": int(since.timestamp())} if since is not None else {}
            while True:
                params = {"limit": SUPPRESSION_PAGE, "offset": offset, **window}
                page = (await self.http.call("GET", path, params=params)).json()
                for entry in page:
                    suppressed.setdefault(str(entry.get("email", "")).lower(), reason)
                if len(page) < SUPPRESSION_PAGE:
                    break
                offset += SUPPRESSION_PAGE
        return suppressed

    # ---- upsert --------------------------------------------------------------------------------

    def encode_contact(self, contact: Contact) -> bytes:
        """Raises RuntimeError when custom fields are mapped and ``prepare()`` was not awaited."""
        item: dict[str, Any] = {"email": contact.email}
        custom: dict[str, str] = {}
        for name, value in contact.attributes.items():
            if not value:
                continue
            reserved = RESERVED.get(name)
            if reserved is not None:
                item[reserved] = value
                continue
            if self._field_ids is None:
                raise RuntimeError("prepare() must run before contacts with custom fields are encoded")
            field_id = self._field_ids.get(name)
            if field_id is not None:
                custom[field_id] = value
        if custom:
            item["custom_fields"] = custom
        return compact_json(item)

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Submit an import job for the batch; contacts on a suppression list are not sent.

        A 400 naming single contacts (``contacts[i].field``) rejects those rows and resubmits the rest
        once, so one bad value never costs a whole batch. Raises CredentialRefused, TargetNotFound,
        RequestRejected, RetryableDestinationError.
        """
        suppressed = self.suppressed
        verdicts: dict[str, list[str]] = {}
        send_idx = []
        for i, contact in enumerate(contacts):
            reason = suppressed.get(contact.email)
            too_long = _too_long(contact)
            if reason is not None:
                verdicts[contact.email] = [RowOutcome.SUPPRESSED.value, reason]
            elif too_long is not None:
                verdicts[contact.email] = [RowOutcome.REJECTED.value, too_long]
            else:
                send_idx.append(i)
        for _ in range(2):
            if not send_idx:
                break
            body = self._envelope_head + b",".join(encoded[i] for i in send_idx) + b"]}"
            response = await self.http.send(
                "PUT",
                CONTACTS,
                content=body,
            )
            if response.status_code == 400:
                refused = _refused_rows(response, len(send_idx))
                if refused:
                    for position, message in refused.items():
                        email = contacts[send_idx[position]].email
                        verdicts[email] = [RowOutcome.REJECTED.value, message]
                    send_idx = [i for k, i in enumerate(send_idx) if k not in refused]
                    continue
            self.http.check(response, f"list {self.target.list_id!r}")
            return BatchResult(job={"job_id": response.json()["job_id"], "verdicts": verdicts})
        if send_idx:
            raise RequestRejected(
                "SendGrid refused the batch twice naming different contacts", vendor=self.vendor, status=400
            )
        return BatchResult(results=_results(contacts, verdicts, default=None))

    async def poll(self, job: Mapping[str, Any], contacts: Sequence[Contact]) -> JobStatus:
        """Raises CredentialRefused, RetryableDestinationError."""
        verdicts: dict[str, list[str]] = dict(job.get("verdicts", {}))
        body = (await self.http.call("GET", IMPORTS.format(job_id=job["job_id"]))).json()
        status = body.get("status")
        if status == "pending":
            return JobStatus(done=False)
        if status in ("errored", "failed"):
            reason = f"the SendGrid import job {status}"
            for contact in contacts:
                verdicts.setdefault(contact.email, [RowOutcome.FAILED.value, reason])
            return JobStatus(done=True, results=_results(contacts, verdicts, default=None))
        results = body.get("results") or {}
        if results.get("errored_count") and results.get("errors_url"):
            for email, message in (await self._job_errors(str(results["errors_url"]))).items():
                verdicts.setdefault(email, [RowOutcome.REJECTED.value, message])
        return JobStatus(done=True, results=_results(contacts, verdicts, default=RowOutcome.UPSERTED))

    async def _job_errors(self, url: str) -> dict[str, str]:
        """The job's error file (CSV: email, error). It lives on a download host: no credential sent."""
        try:
            response = await self.client.get(url)
        except httpx.HTTPError:
            return {}
        self.http.check(response, "the error file")
        errors: dict[str, str] = {}
        for row in csv.DictReader(io.StringIO(response.text)):
            email = (row.get("email") or "").strip().lower()
            if email:
                errors[email] = (row.get("error") or "refused by SendGrid").strip()
        return errors

    # ---- removal -------------------------------------------------------------------------------

    async def _contact_ids(self, contacts: Sequence[Contact]) -> dict[str, str]:
        emails = [c.email for c in contacts]
        response = await self.http.send("POST", SEARCH_EMAILS, content=orjson.dumps({"emails": emails}))
        if response.status_code == 404:
            return {}  # "404 when no contacts are found": nothing to remove
        self.http.check(response, "the contacts searched")
        found = response.json().get("result", {})
        return {email: entry["contact"]["id"] for email, entry in found.items() if "contact" in entry}

    async def remove(self, contacts: Sequence[Contact]) -> BatchResult:
        """Apply the export's removal policy. A contact SendGrid does not know counts as removed.

        Raises CredentialRefused, TargetNotFound, RequestRejected, RetryableDestinationError.
        """
        policy = self.target.removal_policy
        if policy is RemovalPolicy.UNSUBSCRIBE:
            await self.http.call(
                "POST", GLOBAL_UNSUBSCRIBE, content=orjson.dumps({"recipient_emails": [c.email for c in contacts]})
            )
        elif policy in (RemovalPolicy.REMOVE_FROM_LIST, RemovalPolicy.DELETE):
            ids = await self._contact_ids(contacts)
            if ids:
                joined = ",".join(ids.values())
                if policy is RemovalPolicy.DELETE:
                    await self.http.call("DELETE", CONTACTS, params={"ids": joined})
                else:
                    await self.http.call(
                        "DELETE", LIST_CONTACTS.format(list_id=self.target.list_id), params={"contact_ids": joined}
                    )
        else:
            raise RequestRejected(f"SendGrid has no {policy.value!r} removal", vendor=self.vendor)
        return BatchResult(results=[RowResult(c.email, RowOutcome.REMOVED) for c in contacts])


def rate_bucket_of(path: str) -> str:
    """SendGrid limits per endpoint family; the simulator counts requests by the same buckets."""
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


def _too_long(contact: Contact) -> str | None:
    if len(contact.email) > MAX_LENGTHS["email"]:
        return "the email is longer than SendGrid's 254 characters"
    for name, value in contact.attributes.items():
        field = RESERVED.get(name)
        limit = MAX_LENGTHS.get(field or "")
        if limit is not None and len(value) > limit:
            return f"{name} is longer than SendGrid's {limit} characters for {field}"
    return None


def _refused_rows(response: httpx.Response, count: int) -> dict[int, str]:
    """Positions named by a 400's ``errors[].field`` such as ``contacts[3].first_name``."""
    try:
        errors = response.json().get("errors", [])
    except ValueError:
        return {}
    refused: dict[int, str] = {}
    for error in errors:
        field = str(error.get("field") or "")
        if not field.startswith("contacts["):
            return {}  # the request itself is wrong: not a per-row matter
        try:
            position = int(field[len("contacts[") : field.index("]")])
        except ValueError:
            return {}
        if 0 <= position < count:
            refused.setdefault(position, str(error.get("message") or "refused by SendGrid"))
    return refused


def _results(
    contacts: Sequence[Contact], verdicts: Mapping[str, Sequence[str]], *, default: RowOutcome | None
) -> list[RowResult]:
    results = []
    for contact in contacts:
        verdict = verdicts.get(contact.email)
        if verdict is not None:
            results.append(RowResult(contact.email, RowOutcome(verdict[0]), verdict[1]))
        elif default is not None:
            results.append(RowResult(contact.email, default))
    return results
