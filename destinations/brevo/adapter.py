"""Brevo (ex-Sendinblue) API v3.

Facts (sources in ``constants.py``):
- upsert: ``POST /v3/contacts/import`` with ``jsonBody`` ``[{email, attributes}]``, ``listIds``,
  ``updateExistingContacts``; JSON body at most 10 MB, "a safe limit of around 8 MB" recommended; no item
  cap. Asynchronous: 202 ``{"processId"}``, polled at ``GET /v3/processes/{id}`` until it ends.
- The import never sends ``emailBlacklist``, so blocklist flags stay as they are: a blocklisted contact is
  never re-subscribed. Blocklisted members of the list are read once per run (``load_suppressed``) and
  those rows are reported ``suppressed`` without being sent.
- rate limits (General tier): everything under ``/v3/contacts`` 10 requests/s and 36,000/hour; all other
  endpoints (``/v3/processes`` included) 100/hour. 429 carries ``x-sib-ratelimit-reset`` (seconds).
- auth: ``api-key`` header.

Per-row truth: a completed import's report files (``info.import``: one CSV per kind of problem) name the
rows Brevo did not import; those are ``rejected`` with the report's reason and the others ``upserted``. A
report that cannot be downloaded or read, a count given without a file, or a process that ``failed`` or was
``cancelled`` leaves the unnamed rows undetermined: ``failed``, sent again at the next run.

Removal policies: ``remove_from_list`` unlinks the contacts from the list (``.../contacts/remove``, ≤ 150
emails a call; the contact and its attributes stay); ``unsubscribe`` blocklists the contact for email
(``PUT /v3/contacts/{email}`` ``emailBlacklisted: true``); ``delete`` deletes the contact from the account.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import httpx
import orjson

from destinations import reports
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
    attribute_columns,
    compact_json,
    emails_of,
    first_refusals,
    merge_verdicts,
)
from destinations.brevo.constants import (
    ATTRIBUTES,
    BASE_URL,
    COMPLETED,
    CONTACT,
    CONTACTS,
    CONTACTS_LIMITS,
    CONTACTS_PAGE,
    ENDED_BADLY,
    IMPORT,
    IMPORT_REPORTS,
    LIST,
    LIST_EDIT_MAX,
    LIST_REMOVE,
    OTHER_LIMITS,
    PROCESS,
    RATE_RESET_HEADER,
    RUNNING,
    SAFE_BODY_BYTES,
    attribute_name,
)
from destinations.http import reset_header
from destinations.preflight import run_checks
from shared.errors import FieldsMissing, TargetNotFound

if TYPE_CHECKING:
    import pyarrow as pa

_RESET = reset_header(RATE_RESET_HEADER, epoch=False)


# Page reads of list members in flight at once. The pacer keeps them to Brevo's 10 requests a second;
# at ~0.5 s a request that rate needs 5 in flight (4 reached only 8 a second: a 944-page read took 127 s
# where 94 s are the least), and 8 leave room for slower answers.
PAGE_READERS = 8


class BrevoDestination(Destination):
    """Brevo adapter: asynchronous JSON imports into a list, paced per Brevo's two rate buckets."""

    vendor: ClassVar[str] = "brevo"
    display_name: ClassVar[str] = "Brevo"
    default_base_url: ClassVar[str] = BASE_URL
    reads_suppressions: ClassVar[bool] = True
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
        connection: str | None = None,
    ) -> None:
        super().__init__(client=client, credential=credential, target=target, base_url=base_url, connection=connection)
        self._attributes = {a: attribute_name(a) for a in target.mapped_attributes}
        self._types: dict[str, str] | None = None
        self._list_id: int | None = int(target.list_id) if target.list_id.isdigit() else None
        head = {
            "listIds": [self._list_id or 0],
            "updateExistingContacts": True,
            "emptyContactsAttributes": False,
            "disableNotification": True,
        }
        self._envelope_head = orjson.dumps(head)[:-1] + b',"jsonBody":['

    def auth_headers(self, credential: Credential) -> dict[str, str]:
        return {"api-key": credential.secret.get_secret_value()}

    @staticmethod
    def retry_after(response: httpx.Response) -> float | None:
        return _RESET(response)

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
        the 100/hour one). Both reads run concurrently; ``destinations.preflight.PRECEDENCE`` decides which
        error is reported when both fail. Raises CredentialRefused, TargetNotFound, FieldsMissing,
        RetryableDestinationError."""
        await run_checks(self.http.call("GET", LIST.format(list_id=self._require_list())), self._load_types())

    async def _load_types(self) -> dict[str, str]:
        if self._types is None:
            body = self.http.json(await self.http.call("GET", ATTRIBUTES))
            known = {str(a.get("name", "")).upper(): str(a.get("type", "text")) for a in body.get("attributes", [])}
            missing = sorted({name for name in self._attributes.values() if name not in known})
            if missing:
                # Brevo's import silently ignores an attribute the account lacks: refuse the mapping instead.
                raise FieldsMissing(
                    f"the contact attribute(s) {', '.join(missing)} do not exist in the Brevo account: create them "
                    "under Contacts > Settings > Contact attributes, or remove them from the export's field mapping",
                    vendor=self.vendor,
                    fields=missing,
                )
            self._types = {a: known[name] for a, name in self._attributes.items()}
        return self._types

    async def prepare(self) -> None:
        """Attribute types, to refuse values Brevo would silently drop; nothing once they are known (read
        by ``preflight``, an earlier ``prepare`` or ``restore_prepared``)."""
        await self._load_types()

    def prepared_state(self) -> dict[str, Any]:
        """The attribute types ``prepare`` learnt (mapped attribute → Brevo type); {} before it ran."""
        return {} if self._types is None else {"attribute_types": dict(self._types)}

    def restore_prepared(self, state: Mapping[str, Any]) -> None:
        """Take the types of ``prepared_state``. A state that does not give a type for every mapped
        attribute (another mapping, an empty state) is ignored: ``prepare`` then reads them."""
        types = state.get("attribute_types")
        if not isinstance(types, Mapping) or any(not isinstance(types.get(name), str) for name in self._attributes):
            return
        self._types = {name: str(types[name]) for name in self._attributes}

    async def load_suppressed(self, since: datetime | None = None) -> dict[str, str]:
        """Blocklisted members of the list. One request per 1,000 members (contacts bucket); with ``since``
        (the last committed run) only members modified after it — a 1M list otherwise costs 1,000 requests
        per refresh, and contacts found earlier are already remembered in the snapshot.

        Raises CredentialRefused, TargetNotFound, RetryableDestinationError."""
        blocklisted: dict[str, str] = {}
        params: dict[str, Any] = {"listIds": self._require_list(), "limit": CONTACTS_PAGE}
        if since is not None:
            params["modifiedSince"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

        readers = asyncio.Semaphore(PAGE_READERS)

        async def page(offset: int) -> list[dict[str, Any]]:
            async with readers:
                body = self.http.json(
                    await self.http.call_retrying("GET", CONTACTS, params={**params, "offset": offset})
                )
            contacts = body.get("contacts", [])
            for contact in contacts:
                if contact.get("emailBlacklisted"):
                    blocklisted[str(contact.get("email", "")).lower()] = "blocklisted in Brevo; the flag was kept"
            counts.append(int(body.get("count", 0)))
            return contacts if isinstance(contacts, list) else []

        counts: list[int] = []
        first = await page(0)
        offset = len(first)
        if len(first) == CONTACTS_PAGE and offset < counts[-1]:
            # The first page says how many there are; the others are read a few at a time (offset paging)
            # rather than one latency after another. A few, not all: hundreds of requests released by the
            # pacer together arrive jittered, and Brevo counts arrivals — it answered 993 of 944 page reads
            # with 429 when they were all in flight at once.
            offsets = list(range(CONTACTS_PAGE, counts[-1], CONTACTS_PAGE))
            pages = await asyncio.gather(*(page(o) for o in offsets))
            offset, last = offsets[-1] + len(pages[-1]), pages[-1]
            while len(last) == CONTACTS_PAGE and offset < max(counts):  # members added while reading
                last = await page(offset)
                offset += len(last)
        return blocklisted

    # ---- upsert --------------------------------------------------------------------------------

    def encode_contact(self, contact: Contact) -> bytes:
        attributes = {self._attributes.get(k, attribute_name(k)): v for k, v in contact.attributes.items() if v}
        item: dict[str, Any] = {"email": contact.email}
        if attributes:
            item["attributes"] = attributes
        return compact_json(item)

    def encode_batch(self, emails: pa.Array, attributes: Mapping[str, pa.Array]) -> pa.Array:
        """``encode_contact`` a column at a time (``destinations.brevo.encoding``)."""
        from destinations.brevo import encoding  # imports pyarrow: only when encoding, not at import

        encoded = encoding.encode_batch(emails, attributes, self._attributes)
        return super().encode_batch(emails, attributes) if encoded is None else encoded

    def _refusals(self, contacts: Sequence[Contact]) -> dict[int, str]:
        """Row → why: Brevo silently drops a value of the wrong type; refusing it here says why. Only the
        columns of number and boolean attributes are looked at, value by value (Python's own ``float``
        decides what a number is)."""
        import numpy as np

        checks: list[tuple[Any, Any]] = []
        for name, column in attribute_columns(contacts, self.target.mapped_attributes).items():
            kind = (self._types or {}).get(name)
            if kind not in ("float", "boolean"):
                continue
            values = column.to_pylist()
            wrong = np.flatnonzero([bool(v) and not _fits(kind, v) for v in values])
            expects = "a number" if kind == "float" else "true or false"
            label = attribute_name(name)
            checks.append((wrong, functools.partial(_wrong_type, label, expects, values)))
        return first_refusals(checks)

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Submit one import process. Raises CredentialRefused, TargetNotFound, RequestRejected,
        RetryableDestinationError."""
        self._require_list()
        verdicts: dict[str, list[str]] = {}
        chosen: list[bytes] = []
        refused = self._refusals(contacts)
        for i, (email, body) in enumerate(zip(emails_of(contacts), encoded, strict=True)):
            if i in refused:
                verdicts[email] = [Outcome.REJECTED.value, refused[i]]
            else:
                chosen.append(body)
        if not chosen:
            return BatchResult(results=merge_verdicts(contacts, verdicts, Outcome.FAILED, "not sent"))
        response = await self.http.call("POST", IMPORT, content=self._envelope_head + b",".join(chosen) + b"]}")
        return BatchResult(job={"process_id": self.http.json(response, "processId"), "verdicts": verdicts})

    async def poll(self, job: Mapping[str, Any], contacts: Sequence[Contact]) -> JobStatus:
        """Raises CredentialRefused, RetryableDestinationError."""
        process_id = job["process_id"]
        verdicts: dict[str, Sequence[str]] = dict(job.get("verdicts", {}))
        body = await self.read_job(PROCESS.format(process_id=process_id))
        if body is None:
            return self.job_vanished(contacts, "import process", process_id, verdicts)
        status = str(body.get("status", ""))
        if status in RUNNING or not status:
            return JobStatus(done=False)
        sent = {email for email in emails_of(contacts) if email not in verdicts}
        named, unreadable = await self._reports(body.get("info"), process_id)
        for email, reason in named.items():
            if email in sent:
                verdicts[email] = [Outcome.REJECTED.value, reason]
        if status in ENDED_BADLY:
            error = self.scrub(str(body.get("error") or "no reason given"))
            reason = f"Brevo import process {process_id} {status} ({error}); which rows it imported is unknown"
            return JobStatus(done=True, results=merge_verdicts(contacts, verdicts, Outcome.FAILED, reason))
        if status != COMPLETED:
            reason = f"Brevo import process {process_id} ended in an unknown state {status!r}"
            return JobStatus(done=True, results=merge_verdicts(contacts, verdicts, Outcome.FAILED, reason))
        if unreadable:
            reason = f"{'; '.join(unreadable)}; which rows Brevo imported is unknown"
            return JobStatus(done=True, results=merge_verdicts(contacts, verdicts, Outcome.FAILED, reason))
        return JobStatus(done=True, results=merge_verdicts(contacts, verdicts, Outcome.UPSERTED))

    async def _reports(self, info: Any, process_id: object) -> tuple[dict[str, str], list[str]]:
        """Rows named by the process's import reports (email → reason), and what could not be read."""
        named: dict[str, str] = {}
        unreadable: list[str] = []
        found = (info or {}).get("import") if isinstance(info, dict) else None
        for key, value in (found or {}).items():
            reason = IMPORT_REPORTS.get(key, f"Brevo reported the row in {key}")
            if isinstance(value, str) and value.startswith(("http://", "https://")):
                what = f"the {key} report of Brevo import process {process_id}"
                text, problem = await reports.download(self.client, value, what)
                rows, problem = reports.emails_in_csv(text, what) if text is not None else ({}, problem)
                if problem is not None:
                    unreadable.append(problem)
                for email, detail in rows.items():
                    named.setdefault(email, self.scrub(f"{reason}: {detail}" if detail else reason))
            elif isinstance(value, int | float) and value > 0:
                unreadable.append(f"Brevo import process {process_id} counted {value:g} {key} without naming them")
        return named, unreadable

    # ---- removal -------------------------------------------------------------------------------

    async def remove(self, contacts: Sequence[Contact]) -> BatchResult:
        """A contact that is not in the list (or not in Brevo) counts as removed.

        Raises CredentialRefused, TargetNotFound, RequestRejected, RetryableDestinationError."""
        policy = self.target.removal_policy
        if policy is RemovalPolicy.REMOVE_FROM_LIST:
            path = LIST_REMOVE.format(list_id=self._require_list())
            response = await self.http.send("POST", path, content=orjson.dumps({"emails": [c.email for c in contacts]}))
            if response.status_code != 400:  # 400: none of them was in the list — already the wanted state
                self.http.check(response)
        else:

            async def one(contact: Contact) -> None:
                path = CONTACT.format(identifier=quote(contact.email, safe="@"))
                if policy is RemovalPolicy.DELETE:
                    response = await self.http.send("DELETE", path)
                else:
                    response = await self.http.send("PUT", path, content=orjson.dumps({"emailBlacklisted": True}))
                if response.status_code != 404:
                    self.http.check(response, f"contact {contact.email}")

            await asyncio.gather(*(one(c) for c in contacts))
        return BatchResult(results=[RowResult(c.email, Outcome.REMOVED) for c in contacts])


def _fits(kind: str, value: str) -> bool:
    """Whether a non-empty ``value`` is one Brevo keeps for an attribute of type ``kind``."""
    if kind == "float":
        try:
            float(value)
        except ValueError:
            return False
        return True
    return value.lower() in ("true", "false", "1", "0", "yes", "no")


def _wrong_type(label: str, expects: str, values: list[str], row: int) -> str:
    return f"attribute {label} expects {expects}, got {values[row][:40]!r}"
