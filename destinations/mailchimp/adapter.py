"""Mailchimp Marketing API 3.0.

Facts (sources in ``constants.py``):
- upsert: ``POST /3.0/lists/{list_id}`` "batch subscribe" with ``members`` (≤ 500); synchronous,
  answering ``new_members``, ``updated_members`` and ``errors`` (``error_code`` ERROR_CONTACT_EXISTS or
  ERROR_GENERIC).
- at most 10 concurrent connections per API key; no request rate is published; 120 s request timeout.
- auth: HTTP Basic with the API key as password, the data centre being the key's ``-usNN`` suffix; or an
  OAuth 2 token (``Authorization: Bearer``) whose data centre comes from the metadata endpoint.

Never changing an existing member's status. Published references disagree on whether batch subscribe
accepts a member with ``status_if_new`` and no ``status`` (the Fern SDK types carry ``status_if_new``; the
schema of the batch member in Mailchimp's Swagger, "Add List Members", has ``status`` and no
``status_if_new``), so the stricter reading is taken and the upsert is built to be safe under every reading:
1. the batch is sent with ``update_existing: false`` — "whether this batch operation will change existing
   members' subscription status" — and every member carries ``status`` and ``status_if_new`` (the export's
   status for new contacts). New members are created with it; an existing member cannot change: Mailchimp
   refuses it with ERROR_CONTACT_EXISTS (or, under the lenient reading, updates its fields only).
2. the members refused with ERROR_CONTACT_EXISTS are sent again in one batch with ``update_existing: true``
   and no ``status`` (``status_if_new`` only): their merge fields are updated and their status is not
   touched, since none is given. The answer carries each member's status: unsubscribed or cleaned members
   are reported ``suppressed``.
3. should Mailchimp refuse a member of step 2 for lacking ``status``: if step 1 had just said it exists (the
   strictest reading), it is updated with ``PATCH .../members/{hash}`` carrying only its merge fields (status
   is optional there); if it was only known from an earlier export, it was deleted since, and is created
   again by step 1.
So an existing member's status is never sent at all, and no read of statuses can race with an unsubscribe.
Rows exported before carry the member's id (``Contact.vendor_id``) and go straight to step 2; members
unsubscribed or cleaned are read once per run (``load_suppressed``: ``GET .../members?status=``, changed
since the last run) and never sent. So a row is normally sent once; only an address that already existed
in the audience before its first export is sent twice (steps 1 and 2).

Per-member errors: compliance states (unsubscribed, bounced, cleaned, permanently deleted) → ``suppressed``;
an invalid merge field or a fake address → ``rejected`` with Mailchimp's words; "signed up to a lot of lists
very recently" → ``failed`` (retried next run); a member Mailchimp's answer does not mention → ``failed``.
A duplicated address in one batch is sent once.

Removal policies (what each does in Mailchimp):
- ``remove_from_list`` (default) and ``archive``: archive the member (``DELETE .../members/{subscriber_hash}``).
  The member leaves the audience and stops counting towards the plan; its history is kept and the address
  can be added again later. A member that is not (or no longer) in the audience answers 404/405 and is
  reported ``removed`` (idempotent).
- ``unsubscribe``: batch subscribe with ``status: unsubscribed`` (500 per call). The member stays in the
  audience, marked unsubscribed — a consent change a later export never reverts.
- ``delete``: permanent delete (``POST .../members/{subscriber_hash}/actions/delete-permanent``, GDPR
  erasure). Irreversible, and Mailchimp then refuses to re-import the address through the API.

Address: Mailchimp's ADDRESS is an object (``addr1, addr2, city, state, zip, country``). The product's
``address`` string becomes ``addr1``; ``city``/``state``/``postal_code``/``country`` fill the other sub-keys
when ``address`` is mapped (plain merge tags CITY/STATE/ZIP/COUNTRY otherwise).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import orjson

from destinations.base import (
    BatchResult,
    Contact,
    Credential,
    Destination,
    Outcome,
    RemovalPolicy,
    RowResult,
    Target,
    VendorLimits,
    compact_json,
    emails_of,
    vendor_ids_of,
)
from destinations.mailchimp.constants import (
    ADDRESS_PARTS,
    ADDRESS_REQUIRED,
    BATCH_MEMBERS,
    COMPLIANCE_MARKERS,
    DELETE_PERMANENT,
    ERROR_CONTACT_EXISTS,
    LIST,
    MAX_CONCURRENCY,
    MEMBER,
    MEMBERS,
    MEMBERS_PAGE,
    MERGE_FIELDS,
    MERGE_TAGS,
    METADATA_URL,
    PING,
    PLAIN_PART_TAGS,
    REMOVE_BATCH,
    SUPPRESSED_STATUSES,
    TEMPORARY_MARKERS,
)
from destinations.preflight import run_checks
from shared.errors import CredentialRefused, FieldsMissing

if TYPE_CHECKING:
    import pyarrow as pa

# Marks a step-2 member Mailchimp refused for lacking ``status``: it is updated by PATCH instead.
STATUS_REQUIRED = "Mailchimp requires a status for this member"


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address (not a security use)."""
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


