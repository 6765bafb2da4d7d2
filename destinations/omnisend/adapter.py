"""Omnisend API, version 2026-03-15.

Facts (sources in ``constants.py``):
- no lists: a tag stands for the export's list (``Target.list_id`` is the tag);
- upsert through ``POST /api/batches`` (``endpoint: contacts``, ≤ 100 items), asynchronous: 201
  ``{batchID}``, polled at ``GET /api/batches/{id}`` until ``finished`` or ``stopped``;
- 400 requests a minute on contacts and batches, 60 a minute on the tag endpoints; 429 carries
  ``retryAfter`` (seconds) in its body;
- auth: ``Authorization: Omnisend-API-Key {key}`` and the required ``Omnisend-Version`` header.

Per-row truth: each item's own result decides (``responseCode`` 2xx → upserted, 4xx → rejected with
Omnisend's detail, anything else → failed). Results are read from the batch's ``responses``/``errors``;
when those do not account for every item, from ``GET /api/batches/{id}/items`` (which the spec also
documents: which of them the API fills is unverified, so both are read). An item still unaccounted for
is ``failed`` — a ``stopped`` batch never reached it.

Never re-subscribe: a contact's email channel status is sent so that *new* contacts get the export's
status, but Omnisend would apply it to existing contacts too. So the pipeline reads, once per run,
every contact whose status is ``unsubscribed`` (``GET /api/contacts?status=unsubscribed``), and those
rows are reported ``suppressed`` and never sent. Welcome messages are not triggered by an export.

Removal policy: ``remove_from_list`` removes the export's tag (``DELETE /api/contacts/tags``, ≤ 250
emails a call); the contact, its data and its consent stay. Omnisend's API offers no delete, and an
unsubscribe through an export would be a consent change, so no other policy is offered. The call answers
202 and "Untagging is performed asynchronously, so the tags may not disappear immediately" (contacts spec),
with no job to ask: a contact is reported ``removed`` only once a lookup (``GET /api/contacts?email=``)
finds it without the tag, or finds no such contact. That costs one lookup per removed contact from the
400-a-minute budget (the untag itself costs one call per 250); an untag that never applies is given up
with the run's other open jobs, its rows ``failed`` and untagged again by the next run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import orjson

from destinations.base import (
    BatchResult,
    Contact,
    Credential,
    Destination,
    JobStatus,
    Outcome,
    RemovalPolicy,
    RowResult,
    Target,
    VendorLimits,
    compact_json,
    emails_of,
    merge_verdicts,
)
from destinations.http import reset_header
from destinations.omnisend.constants import (
    API_VERSION,
    BASE_URL,
    BATCH,
    BATCH_ITEMS,
    BATCH_MAX_ITEMS,
    BATCHES,
    CONTACTS,
    CONTACTS_PAGE,
    FIELDS,
    FINISHED,
    PER_MINUTE,
    RATE_RESET_HEADER,
    RUNNING,
    STOPPED,
    TAGS,
    TAGS_PER_MINUTE,
    UNTAG_MAX,
)

if TYPE_CHECKING:
    import pyarrow as pa

_RESET = reset_header(RATE_RESET_HEADER, epoch=False)


def email_of(item: Mapping[str, Any]) -> str:
    for identifier in item.get("identifiers") or []:
        if identifier.get("type") == "email":
            return str(identifier.get("id", "")).lower()
    return str(item.get("email", "")).lower()


class OmnisendDestination(Destination):
    """Omnisend adapter: asynchronous batches of 100 contacts, the tag standing for the list."""

    vendor: ClassVar[str] = "omnisend"
    display_name: ClassVar[str] = "Omnisend"
    default_base_url: ClassVar[str] = BASE_URL
    target_noun: ClassVar[str] = "tag"
    reads_suppressions: ClassVar[bool] = True
    limits: ClassVar[VendorLimits] = VendorLimits(
        upsert_batch_items=BATCH_MAX_ITEMS,
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
        connection: str | None = None,
    ) -> None:
        super().__init__(client=client, credential=credential, target=target, base_url=base_url, connection=connection)
        self._status_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._envelope_head = b'{"method":"POST","endpoint":"contacts","origin":"api","items":['

    def auth_headers(self, credential: Credential) -> dict[str, str]:
        scheme = "Bearer" if credential.kind == "oauth_token" else "Omnisend-API-Key"
        return {"Authorization": f"{scheme} {credential.secret.get_secret_value()}", "Omnisend-Version": API_VERSION}

    @staticmethod
    def retry_after(response: httpx.Response) -> float | None:
        """``RateLimitProblem.retryAfter`` (seconds), else ``Retry-After``/``X-Rate-Limit-Reset``."""
        try:
            body = response.json()
            value = body.get("retryAfter") if isinstance(body, dict) else None
        except ValueError:
            value = None
        if isinstance(value, int | float):
            return max(0.0, float(value))
        return _RESET(response)

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
            page = self.http.json(await self.http.call_retrying("GET", CONTACTS, params=params))
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

    def encode_batch(self, emails: pa.Array, attributes: Mapping[str, pa.Array]) -> pa.Array:
        """``encode_contact`` a column at a time (``destinations.omnisend.encoding``)."""
        from destinations.omnisend import encoding  # imports pyarrow: only when encoding, not at import

        return encoding.encode_batch(
            emails,
            attributes,
            status=self.target.new_contact_status,
            status_at=self._status_at,
            tag=self.target.list_id,
        )

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Raises CredentialRefused, RequestRejected, RetryableDestinationError."""
        response = await self.http.call("POST", BATCHES, content=self._envelope_head + b",".join(encoded) + b"]}")
        return BatchResult(job={"batch_id": self.http.json(response, "batchID"), "verdicts": {}})

    def poll_requests(self, job: Mapping[str, Any], rows: int) -> int:
        """An untag is confirmed by one lookup per contact (``_poll_untag``); a batch by its status."""
        return max(1, rows) if UNTAG_JOB in job else 1

    async def poll(self, job: Mapping[str, Any], contacts: Sequence[Contact]) -> JobStatus:
        """Raises CredentialRefused, RetryableDestinationError."""
        if UNTAG_JOB in job:
            return await self._poll_untag(contacts)
        batch_id = str(job["batch_id"])
        verdicts: dict[str, Sequence[str]] = dict(job.get("verdicts", {}))
        batch = await self.read_job(BATCH.format(batch_id=batch_id))
        if batch is None:
            return self.job_vanished(contacts, "batch", batch_id, verdicts)
        status = str(batch.get("status", ""))
        if status in RUNNING or not status:
            return JobStatus(done=False)
        wanted = {email for email in emails_of(contacts) if email not in verdicts}
        found = self._item_verdicts(_items_of(batch))
        if status == FINISHED and _every_item_succeeded(batch, len(contacts)):
            # The vendor's own counts say every item of the batch got a success answer: no need to
            # read the items (one request per 100 contacts, from the same rate budget as the upserts).
            found.update({email: [Outcome.UPSERTED.value, ""] for email in wanted if email not in found})
        if not wanted <= found.keys():
            items = await self.read_job(BATCH_ITEMS.format(batch_id=batch_id))
            if items is not None:
                for email, verdict in self._item_verdicts(_items_of(items)).items():
                    found.setdefault(email, verdict)
        for email in wanted & found.keys():
            verdicts[email] = found[email]
        if status == STOPPED:
            reason = f"Omnisend stopped batch {batch_id} (too many errors) before this contact"
        else:
            reason = f"Omnisend's batch {batch_id} ended {status} without a result for this contact"
        return JobStatus(done=True, results=merge_verdicts(contacts, verdicts, Outcome.FAILED, reason))

    def _item_verdicts(self, items: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
        """email → [outcome, reason] from batch items (``request``, ``responseCode``, ``response``)."""
        verdicts: dict[str, list[str]] = {}
        for item in items:
            email = email_of(item.get("request") or {})
            code = item.get("responseCode")
            if not email or not isinstance(code, int):
                continue
            response = item.get("response")
            detail = ""
            if isinstance(response, dict):
                detail = str(response.get("detail") or response.get("title") or response.get("error") or "")
                errors = response.get("errors")
                if isinstance(errors, list) and errors:
                    detail = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict)) or detail
            reason = self.scrub(detail or f"Omnisend answered HTTP {code} for this contact")
            if 200 <= code < 300:
                verdicts[email] = [Outcome.UPSERTED.value, ""]
            elif 400 <= code < 500 and code not in (408, 429):
                verdicts[email] = [Outcome.REJECTED.value, reason]
            else:
                verdicts.setdefault(email, [Outcome.FAILED.value, reason])
        return verdicts

    async def remove(self, contacts: Sequence[Contact]) -> BatchResult:
        """Untag: asynchronous on Omnisend's side (unknown emails "silently ignored"), so the call is a job,
        done once ``_poll_untag`` finds none of its contacts still tagged.

        Raises CredentialRefused, RequestRejected, RetryableDestinationError."""
        body = {"emails": [c.email for c in contacts], "tags": [self.target.list_id]}
        await self.http.call("DELETE", TAGS, content=orjson.dumps(body))
        return BatchResult(job={UNTAG_JOB: self.target.list_id})

    async def _poll_untag(self, contacts: Sequence[Contact]) -> JobStatus:
        """Done once no contact of the call carries the tag. The first is looked up alone: while Omnisend
        has not applied the untag it is still tagged, and the round ends after one request instead of
        spending one per contact; once it is untagged, the others are looked up side by side (the pacer
        keeps them within the budget), and any still tagged keeps the job open.

        Raises CredentialRefused, RetryableDestinationError."""
        if not contacts:
            return JobStatus(done=True, results=[])
        if await self._tagged(contacts[0].email):
            return JobStatus(done=False)
        tagged = await asyncio.gather(*(self._tagged(c.email) for c in contacts[1:]))
        if any(tagged):
            return JobStatus(done=False)
        return JobStatus(done=True, results=[RowResult(c.email, Outcome.REMOVED) for c in contacts])

    async def _tagged(self, email: str) -> bool:
        """Whether Omnisend has a contact with ``email`` that still carries the export's tag."""
        response = await self.http.call_retrying("GET", CONTACTS, params={"email": email, "limit": 1})
        found = self.http.json(response).get("contacts") or []
        return any(self.target.list_id in (contact.get("tags") or []) for contact in found)


# Marks an untag call in the checkpoint (the tag it removes); batch jobs have a ``batch_id`` instead.
UNTAG_JOB = "untag"


def _every_item_succeeded(batch: Mapping[str, Any], sent: int) -> bool:
    """``totalCount`` items were all answered (``finishedCount``) and none with an error (``errorsCount``),
    and the batch is the one we sent (its size matches)."""
    total, finished, errors = batch.get("totalCount"), batch.get("finishedCount"), batch.get("errorsCount")
    if not all(isinstance(n, int) for n in (total, finished, errors)):
        return False
    return total == sent and finished == total and errors == 0


def _items_of(batch: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every item result a batch document carries, wherever the API put it."""
    items: list[Mapping[str, Any]] = []
    for key in ("items", "responses", "errors"):
        value = batch.get(key)
        if isinstance(value, list):
            items.extend(item for item in value if isinstance(item, dict))
    return items
