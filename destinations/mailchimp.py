"""Mailchimp Marketing API 3.0.

Facts from ``docs/vendors.md`` §1 (official SDK ``mailchimp/mailchimp-marketing-python`` lists_api.py, the
Fern TypeScript SDK types, mailchimp.com/developer pages):
- upsert: ``POST /3.0/lists/{list_id}`` "batch subscribe" with ``members`` (≤ 500) and
  ``update_existing: true``; synchronous, answering ``new_members``, ``updated_members`` and ``errors``.
- ``status_if_new`` sets the status of *new* members only; ``status`` is never sent on upsert, so an
  existing member who unsubscribed (or was cleaned) keeps that status. Such members come back in
  ``updated_members`` with their status and are reported ``suppressed``.
- at most 10 concurrent connections per API key; no request rate is published; 120 s request timeout.
- auth: HTTP Basic with the API key as password, the data centre being the key's ``-usNN`` suffix; or an
  OAuth 2 token (``Authorization: Bearer``) whose data centre comes from the metadata endpoint.

Removal policies (what each does in Mailchimp):
- ``remove_from_list`` (default) and ``archive``: archive the member (``DELETE .../members/{subscriber_hash}``).
  Mailchimp's own name for "remove from audience": the member leaves the audience and stops counting
  towards the plan, its history is kept and the address can be added again later. A member that is not
  (or no longer) in the audience answers 404/405 and is reported ``removed`` (idempotent).
- ``unsubscribe``: batch subscribe with ``status: unsubscribed`` (500 per call). The member stays in the
  audience, marked unsubscribed — a consent change a later export never reverts. Caveat: an address that is
  not in the audience is *added* as unsubscribed (the batch endpoint has no "update only"); mirror mode only
  removes contacts it exported earlier, so that is rare.
- ``delete``: permanent delete (``POST .../members/{subscriber_hash}/actions/delete-permanent``, GDPR
  erasure). Irreversible, and Mailchimp then refuses to re-import the address through the API.

Address: Mailchimp's ADDRESS is an object (``addr1, addr2, city, state, zip, country``). The product's
``address`` string becomes ``addr1``; ``city``/``state``/``postal_code``/``country`` fill the other sub-keys
when ``address`` is mapped (plain merge tags CITY/STATE/ZIP/COUNTRY otherwise). An address missing one of
``addr1, city, state, zip`` is omitted rather than sent, because Mailchimp would refuse the whole member.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
import orjson

from destinations.base import (
    BatchResult,
    Contact,
    Credential,
    JobStatus,
    RemovalPolicy,
    RowOutcome,
    RowResult,
    Target,
    VendorLimits,
    compact_json,
)
from destinations.http import VendorHttp
from shared.errors import CredentialRefused, FieldsMissing

METADATA_URL = "https://login.mailchimp.com/oauth2/metadata"
API = "/3.0"
BATCH_MEMBERS = 500  # "Up to 500 members may be added or updated with each API call"
MAX_CONCURRENCY = 10  # "a limit of 10 concurrent connections for your API key"
REMOVE_BATCH = 50  # archive and permanent delete are one request per member; 50 members per pipeline batch

# Standard attributes → default merge tags ("FNAME, LNAME, ADDRESS and PHONE are present by default").
MERGE_TAGS = {"first_name": "FNAME", "last_name": "LNAME", "phone": "PHONE"}
# ADDRESS is an address-type merge field: these attributes become its sub-keys when ``address`` is mapped,
# and plain merge tags of these names otherwise.
ADDRESS_PARTS = {"city": "city", "state": "state", "postal_code": "zip", "country": "country"}
PLAIN_PART_TAGS = {"city": "CITY", "state": "STATE", "postal_code": "ZIP", "country": "COUNTRY"}
# Mailchimp refuses an address-type value that lacks any of these ("Please enter a complete address"; the exact
# required set is UNCONFIRMED from an official page, vendors.md §1.1). A lone street string is therefore never
# sent: an incomplete ADDRESS is left out so the member and its other fields still arrive, and the address
# Mailchimp already holds is kept instead of the whole member being refused.
ADDRESS_REQUIRED = ("addr1", "city", "state", "zip")
# Error texts that mean "compliance", never retried (vendors.md §1.4).
COMPLIANCE_MARKERS = ("compliance state", "unsubscribe", "cleaned", "permanently deleted", "bounce")
SUPPRESSED_STATUSES = {"unsubscribed", "cleaned"}


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


class MailchimpDestination:
    """Mailchimp adapter: synchronous batch subscribe, ≤ 10 connections in flight."""

    vendor: ClassVar[str] = "mailchimp"
    display_name: ClassVar[str] = "Mailchimp"
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
    ) -> None:
        self.client = client
        self.target = target
        secret = credential.secret.get_secret_value()
        self._oauth = credential.kind == "oauth_token"
        # Built once; the secret lives only in this header.
        if self._oauth:
            self._headers = {"Authorization": f"Bearer {secret}"}
        else:
            token = base64.b64encode(f"anystring:{secret}".encode()).decode()
            self._headers = {"Authorization": f"Basic {token}"}
        self._headers["Content-Type"] = "application/json"
        self._override = base_url.rstrip("/") if base_url else None
        dc = secret.rsplit("-", 1)[1] if not self._oauth and secret.count("-") == 1 else None
        self._base: str | None = self._override or (f"https://{dc}.api.mailchimp.com" if dc else None)
        self._tags = merge_tags_for(target.mapped_attributes)
        self._list_path = f"{API}/lists/{target.list_id}"
        self._envelope_head = b'{"update_existing":true,"members":['
        # Requests go to absolute URLs: the data centre may only be known after the OAuth metadata call.
        self.http = VendorHttp(
            client,
            base_url="",
            headers=self._headers,
            vendor=self.vendor,
            display_name=self.display_name,
            target=f"audience {target.list_id!r}",
        )

    # ---- plumbing ------------------------------------------------------------------------------

    def rate_bucket(self, method: str, path: str) -> str:
        return "default"

    async def _base_url(self) -> str:
        """The data centre's host. OAuth tokens carry none: the metadata endpoint names it."""
        if self._base is not None:
            return self._base
        if not self._oauth:
            raise CredentialRefused(
                "the Mailchimp API key has no data-centre suffix (like -us21): copy the whole key",
                vendor=self.vendor,
            )
        url = f"{self._override}/oauth2/metadata" if self._override else METADATA_URL
        response = await self.http.send("GET", url)
        self.http.check(response, "the OAuth metadata")
        self._base = str(response.json()["api_endpoint"]).rstrip("/")
        return self._base

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.send(
            method,
            await self._base_url() + path,
            **kwargs,
        )
        self.http.check(response)
        return response

    # ---- pre-flight ----------------------------------------------------------------------------

    async def preflight(self) -> None:
        """Raises CredentialRefused, TargetNotFound, FieldsMissing, RetryableDestinationError."""
        await self._call("GET", f"{API}/ping")
        await self._call("GET", self._list_path, params={"fields": "id,name"})
        body = (await self._call("GET", f"{self._list_path}/merge-fields", params={"count": 1000})).json()
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

    def encode_contact(self, contact: Contact) -> bytes:
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
        member: dict[str, Any] = {"email_address": contact.email, "status_if_new": self.target.new_contact_status}
        if merge:
            member["merge_fields"] = merge
        return compact_json(member)

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Raises CredentialRefused, TargetNotFound, RequestRejected, RetryableDestinationError."""
        body = self._envelope_head + b",".join(encoded) + b"]}"
        answer = (await self._call("POST", self._list_path, content=body)).json()
        return BatchResult(results=self._member_results(answer, contacts, RowOutcome.UPSERTED))

    def _member_results(
        self, answer: Mapping[str, Any], contacts: Sequence[Contact], ok: RowOutcome
    ) -> list[RowResult]:
        by_email: dict[str, RowResult] = {}
        for member in [*answer.get("new_members", []), *answer.get("updated_members", [])]:
            email = str(member.get("email_address", "")).lower()
            status = str(member.get("status", ""))
            if ok is RowOutcome.UPSERTED and status in SUPPRESSED_STATUSES:
                by_email[email] = RowResult(
                    email,
                    RowOutcome.SUPPRESSED,
                    f"{status} in Mailchimp; the status was kept and the contact is not sent again",
                    member.get("id"),
                )
            else:
                by_email[email] = RowResult(email, ok, None, member.get("id"))
        for error in answer.get("errors", []):
            email = str(error.get("email_address", "")).lower()
            message = str(error.get("error") or error.get("field_message") or "refused by Mailchimp")
            compliance = any(marker in message.lower() for marker in COMPLIANCE_MARKERS)
            by_email[email] = RowResult(email, RowOutcome.SUPPRESSED if compliance else RowOutcome.REJECTED, message)
        # Every contact gets one verdict; one Mailchimp left out of its answer is retried at the next run.
        return [
            by_email.get(c.email.lower())
            or RowResult(c.email, RowOutcome.FAILED, "Mailchimp did not report this contact in its answer")
            for c in contacts
        ]

    async def poll(self, job: Mapping[str, Any], contacts: Sequence[Contact]) -> JobStatus:
        """Mailchimp's batch subscribe is synchronous: there is never a job to poll."""
        return JobStatus(done=True, results=[])

    # ---- removal -------------------------------------------------------------------------------

    async def remove(self, contacts: Sequence[Contact]) -> BatchResult:
        """Raises CredentialRefused, TargetNotFound, RequestRejected, RetryableDestinationError."""
        policy = self.target.removal_policy
        if policy is RemovalPolicy.UNSUBSCRIBE:
            members = b",".join(orjson.dumps({"email_address": c.email, "status": "unsubscribed"}) for c in contacts)
            answer = (await self._call("POST", self._list_path, content=self._envelope_head + members + b"]}")).json()
            results = {r.email: r for r in self._member_results(answer, contacts, RowOutcome.REMOVED)}
            # "not a member" is already the state we want
            return BatchResult(
                results=[results.get(c.email) or RowResult(c.email, RowOutcome.REMOVED) for c in contacts]
            )

        async def one(contact: Contact) -> RowResult:
            member = f"{self._list_path}/members/{subscriber_hash(contact.email)}"
            if policy is RemovalPolicy.DELETE:
                response = await self.http.send(
                    "POST",
                    await self._base_url() + member + "/actions/delete-permanent",
                )
            else:
                response = await self.http.send(
                    "DELETE",
                    await self._base_url() + member,
                )
            if response.status_code in (404, 405):
                return RowResult(contact.email, RowOutcome.REMOVED)  # not (or no longer) in the audience
            self.http.check(response)
            return RowResult(contact.email, RowOutcome.REMOVED)

        # The paced client holds each request to the account's 10 connections.
        return BatchResult(results=list(await asyncio.gather(*(one(c) for c in contacts))))
