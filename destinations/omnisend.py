"""Omnisend API, version 2026-03-15.

Facts from ``docs/vendors.md`` §4 and the official specs (``vendor_specs/omnisend``):
- no lists: a tag stands for the export's list (``Target.list_id`` is the tag);
- upsert through ``POST /api/batches`` (``endpoint: contacts``, ≤ 100 items), asynchronous: 201
  ``{batchID}``, polled at ``GET /api/batches/{id}`` until ``finished`` (or ``stopped``), whose ``errors``
  name the items Omnisend refused;
- 400 requests a minute on contacts and batches, 60 a minute on the tag endpoints; 429 carries
  ``retryAfter`` (seconds) in its body;
- auth: ``Authorization: Omnisend-API-Key {key}`` and the required ``Omnisend-Version`` header.

Never re-subscribe: a contact's email channel status is sent so that *new* contacts get the export's
status, but Omnisend would apply it to existing contacts too. So the pipeline reads, once per run,
every contact whose status is ``unsubscribed`` (``GET /api/contacts?status=unsubscribed``), and those
rows are reported ``suppressed`` and never sent. Welcome messages are not triggered by an export.

Removal policy: ``remove_from_list`` removes the export's tag (``DELETE /api/contacts/tags``, ≤ 250
emails a call); the contact, its data and its consent stay. Omnisend's API offers no delete, and an
unsubscribe through an export would be a consent change, so no other policy is offered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
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
from destinations.http import VendorHttp, retry_after_header

BASE_URL = "https://api.omnisend.com"
API_VERSION = "2026-03-15"
BATCHES = "/api/batches"
BATCH = "/api/batches/{batch_id}"
CONTACTS = "/api/contacts"
TAGS = "/api/contacts/tags"
BATCH_ITEMS = 100  # CreateBatchRequest.items maxItems 100
UNTAG_MAX = 250  # RemoveTagsRequest.emails maxItems 250
CONTACTS_PAGE = 250
PER_MINUTE = (RateLimit(400, 60.0),)  # "rate limited to 400 requests per minute"
TAGS_PER_MINUTE = (RateLimit(60, 60.0),)  # tag endpoints: 60 a minute

FIELDS = {
    "first_name": "firstName",
    "last_name": "lastName",
    "address": "address",
    "city": "city",
    "state": "state",
    "postal_code": "postalCode",
    "country": "country",
}


def retry_after(response: httpx.Response) -> float | None:
    """``RateLimitProblem.retryAfter`` (seconds), else the standard header."""
    try:
        value = response.json().get("retryAfter")
    except ValueError:
        value = None
    if isinstance(value, int | float):
        return float(value)
    return retry_after_header(response) or _reset_header(response)


def _reset_header(response: httpx.Response) -> float | None:
    value = response.headers.get("x-rate-limit-reset")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def email_of(item: Mapping[str, Any]) -> str:
    for identifier in item.get("identifiers") or []:
        if identifier.get("type") == "email":
            return str(identifier.get("id", "")).lower()
    return str(item.get("email", "")).lower()


class OmnisendDestination:
    """Omnisend adapter: asynchronous batches of 100 contacts, the tag standing for the list."""

    vendor: ClassVar[str] = "omnisend"
    display_name: ClassVar[str] = "Omnisend"
    limits: ClassVar[VendorLimits] = VendorLimits(
        upsert_batch_items=BATCH_ITEMS,
        remove_batch_items=UNTAG_MAX,
        rate_limits={"batches": PER_MINUTE, "contacts": PER_MINUTE, "tags": TAGS_PER_MINUTE},
        max_concurrency=None,
        asynchronous=True,
    )
    removal_policies: ClassVar[frozenset[RemovalPolicy]] = frozenset({RemovalPolicy.REMOVE_FROM_LIST})

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
        scheme = "Bearer" if credential.kind == "oauth_token" else "Omnisend-API-Key"
        self._headers = {
            "Authorization": f"{scheme} {credential.secret.get_secret_value()}",
            "Omnisend-Version": API_VERSION,
            "Content-Type": "application/json",
        }
        self.http = VendorHttp(
            client,
            base_url=self.base_url,
            headers=self._headers,
            vendor=self.vendor,
            display_name=self.display_name,
            target=f"tag {target.list_id!r}",
            retry_after=retry_after,
        )
        self.suppressed: dict[str, str] = {}
        self._status_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._envelope_head = b'{"method":"POST","endpoint":"contacts","origin":"api","items":['

    def rate_bucket(self, method: str, path: str) -> str:
        if path.startswith(TAGS):
            return "tags"
        return "batches" if path.startswith(BATCHES) else "contacts"

    async def preflight(self) -> None:
        """The key works and may write contacts. Omnisend has no lists (the tag is created on first use) and
        accepts any custom property, so there is nothing else to check.

        Raises CredentialRefused, RetryableDestinationError."""
        await self.http.call("GET", CONTACTS, params={"limit": 1})

    async def load_suppressed(self, since: datetime | None = None) -> dict[str, str]:
        """Every unsubscribed contact of the brand (email → reason), read page by page (250 a page).
        ``since`` is not used: the status filter cannot be combined with an update-time filter.

        Raises CredentialRefused, RetryableDestinationError."""
        suppressed: dict[str, str] = {}
        params: dict[str, Any] = {"status": "unsubscribed", "limit": CONTACTS_PAGE}
        while True:
            page = (await self.http.call("GET", CONTACTS, params=params)).json()
            for contact in page.get("contacts", []):
                suppressed[email_of(contact)] = "unsubscribed in Omnisend; the status was kept"
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("hasMore") or not after:
                return suppressed
            params = {"status": "unsubscribed", "limit": CONTACTS_PAGE, "after": after}

    def encode_contact(self, contact: Contact) -> bytes:
        identifiers: list[dict[str, Any]] = [
            {
                "type": "email",
                "id": contact.email,
                "channels": {"email": {"status": self.target.new_contact_status, "statusChangedAt": self._status_at}},
                "sendWelcomeMessage": False,
            }
        ]
        item: dict[str, Any] = {"identifiers": identifiers, "tags": [self.target.list_id]}
        custom: dict[str, str] = {}
        for name, value in contact.attributes.items():
            if not value:
                continue
            if name == "phone":
                identifiers.append({"type": "phone", "id": value, "sendWelcomeMessage": False})
            elif name in FIELDS:
                item[FIELDS[name]] = value
            else:
                custom[name] = value
        if custom:
            item["customProperties"] = custom
        return compact_json(item)

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Raises CredentialRefused, RequestRejected, RetryableDestinationError."""
        chosen = [body for contact, body in zip(contacts, encoded, strict=True) if contact.email not in self.suppressed]
        verdicts = {
            c.email: [RowOutcome.SUPPRESSED.value, self.suppressed[c.email]]
            for c in contacts
            if c.email in self.suppressed
        }
        if not chosen:
            return BatchResult(
                results=[RowResult(c.email, RowOutcome.SUPPRESSED, verdicts[c.email][1]) for c in contacts]
            )
        response = await self.http.call("POST", BATCHES, content=self._envelope_head + b",".join(chosen) + b"]}")
        return BatchResult(job={"batch_id": response.json()["batchID"], "verdicts": verdicts})

    async def poll(self, job: Mapping[str, Any], contacts: Sequence[Contact]) -> JobStatus:
        """Raises CredentialRefused, RetryableDestinationError."""
        batch = (await self.http.call("GET", BATCH.format(batch_id=job["batch_id"]))).json()
        status = str(batch.get("status", ""))
        if status not in ("finished", "stopped"):
            return JobStatus(done=False)
        verdicts: dict[str, Sequence[str]] = dict(job.get("verdicts", {}))
        for item in batch.get("errors") or []:
            request = item.get("request") or {}
            response = item.get("response") or {}
            reason = str(response.get("detail") or response.get("title") or f"HTTP {item.get('responseCode')}")
            verdicts.setdefault(email_of(request), [RowOutcome.REJECTED.value, reason])
        accepted = {
            email_of(item.get("request") or {})
            for item in batch.get("responses") or []
            if 200 <= int(item.get("responseCode") or 0) < 300
        }
        results = []
        for contact in contacts:
            verdict = verdicts.get(contact.email)
            if verdict is not None:
                results.append(RowResult(contact.email, RowOutcome(verdict[0]), verdict[1]))
            elif contact.email in accepted:
                results.append(RowResult(contact.email, RowOutcome.UPSERTED))
            else:
                results.append(RowResult(contact.email, RowOutcome.FAILED, f"the Omnisend batch {status} before it"))
        return JobStatus(done=True, results=results)

    async def remove(self, contacts: Sequence[Contact]) -> BatchResult:
        """Untag (asynchronous on Omnisend's side, unknown emails "silently ignored").

        Raises CredentialRefused, RequestRejected, RetryableDestinationError."""
        body = {"emails": [c.email for c in contacts], "tags": [self.target.list_id]}
        await self.http.call("DELETE", TAGS, content=orjson.dumps(body))
        return BatchResult(results=[RowResult(c.email, RowOutcome.REMOVED) for c in contacts])
