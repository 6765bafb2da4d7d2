"""Brevo (ex-Sendinblue) API v3.

Facts from ``docs/vendors.md`` §3 and the official spec (``vendor_specs/brevo``):
- upsert: ``POST /v3/contacts/import`` with ``jsonBody`` ``[{email, attributes}]``, ``listIds``,
  ``updateExistingContacts``; JSON body at most 10 MB, "a safe limit of around 8 MB" recommended; no item
  cap. Asynchronous: 202 ``{"processId"}``, polled at ``GET /v3/processes/{id}`` until ``completed``.
- The import never sends ``emailBlacklist``, so blocklist flags stay as they are ("blocklist flags
  untouched"): a blocklisted contact is never re-subscribed. Brevo's process report gives counts, not
  addresses, so ``prepare()`` reads which members of the list are blocklisted and those rows are reported
  ``suppressed`` without being sent.
- rate limits (General tier): everything under ``/v3/contacts`` 10 requests/s and 36,000/hour; all other
  endpoints (``/v3/processes`` included) 100/hour. 429 carries ``x-sib-ratelimit-reset`` (seconds).
- auth: ``api-key`` header.

Removal policies: ``remove_from_list`` unlinks the contacts from the list (``.../contacts/remove``, ≤ 150
emails a call; the contact and its attributes stay); ``unsubscribe`` blocklists the contact for email
(``PUT /v3/contacts/{email}`` ``emailBlacklisted: true``); ``delete`` deletes the contact from the account.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

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
from shared.errors import FieldsMissing, TargetNotFound

BASE_URL = "https://api.brevo.com"
IMPORT = "/v3/contacts/import"
PROCESS = "/v3/processes/{process_id}"
LIST = "/v3/contacts/lists/{list_id}"
CONTACTS = "/v3/contacts"
LIST_REMOVE = "/v3/contacts/lists/{list_id}/contacts/remove"
ATTRIBUTES = "/v3/contacts/attributes"
CONTACT = "/v3/contacts/{identifier}"

SAFE_BODY_BYTES = 8_000_000  # "we recommend a safe limit of around 8 MB"
LIST_EDIT_MAX = 150  # contacts/add and contacts/remove take at most 150 emails
# GET /v3/contacts takes up to 1,000 a page (the list's own .../lists/{id}/contacts only 500): half the
# requests for the suppression read-back, which pages every member modified since the last run.
CONTACTS_PAGE = 1000
CONTACTS_LIMITS = (RateLimit(10, 1.0), RateLimit(36_000, 3_600.0))  # General tier, /v3/contacts/*
OTHER_LIMITS = (RateLimit(100, 3_600.0),)  # "All other endpoints": 100 requests per hour

STANDARD = {"first_name": "FIRSTNAME", "last_name": "LASTNAME", "phone": "SMS"}
RETRY_AFTER = reset_header("x-sib-ratelimit-reset", epoch=False)


def attribute_name(attribute: str) -> str:
    """Brevo attribute names are upper case; the standard ones have fixed names."""
    return STANDARD.get(attribute, attribute.upper())


class BrevoDestination:
    """Brevo adapter: asynchronous JSON imports into a list, paced per Brevo's two rate buckets."""

    vendor: ClassVar[str] = "brevo"
    display_name: ClassVar[str] = "Brevo"
    limits: ClassVar[VendorLimits] = VendorLimits(
        upsert_batch_items=1_000_000,  # no item cap: the body size decides
        remove_batch_items=LIST_EDIT_MAX,
        rate_limits={"contacts": CONTACTS_LIMITS, "other": OTHER_LIMITS},
        max_concurrency=None,
        upsert_batch_bytes=SAFE_BODY_BYTES,
        envelope_bytes=512,
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
        self._headers = {"api-key": credential.secret.get_secret_value(), "Content-Type": "application/json"}
        self.http = VendorHttp(
            client,
            base_url=self.base_url,
            headers=self._headers,
            vendor=self.vendor,
            display_name=self.display_name,
            target=f"list {target.list_id!r}",
            retry_after=RETRY_AFTER,
        )
        self._attributes = {a: attribute_name(a) for a in target.mapped_attributes}
        self._types: dict[str, str] | None = None
        # Blocklisted members of the list (email → reason): read once per run through ``load_suppressed``.
        self.suppressed: dict[str, str] = {}
        self._list_id: int | None = int(target.list_id) if target.list_id.isdigit() else None
        head = {
            "listIds": [self._list_id or 0],
            "updateExistingContacts": True,
            "emptyContactsAttributes": False,
            "disableNotification": True,
        }
        self._envelope_head = orjson.dumps(head)[:-1] + b',"jsonBody":['

    def rate_bucket(self, method: str, path: str) -> str:
        return "contacts" if path.startswith("/v3/contacts") else "other"

    def _require_list(self) -> int:
        if self._list_id is None:
            raise TargetNotFound(
                f"list {self.target.list_id!r} does not exist in the Brevo account: Brevo list ids are numbers",
                vendor=self.vendor,
            )
        return self._list_id

    # ---- pre-flight and preparation ------------------------------------------------------------

    async def preflight(self) -> None:
        """The list check doubles as the key check (it sits in the 10/s bucket; ``/v3/account`` is in
        the 100/hour one). Raises CredentialRefused, TargetNotFound, FieldsMissing, RetryableDestinationError."""
        await self.http.call("GET", LIST.format(list_id=self._require_list()))
        await self._load_types()

    async def _load_types(self) -> dict[str, str]:
        if self._types is None:
            body = (await self.http.call("GET", ATTRIBUTES)).json()
            known = {str(a.get("name", "")).upper(): str(a.get("type", "text")) for a in body.get("attributes", [])}
            missing = sorted({name for name in self._attributes.values() if name not in known})
            if missing:
                raise FieldsMissing(
                    f"the contact attribute(s) {', '.join(missing)} do not exist in the Brevo account: create them "
                    "under Contacts > Settings > Contact attributes, or remove them from the export's field mapping",
                    vendor=self.vendor,
                    fields=missing,
                )
            self._types = {a: known[name] for a, name in self._attributes.items()}
        return self._types

    async def prepare(self) -> None:
        """Attribute types, to refuse values Brevo would silently drop."""
        await self._load_types()

    async def load_suppressed(self, since: datetime | None = None) -> dict[str, str]:
        """Blocklisted members of the list: Brevo's import report gives counts, not addresses, so this is
        how those rows are reported ``suppressed``. One request per 1,000 members (contacts bucket); with
        ``since`` (the last committed run) only members modified after it — a 1M list otherwise costs
        1,000 requests per refresh, and contacts found earlier are already remembered in the snapshot.

        Raises CredentialRefused, TargetNotFound, RetryableDestinationError."""
        blocklisted: dict[str, str] = {}
        offset = 0
        params: dict[str, Any] = {"listIds": self._require_list(), "limit": CONTACTS_PAGE}
        if since is not None:
            params["modifiedSince"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        while True:
            page = (await self.http.call("GET", CONTACTS, params={**params, "offset": offset})).json()
            contacts = page.get("contacts", [])
            for contact in contacts:
                if contact.get("emailBlacklisted"):
                    blocklisted[str(contact.get("email", "")).lower()] = "blocklisted in Brevo; the flag was kept"
            offset += len(contacts)
            if len(contacts) < CONTACTS_PAGE or offset >= int(page.get("count", 0)):
                break
        return blocklisted

    # ---- upsert --------------------------------------------------------------------------------

    def encode_contact(self, contact: Contact) -> bytes:
        attributes = {self._attributes.get(k, attribute_name(k)): v for k, v in contact.attributes.items() if v}
        item: dict[str, Any] = {"email": contact.email}
        if attributes:
            item["attributes"] = attributes
        return compact_json(item)

    def _refusal(self, contact: Contact) -> str | None:
        """Brevo silently drops a value of the wrong type; refusing it here says why."""
        for name, value in contact.attributes.items():
            kind = (self._types or {}).get(name)
            if kind == "float":
                try:
                    float(value)
                except ValueError:
                    return f"attribute {attribute_name(name)} expects a number, got {value[:40]!r}"
            elif kind == "boolean" and value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                return f"attribute {attribute_name(name)} expects true or false, got {value[:40]!r}"
        return None

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Submit one import process. Raises CredentialRefused, TargetNotFound, RequestRejected,
        RetryableDestinationError."""
        self._require_list()
        verdicts: dict[str, list[str]] = {}
        chosen: list[bytes] = []
        for contact, body in zip(contacts, encoded, strict=True):
            if contact.email in self.suppressed:
                verdicts[contact.email] = [RowOutcome.SUPPRESSED.value, self.suppressed[contact.email]]
            elif (problem := self._refusal(contact)) is not None:
                verdicts[contact.email] = [RowOutcome.REJECTED.value, problem]
            else:
                chosen.append(body)
        if not chosen:
            return BatchResult(
                results=[RowResult(c.email, RowOutcome(verdicts[c.email][0]), verdicts[c.email][1]) for c in contacts]
            )
        response = await self.http.call("POST", IMPORT, content=self._envelope_head + b",".join(chosen) + b"]}")
        return BatchResult(job={"process_id": response.json()["processId"], "verdicts": verdicts})

    async def poll(self, job: Mapping[str, Any], contacts: Sequence[Contact]) -> JobStatus:
        """Raises CredentialRefused, RetryableDestinationError."""
        response = await self.http.send("GET", PROCESS.format(process_id=job["process_id"]))
        self.http.check(response, f"import process {job['process_id']}")
        body = response.json()
        status = str(body.get("status", ""))
        if status in ("queued", "in_process", "processing"):
            return JobStatus(done=False)
        verdicts: Mapping[str, Sequence[str]] = job.get("verdicts", {})
        if status in ("failed", "cancelled"):
            reason = f"the Brevo import process {status}: {body.get('error') or 'no reason given'}"
            default, default_reason = RowOutcome.FAILED, reason
        else:
            default, default_reason = RowOutcome.UPSERTED, ""
        results = []
        for contact in contacts:
            verdict = verdicts.get(contact.email)
            if verdict is not None:
                results.append(RowResult(contact.email, RowOutcome(verdict[0]), verdict[1]))
            else:
                results.append(RowResult(contact.email, default, default_reason or None))
        return JobStatus(done=True, results=results)

    # ---- removal -------------------------------------------------------------------------------

    async def remove(self, contacts: Sequence[Contact]) -> BatchResult:
        """A contact that is not in the list (or not in Brevo) counts as removed.

        Raises CredentialRefused, TargetNotFound, RequestRejected, RetryableDestinationError."""
        policy = self.target.removal_policy
        if policy is RemovalPolicy.REMOVE_FROM_LIST:
            path = LIST_REMOVE.format(list_id=self._require_list())
            response = await self.http.send(
                "POST",
                path,
                content=orjson.dumps({"emails": [c.email for c in contacts]}),
            )
            if response.status_code != 400:  # 400: none of them was in the list — already the wanted state
                self.http.check(response, f"list {self.target.list_id!r}")
        else:

            async def one(contact: Contact) -> None:
                path = CONTACT.format(identifier=quote(contact.email, safe="@"))
                if policy is RemovalPolicy.DELETE:
                    response = await self.http.send("DELETE", path)
                else:
                    response = await self.http.send(
                        "PUT",
                        path,
                        content=orjson.dumps({"emailBlacklisted": True}),
                    )
                if response.status_code != 404:
                    self.http.check(response, f"contact {contact.email}")

            await asyncio.gather(*(one(c) for c in contacts))
        return BatchResult(results=[RowResult(c.email, RowOutcome.REMOVED) for c in contacts])
