"""SendGrid Marketing Campaigns ("new" contacts API, v3).

Facts (sources in ``constants.py``):
- upsert: ``PUT /v3/marketing/contacts`` with ``list_ids`` and up to 30,000 contacts or 6 MB, whichever
  is lower; 202 ``{"job_id"}``; the job is polled at ``GET /v3/marketing/contacts/imports/{id}``
  (``pending | completed | errored | failed``) and its per-contact errors are in the file at
  ``results.errors_url``.
- custom fields are keyed by their *id* (``w1``), so ``prepare()`` reads ``/v3/marketing/field_definitions``.
- removal from a list needs contact ids: ``POST /v3/marketing/contacts/search/emails`` (≤ 100 emails),
  then ``DELETE /v3/marketing/lists/{id}/contacts?contact_ids=...`` ("the contacts will not be deleted").
- SendGrid contacts carry no subscription status: unsubscribes, bounces and spam reports live in the
  account's suppression lists, which the upsert never touches. A contact on one of them is reported
  ``suppressed`` and not pushed at all, so the product never works against an unsubscribe.

Per-row truth: a job's rows named in its error file are ``rejected`` with SendGrid's reason; the others
are ``upserted`` only when the job's counts (created + updated) account for every one of them — whatever
the job's final status, so an ``errored`` job that stored most rows still reports them. When the error
file cannot be read or the counts do not add up, the undetermined rows are ``failed`` (sent again next run).

Removal policies: ``remove_from_list`` removes list membership only (contact and its data stay);
``unsubscribe`` adds the email to the global unsubscribe group (``POST /v3/asm/suppressions/global``)
and leaves list membership; ``delete`` deletes the contact from the whole account
(``DELETE /v3/marketing/contacts?ids=``).

Per-row truth for removals: ``unsubscribe`` answers 201 naming the addresses it added. Removal from the
list and deletion answer 202 with a ``job_id`` ("accepted and processing"; "Deletion jobs are processed
asynchronously") and SendGrid documents no status endpoint for either job, so the job is polled by
looking the contacts up again (``search/emails``): it is done once none of them is in the list any more
(or, for deletion, in SendGrid). Until then it runs; one that never gets there is given up by the await
phase, its rows ``failed`` and removed again by the next run — never reported ``removed`` on acceptance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

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
    email_column,
    emails_of,
    first_refusals,
    merge_verdicts,
)
from destinations.http import reset_header
from destinations.preflight import run_checks
from destinations.sendgrid.constants import (
    ASSUMED_RATE,
    BASE_URL,
    CONTACTS,
    ENVELOPE_BYTES,
    FIELD_DEFINITIONS,
    GLOBAL_UNSUBSCRIBE,
    IMPORTS,
    JOB_PENDING,
    LIST,
    LIST_CONTACTS,
    MAX_BODY_BYTES,
    MAX_CONTACTS,
    MAX_LENGTHS,
    RATE_RESET_HEADER,
    RESERVED,
    SCOPES,
    SEARCH_EMAILS,
    SEARCH_MAX_EMAILS,
    SUPPRESSION_LISTS,
    SUPPRESSION_PAGE,
    rate_bucket_of,
)
from shared.errors import FieldsMissing, RequestRejected

if TYPE_CHECKING:
    import pyarrow as pa

_RESET = reset_header(RATE_RESET_HEADER, epoch=True)


class SendGridDestination(Destination):
    """SendGrid adapter: asynchronous upserts (job polled later), list removal by contact id."""

    vendor: ClassVar[str] = "sendgrid"
    display_name: ClassVar[str] = "SendGrid"
    default_base_url: ClassVar[str] = BASE_URL
    reads_suppressions: ClassVar[bool] = True
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
        connection: str | None = None,
    ) -> None:
        super().__init__(client=client, credential=credential, target=target, base_url=base_url, connection=connection)
        self._field_ids: dict[str, str] | None = None
        self._custom = [a for a in target.mapped_attributes if a not in RESERVED]
        self._envelope_head = b'{"list_ids":' + orjson.dumps([target.list_id]) + b',"contacts":['

    def auth_headers(self, credential: Credential) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential.secret.get_secret_value()}"}

    @staticmethod
    def retry_after(response: httpx.Response) -> float | None:
        return _RESET(response)

    def rate_bucket(self, method: str, path: str) -> str:
        return rate_bucket_of(path)

    # ---- pre-flight and preparation ------------------------------------------------------------

    async def preflight(self) -> None:
        """Key works, list exists, mapped custom fields exist.

        The three reads run concurrently; when several fail, ``destinations.preflight.PRECEDENCE`` decides
        which error is reported (a refused key before a missing list before missing fields).

        Raises CredentialRefused, TargetNotFound, FieldsMissing, RetryableDestinationError.
        """
        await run_checks(
            self.http.call("GET", SCOPES),
            self.http.call("GET", LIST.format(list_id=self.target.list_id)),
            self._load_fields(),
        )

    async def prepare(self) -> None:
        """Read the custom-field ids (one request) before contacts are encoded; nothing once they are
        known (read by ``preflight``, an earlier ``prepare`` or ``restore_prepared``)."""
        await self._load_fields()

    def prepared_state(self) -> dict[str, Any]:
        """The custom-field ids ``prepare`` learnt (name → SendGrid id); {} before it ran."""
        return {} if self._field_ids is None else {"field_ids": dict(self._field_ids)}

    def restore_prepared(self, state: Mapping[str, Any]) -> None:
        """Take the field ids of ``prepared_state``. A state that does not name an id for every mapped
        custom field (another mapping, an empty state) is ignored: ``prepare`` then reads them."""
        ids = state.get("field_ids")
        if not isinstance(ids, Mapping) or any(not isinstance(ids.get(name), str) for name in self._custom):
            return
        self._field_ids = {name: str(ids[name]) for name in self._custom}

    async def _load_fields(self) -> None:
        if self._field_ids is not None:
            return
        body = self.http.json(await self.http.call("GET", FIELD_DEFINITIONS))
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
        window = {"start_time": int(since.timestamp())} if since is not None else {}

        async def read_list(path: str) -> list[str]:
            emails: list[str] = []
            offset = 0
            while True:
                params = {"limit": SUPPRESSION_PAGE, "offset": offset, **window}
                page = self.http.json(await self.http.call_retrying("GET", path, params=params))
                emails.extend(str(entry.get("email", "")).lower() for entry in page)
                if len(page) < SUPPRESSION_PAGE:
                    return emails
                offset += SUPPRESSION_PAGE

        # The three lists side by side (each paged in order): one round trip of latency, not three.
        # Merged in SUPPRESSION_LISTS order, so an address on several lists keeps the first list's reason.
        # Every reader runs to its end (none is left running when one fails); the first failure in list
        # order is raised, so the error a caller sees does not depend on which answer came first.
        pages = await asyncio.gather(*(read_list(path) for path in SUPPRESSION_LISTS), return_exceptions=True)
        for outcome in pages:
            if isinstance(outcome, BaseException):
                raise outcome
        suppressed: dict[str, str] = {}
        for emails, reason in zip(pages, SUPPRESSION_LISTS.values(), strict=True):
            assert isinstance(emails, list)  # nosec B101 - failures were raised above
            for email in emails:
                suppressed.setdefault(email, reason)
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

    def encode_batch(self, emails: pa.Array, attributes: Mapping[str, pa.Array]) -> pa.Array:
        """``encode_contact`` a column at a time (``destinations.sendgrid.encoding``). Raises as it."""
        from destinations.sendgrid import encoding  # imports pyarrow: only when encoding, not at import

        encoded = encoding.encode_batch(emails, attributes, self._field_ids)
        return super().encode_batch(emails, attributes) if encoded is None else encoded

    def size_bounds(self, emails: pa.Array, attributes: Mapping[str, pa.Array]) -> pa.Array | None:
        """Bounds of ``encode_batch``'s lengths without encoding (``destinations.sendgrid.encoding``)."""
        from destinations.sendgrid import encoding

        return encoding.size_bounds(emails, attributes, self._field_ids)

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Submit an import job for the batch.

        A 400 naming single contacts (``contacts[i].field``) rejects those rows and resubmits the rest
        once, so one bad value never costs a whole batch. Raises CredentialRefused, TargetNotFound,
        RequestRejected, RetryableDestinationError.
        """
        verdicts: dict[str, list[str]] = {}
        emails = emails_of(contacts)
        too_long = _too_long(contacts, self.target.mapped_attributes)
        send_idx = []
        for i, email in enumerate(emails):
            if i in too_long:
                verdicts[email] = [Outcome.REJECTED.value, too_long[i]]
            else:
                send_idx.append(i)
        for _ in range(2):
            if not send_idx:
                break
            body = self._envelope_head + b",".join(encoded[i] for i in send_idx) + b"]}"
            response = await self.http.send("PUT", CONTACTS, content=body)
            if response.status_code == 400:
                refused = _refused_rows(response, len(send_idx))
                if refused:
                    for position, message in refused.items():
                        email = emails[send_idx[position]]
                        verdicts[email] = [Outcome.REJECTED.value, self.scrub(message)]
                    send_idx = [i for k, i in enumerate(send_idx) if k not in refused]
                    continue
            self.http.check(response)
            return BatchResult(job={"job_id": self.http.json(response, "job_id"), "verdicts": verdicts})
        if send_idx:
            raise RequestRejected(
                "SendGrid refused the batch twice naming different contacts", vendor=self.vendor, status=400
            )
        return BatchResult(results=merge_verdicts(contacts, verdicts, Outcome.FAILED, "not sent"))

    async def poll(self, job: Mapping[str, Any], contacts: Sequence[Contact]) -> JobStatus:
        """Raises CredentialRefused, RetryableDestinationError."""
        if REMOVAL_JOB in job:
            return await self._poll_removal(job, contacts)
        verdicts: dict[str, Sequence[str]] = dict(job.get("verdicts", {}))
        job_id = str(job["job_id"])
        body = await self.read_job(IMPORTS.format(job_id=job_id))
        if body is None:
            return self.job_vanished(contacts, "import job", job_id, verdicts)
        status = str(body.get("status", ""))
        if status == JOB_PENDING or not status:
            return JobStatus(done=False)
        sent = [email for email in emails_of(contacts) if email not in verdicts]
        results = body.get("results") or {}
        errored = _count(results, "errored_count")
        named: dict[str, str] = {}
        unreadable: str | None = None
        if errored or status != "completed":
            url = results.get("errors_url")
            if url:
                named, unreadable = await self._job_errors(str(url), job_id)
            elif errored:
                unreadable = f"SendGrid import job {job_id} reported {errored} errors without an error file"
        sent_emails = set(sent)
        for email, message in named.items():
            if email in sent_emails:
                verdicts[email] = [Outcome.REJECTED.value, message]
        rest = [email for email in sent if email not in named]
        stored = _count(results, "created_count") + _count(results, "updated_count")
        if unreadable is not None:
            reason = f"{unreadable}; which rows SendGrid kept is unknown"
            return JobStatus(done=True, results=merge_verdicts(contacts, verdicts, Outcome.FAILED, reason))
        if rest and stored != len(rest):
            reason = (
                f"SendGrid import job {job_id} ended {status}; its counts (created + updated = {stored}, "
                f"errored = {errored}) do not confirm the {len(rest)} rows its error file does not name"
            )
            return JobStatus(done=True, results=merge_verdicts(contacts, verdicts, Outcome.FAILED, reason))
        return JobStatus(done=True, results=merge_verdicts(contacts, verdicts, Outcome.UPSERTED))

    async def _job_errors(self, url: str, job_id: str) -> tuple[dict[str, str], str | None]:
        """The job's error file (CSV with an email and an error column) as email → reason, or the reason
        it could not be read. It lives on a download host: no credential is sent."""
        what = f"the error file of SendGrid import job {job_id}"
        text, problem = await reports.download(self.client, url, what)
        if text is None:
            return {}, problem
        found, problem = reports.emails_in_csv(text, what)
        return {
            email: self.scrub(reason or "refused by SendGrid (no reason given)") for email, reason in found.items()
        }, problem

    # ---- removal -------------------------------------------------------------------------------

    async def _search(self, contacts: Sequence[Contact]) -> dict[str, Mapping[str, Any]]:
        """email → SendGrid's contact (``ContactDetails3``: ``id``, ``list_ids``, …) of those it knows."""
        emails = [c.email for c in contacts]
        if not emails:
            return {}
        response = await self.http.send("POST", SEARCH_EMAILS, content=orjson.dumps({"emails": emails}))
        if response.status_code == 404:
            return {}  # "404 when no contacts are found"
        self.http.check(response, "the contacts searched")
        found = self.http.json(response).get("result", {})
        return {email: entry["contact"] for email, entry in found.items() if "contact" in entry}

    def _to_remove(self, contact: Mapping[str, Any], policy: RemovalPolicy) -> bool:
        """Whether ``policy`` still has something to remove of ``contact`` (as SendGrid found it): any
        contact it knows, for deletion; one still in the list, for removal from the list."""
        return policy is RemovalPolicy.DELETE or self.target.list_id in (contact.get("list_ids") or [])

    async def _poll_removal(self, job: Mapping[str, Any], contacts: Sequence[Contact]) -> JobStatus:
        """A removal or deletion job is done once none of its contacts is still in the list (or, deleted,
        in SendGrid); the contacts SendGrid did not know when it was sent are in its verdicts already."""
        verdicts: dict[str, Sequence[str]] = dict(job.get("verdicts", {}))
        found = await self._search([c for c in contacts if c.email not in verdicts])
        policy = RemovalPolicy(job[REMOVAL_JOB])
        if any(self._to_remove(contact, policy) for contact in found.values()):
            return JobStatus(done=False)
        return JobStatus(done=True, results=merge_verdicts(contacts, verdicts, Outcome.REMOVED))

    async def remove(self, contacts: Sequence[Contact]) -> BatchResult:
        """Apply the export's removal policy. A contact SendGrid does not know (or, removing from the list,
        one not in it) counts as removed; the others are removed by a job, polled as ``_poll_removal`` says.

        Raises CredentialRefused, TargetNotFound, RequestRejected, RetryableDestinationError.
        """
        policy = self.target.removal_policy
        if policy is RemovalPolicy.UNSUBSCRIBE:
            await self.http.call(
                "POST", GLOBAL_UNSUBSCRIBE, content=orjson.dumps({"recipient_emails": [c.email for c in contacts]})
            )
        elif policy in (RemovalPolicy.REMOVE_FROM_LIST, RemovalPolicy.DELETE):
            found = await self._search(contacts)
            # A contact SendGrid does not know, or (removing from the list) not in the list, is removed already.
            ids = {email: str(contact["id"]) for email, contact in found.items() if self._to_remove(contact, policy)}
            if ids:
                joined = ",".join(ids.values())
                if policy is RemovalPolicy.DELETE:
                    response = await self.http.call("DELETE", CONTACTS, params={"ids": joined})
                else:
                    path = LIST_CONTACTS.format(list_id=self.target.list_id)
                    response = await self.http.call("DELETE", path, params={"contact_ids": joined})
                unknown = {c.email: [Outcome.REMOVED.value, ""] for c in contacts if c.email not in ids}
                job_id = str(self.http.json(response, "job_id"))
                return BatchResult(job={REMOVAL_JOB: policy.value, "job_id": job_id, "verdicts": unknown})
        else:
            raise RequestRejected(f"SendGrid has no {policy.value!r} removal", vendor=self.vendor)
        return BatchResult(results=[RowResult(c.email, Outcome.REMOVED) for c in contacts])


# Marks a removal or deletion job in the checkpoint (the policy it applied); import jobs have no such key.
REMOVAL_JOB = "removal"


def _count(results: Mapping[str, Any], name: str) -> int:
    value = results.get(name)
    return int(value) if isinstance(value, int | float) else 0


def _too_long(contacts: Sequence[Contact], mapped: Sequence[str] = ()) -> dict[int, str]:
    """Row → why SendGrid would refuse it for a value over its field's length (the email first, then
    the attributes in mapped order), checked a column at a time."""
    import numpy as np
    import pyarrow.compute as pc

    def over(column: Any, limit: int) -> Any:
        return np.flatnonzero(np.asarray(pc.greater(pc.utf8_length(column), limit), dtype=bool))

    checks: list[tuple[Any, str]] = [
        (over(email_column(contacts), MAX_LENGTHS["email"]), "the email is longer than SendGrid's 254 characters")
    ]
    for name, column in attribute_columns(contacts, mapped).items():
        field = RESERVED.get(name)
        limit = MAX_LENGTHS.get(field or "")
        if limit is not None:
            checks.append((over(column, limit), f"{name} is longer than SendGrid's {limit} characters for {field}"))
    return first_refusals(checks)


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