def merge_tags_for(attributes: Sequence[str]) -> dict[str, str]:
    """attribute → the merge tag it needs in the audience."""
    tags: dict[str, str] = {}
    has_address = "address" in attributes
    for name in attributes:
        if name in MERGE_TAGS:
            tags[name] = MERGE_TAGS[name]
        elif name == "address" or (name in ADDRESS_PARTS and has_address):
            tags[name] = "ADDRESS"
        elif name in PLAIN_PART_TAGS:
            tags[name] = PLAIN_PART_TAGS[name]
        else:
            tags[name] = name  # a custom merge tag, as the vendor names it
    return tags


class MailchimpDestination(Destination):
    """Mailchimp adapter: synchronous batch subscribe, ≤ 10 connections in flight."""

    vendor: ClassVar[str] = "mailchimp"
    display_name: ClassVar[str] = "Mailchimp"
    target_noun: ClassVar[str] = "audience"
    reads_suppressions: ClassVar[bool] = True
    limits: ClassVar[VendorLimits] = VendorLimits(
        upsert_batch_items=BATCH_MEMBERS,
        remove_batch_items=REMOVE_BATCH,
        rate_limits={},  # none published: the concurrency limit is the only one
        max_concurrency=MAX_CONCURRENCY,
        upsert_batch_bytes=None,
        asynchronous=False,
    )
    removal_policies: ClassVar[frozenset[RemovalPolicy]] = frozenset(
        {RemovalPolicy.REMOVE_FROM_LIST, RemovalPolicy.ARCHIVE, RemovalPolicy.UNSUBSCRIBE, RemovalPolicy.DELETE}
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
        self._oauth = credential.kind == "oauth_token"
        # Requests go to absolute URLs: the data centre may only be known after the OAuth metadata call.
        super().__init__(client=client, credential=credential, target=target, base_url="", connection=connection)
        secret = credential.secret.get_secret_value()
        self._override = base_url.rstrip("/") if base_url else None
        dc = secret.rsplit("-", 1)[1] if not self._oauth and secret.count("-") == 1 else None
        self._base: str | None = self._override or (f"https://{dc}.api.mailchimp.com" if dc else None)
        self._tags = merge_tags_for(target.mapped_attributes)
        self._list_path = LIST.format(list_id=target.list_id)
        status = orjson.dumps(target.new_contact_status).decode()
        self._new_member_tail = f',"status":{status},"status_if_new":{status}'.encode()
        self._existing_member_tail = f',"status_if_new":{status}'.encode()
        self._create_head = b'{"update_existing":false,"members":['
        self._update_head = b'{"update_existing":true,"members":['

    def auth_headers(self, credential: Credential) -> dict[str, str]:
        secret = credential.secret.get_secret_value()
        if credential.kind == "oauth_token":
            return {"Authorization": f"Bearer {secret}"}
        return {"Authorization": "Basic " + base64.b64encode(f"anystring:{secret}".encode()).decode()}

    # ---- plumbing ------------------------------------------------------------------------------

    async def _base_url(self) -> str:
        """The data centre's host. OAuth tokens carry none: the metadata endpoint names it."""
        if self._base is not None:
            return self._base
        if not self._oauth:
            raise CredentialRefused(
                f"the Mailchimp API key of connection {self.connection!r} has no data-centre suffix (like -us21): "
                f"update the credential of connection {self.connection!r} with the whole key",
                vendor=self.vendor,
            )
        url = f"{self._override}/oauth2/metadata" if self._override else METADATA_URL
        response = await self.http.send("GET", url)
        self.http.check(response, "the OAuth metadata")
        self._base = str(self.http.json(response, "api_endpoint")).rstrip("/")
        return self._base

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.send(method, await self._base_url() + path, **kwargs)

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self._send(method, path, **kwargs)
        self.http.check(response)
        return response

    # ---- pre-flight ----------------------------------------------------------------------------

    async def preflight(self) -> None:
        """The data centre is found first (an OAuth token needs the metadata call, once); then the ping,
        the audience and its merge fields are read concurrently, and ``destinations.preflight.PRECEDENCE``
        decides which error is reported when several fail.

        Raises CredentialRefused, TargetNotFound, FieldsMissing, RetryableDestinationError."""
        await self._base_url()
        await run_checks(
            self._call("GET", PING),
            self._call("GET", self._list_path, params={"fields": "id,name"}),
            self._check_merge_fields(),
        )

    async def _check_merge_fields(self) -> None:
        path = MERGE_FIELDS.format(list_id=self.target.list_id)
        body = self.http.json(await self._call("GET", path, params={"count": 1000}))
        existing = {str(f.get("tag")) for f in body.get("merge_fields", [])}
        missing = sorted({tag for tag in self._tags.values() if tag not in existing})
        if missing:
            raise FieldsMissing(
                f"the merge field(s) {', '.join(missing)} do not exist in Mailchimp audience "
                f"{self.target.list_id!r}: create them under Audience > Settings > Audience fields and merge tags, "
                "or remove them from the export's field mapping",
                vendor=self.vendor,
                fields=missing,
            )

    # ---- upsert --------------------------------------------------------------------------------

    def _merge_fields(self, contact: Contact) -> dict[str, Any]:
        merge: dict[str, Any] = {}
        address: dict[str, str] = {}
        for name, value in contact.attributes.items():
            if not value:
                continue
            tag = self._tags.get(name, name)
            if tag == "ADDRESS":
                address["addr1" if name == "address" else ADDRESS_PARTS[name]] = value
            else:
                merge[tag] = value
        if address and all(address.get(key) for key in ADDRESS_REQUIRED):
            merge["ADDRESS"] = address
        return merge

    def encode_contact(self, contact: Contact) -> bytes:
        """The member without its status (added per call: see ``upsert``)."""
        member: dict[str, Any] = {"email_address": contact.email}
        merge = self._merge_fields(contact)
        if merge:
            member["merge_fields"] = merge
        return compact_json(member)

    def encode_batch(self, emails: pa.Array, attributes: Mapping[str, pa.Array]) -> pa.Array:
        """``encode_contact`` a column at a time (``destinations.mailchimp.encoding``). Raises as it."""
        from destinations.mailchimp import encoding  # imports pyarrow: only when encoding, not at import

        encoded = encoding.encode_batch(emails, attributes, self._tags)
        return super().encode_batch(emails, attributes) if encoded is None else encoded

    async def load_suppressed(self, since: datetime | None = None) -> dict[str, str]:
        """Members unsubscribed or cleaned (email → reason), 1,000 a page; with ``since`` only those changed
        after it (``since_last_changed``): earlier ones are remembered in the export's snapshot.

        Raises CredentialRefused, TargetNotFound, RetryableDestinationError."""
        path = MEMBERS.format(list_id=self.target.list_id)
        suppressed: dict[str, str] = {}
        for status in sorted(SUPPRESSED_STATUSES):
            offset = 0
            while True:
                params: dict[str, Any] = {
                    "status": status,
                    "count": MEMBERS_PAGE,
                    "offset": offset,
                    "fields": "members.email_address,members.status,total_items",
                }
                if since is not None:
                    params["since_last_changed"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
                page = self.http.json(await self._call("GET", path, params=params))
                members = page.get("members") or []
                for member in members:
                    email = str(member.get("email_address", "")).lower()
                    suppressed[email] = f"{status} in Mailchimp; the status was kept and the contact is not sent"
                offset += len(members)
                if len(members) < MEMBERS_PAGE or offset >= int(page.get("total_items") or 0):
                    break
        return suppressed

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Create new members, update existing ones without their status (module docstring).

        Raises CredentialRefused, TargetNotFound, RequestRejected, RetryableDestinationError."""
        first: dict[str, bytes] = {}
        known: set[str] = set()
        emails = emails_of(contacts)
        for email, vendor_id, body in zip(emails, vendor_ids_of(contacts), encoded, strict=True):
            # Mailchimp refuses a repeated address in one batch: send each address once.
            if email not in first:
                first[email] = body
                if vendor_id:
                    known.add(email)  # exported before: the member exists
        by_email: dict[str, RowResult] = {}
        refused_as_existing = await self._create([e for e in first if e not in known], first, by_email)
        if not (known or refused_as_existing):
            return BatchResult(results=self._one_per_contact(contacts, by_email))
        updates = [
            first[email][:-1] + self._existing_member_tail + b"}"
            for email in first
            if email in known | refused_as_existing
        ]
        answer = self.http.json(
            await self._call("POST", self._list_path, content=self._update_head + b",".join(updates) + b"]}")
        )
        updated, _ = self._member_results(answer, Outcome.UPSERTED)
        needs_status = {email for email, result in updated.items() if result.reason == STATUS_REQUIRED}
        by_email.update({email: r for email, r in updated.items() if email not in needs_status})
        # Refused for lacking a status: a member known from an earlier export may have been deleted since (it
        # is created again, with the export's status); one Mailchimp just said exists is updated by PATCH.
        gone = sorted(needs_status - refused_as_existing)
        to_patch = (needs_status & refused_as_existing) | await self._create(gone, first, by_email)
        if to_patch:
            wanted = {email: contacts[i] for i, email in enumerate(emails) if email in to_patch}
            patched = await asyncio.gather(*(self._update_existing(c) for c in wanted.values()))
            by_email.update({r.email: r for r in patched})
        return BatchResult(results=self._one_per_contact(contacts, by_email))

    async def _create(
        self, emails: Sequence[str], members: Mapping[str, bytes], into: dict[str, RowResult]
    ) -> set[str]:
        """Step 1 for ``emails``: create them with the export's status, without touching existing members.
        Verdicts go ``into``; returns the emails Mailchimp refused because they already exist."""
        if not emails:
            return set()
        create = [members[email][:-1] + self._new_member_tail + b"}" for email in emails]
        answer = self.http.json(
            await self._call("POST", self._list_path, content=self._create_head + b",".join(create) + b"]}")
        )
        created, existing = self._member_results(answer, Outcome.UPSERTED)
        into.update(created)
        return existing

    async def _update_existing(self, contact: Contact) -> RowResult:
        """PATCH an existing member's merge fields only; its status is never sent."""
        path = MEMBER.format(list_id=self.target.list_id, subscriber_hash=subscriber_hash(contact.email))
        body = {"merge_fields": self._merge_fields(contact)}
        response = await self._send("PATCH", path, content=orjson.dumps(body))
        if response.status_code in (400, 404, 405, 422):
            detail = self._problem_detail(response)
            if response.status_code == 400:
                return self._refusal(contact.email, detail, field=None)
            return RowResult(contact.email, Outcome.FAILED, f"Mailchimp could not update the existing member: {detail}")
        self.http.check(response)
        member = self.http.json(response)
        status = str(member.get("status", ""))
        if status in SUPPRESSED_STATUSES:
            return RowResult(
                contact.email,
                Outcome.SUPPRESSED,
                f"{status} in Mailchimp; the status was kept and the contact is not sent again",
                member.get("id"),
            )
        return RowResult(contact.email, Outcome.UPSERTED, None, member.get("id"))

    def _problem_detail(self, response: httpx.Response) -> str:
        try:
            body = response.json()
            text = str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")
        except (ValueError, AttributeError):
            text = f"HTTP {response.status_code}"
        return self.scrub(text)

    def _refusal(self, email: str, message: str, field: str | None) -> RowResult:
        lowered = message.lower()
        if any(marker in lowered for marker in TEMPORARY_MARKERS):
            return RowResult(email, Outcome.FAILED, message)
        if any(marker in lowered for marker in COMPLIANCE_MARKERS):
            return RowResult(email, Outcome.SUPPRESSED, message)
        return RowResult(email, Outcome.REJECTED, f"{field}: {message}" if field else message)

    def _member_results(self, answer: Mapping[str, Any], ok: Outcome) -> tuple[dict[str, RowResult], set[str]]:
        """Verdicts from a batch answer, and the members refused only because they already exist."""
        by_email: dict[str, RowResult] = {}
        existing: set[str] = set()
        for member in [*answer.get("new_members", []), *answer.get("updated_members", [])]:
            email = str(member.get("email_address", "")).lower()
            status = str(member.get("status", ""))
            if ok is Outcome.UPSERTED and status in SUPPRESSED_STATUSES:
                by_email[email] = RowResult(
                    email,
                    Outcome.SUPPRESSED,
                    f"{status} in Mailchimp; the status was kept and the contact is not sent again",
                    member.get("id"),
                )
            else:
                by_email[email] = RowResult(email, ok, None, member.get("id"))
        for error in answer.get("errors", []):
            email = str(error.get("email_address", "")).lower()
            if error.get("error_code") == ERROR_CONTACT_EXISTS and ok is Outcome.UPSERTED:
                existing.add(email)
                continue
            message = self.scrub(str(error.get("error") or error.get("field_message") or "refused by Mailchimp"))
            field = error.get("field") or None
            if field == "status" and ok is Outcome.UPSERTED:
                by_email[email] = RowResult(email, Outcome.FAILED, STATUS_REQUIRED)
                continue
            if field and error.get("field_message"):
                message = self.scrub(str(error["field_message"]))
            by_email[email] = self._refusal(email, message, str(field) if field else None)
        return by_email, existing

    @staticmethod
    def _one_per_contact(contacts: Sequence[Contact], by_email: Mapping[str, RowResult]) -> list[RowResult]:
        # Every contact gets one verdict; one Mailchimp left out of its answer is retried at the next run.
        return [
            by_email.get(email.lower())
            or RowResult(email, Outcome.FAILED, "Mailchimp did not report this contact in its answer")
            for email in emails_of(contacts)
        ]

    # ---- removal -------------------------------------------------------------------------------

    async def remove(self, contacts: Sequence[Contact]) -> BatchResult:
        """Raises CredentialRefused, TargetNotFound, RequestRejected, RetryableDestinationError."""
        policy = self.target.removal_policy
        if policy is RemovalPolicy.UNSUBSCRIBE:
            members = b",".join(orjson.dumps({"email_address": c.email, "status": "unsubscribed"}) for c in contacts)
            body = b'{"update_existing":true,"members":[' + members + b"]}"
            answer = self.http.json(await self._call("POST", self._list_path, content=body))
            results, _ = self._member_results(answer, Outcome.REMOVED)
            # "not a member" is already the state we want
            return BatchResult(results=[results.get(c.email) or RowResult(c.email, Outcome.REMOVED) for c in contacts])

        async def one(contact: Contact) -> RowResult:
            member = MEMBER.format(list_id=self.target.list_id, subscriber_hash=subscriber_hash(contact.email))
            if policy is RemovalPolicy.DELETE:
                response = await self._send(
                    "POST",
                    DELETE_PERMANENT.format(
                        list_id=self.target.list_id, subscriber_hash=subscriber_hash(contact.email)
                    ),
                )
            else:
                response = await self._send("DELETE", member)
            if response.status_code in (404, 405):
                return RowResult(contact.email, Outcome.REMOVED)  # not (or no longer) in the audience
            self.http.check(response)
            return RowResult(contact.email, Outcome.REMOVED)

        # The paced client holds each request to the account's 10 connections.
        return BatchResult(results=list(await asyncio.gather(*(one(c) for c in contacts))))
