"""Campaign Monitor (createsend API v3.3).

Facts from ``docs/vendors.md`` §5 (official SDK ``campaignmonitor/createsend-python`` v9.1.4 and its test
fixtures; the official error tables seen through a transcription):
- upsert: ``POST /api/v3.3/subscribers/{listid}/import.json``, at most 1,000 subscribers a call (code
  209 beyond), synchronous: 201 with a summary, or 400 with code 210 "Subscriber Import had some
  failures" and ``ResultData.FailureDetails[{EmailAddress, Code, Message}]``.
- ``Resubscribe: false`` so nobody who unsubscribed, bounced or was deleted is added back; such
  subscribers come back as failures (204 in suppression list, 205 deleted, 206 unsubscribed, 207
  bounced) and are reported ``suppressed``.
- one ``Name`` field (first and last name joined); everything else is a custom field by key; values at
  most 250 characters.
- auth: HTTP Basic with the API key as user name, or an OAuth ``Bearer`` token.
- no rate limit is published for subscriber endpoints (vendors.md §5.3). UNCONFIRMED: we assume at most
  10 requests in flight, the politeness Campaign Monitor's own integrations use, and honour any 429.

Removal policies (one request per subscriber — Campaign Monitor has no bulk removal):
``remove_from_list`` deletes the subscriber from the list (``DELETE /subscribers/{listid}.json``; Campaign
Monitor keeps them in a "deleted" state, and with ``Resubscribe: false`` a later export reports them
``suppressed`` rather than adding them back); ``unsubscribe`` unsubscribes them from the list.
"""

from __future__ import annotations

import asyncio
import base64
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
from destinations.http import VendorHttp, reset_header
from shared.errors import FieldsMissing, TargetNotFound

BASE_URL = "https://api.createsend.com"
API = "/api/v3.3"
IMPORT = API + "/subscribers/{list_id}/import.json"
SUBSCRIBER = API + "/subscribers/{list_id}.json"
UNSUBSCRIBE = API + "/subscribers/{list_id}/unsubscribe.json"
LIST = API + "/lists/{list_id}.json"
CUSTOM_FIELDS = API + "/lists/{list_id}/customfields.json"
SYSTEM_DATE = API + "/systemdate.json"

IMPORT_MAX = 1_000  # code 209: "You can only add 1000 subscribers in one call"
REMOVE_BATCH = 50  # one request per subscriber; 50 per pipeline batch
ASSUMED_CONCURRENCY = 10
MAX_VALUE = 250  # custom field values
INVALID_LIST_CODES = (101,)  # "Invalid ListID"
COMPLIANCE_CODES = {204: "in the suppression list", 205: "deleted", 206: "unsubscribed", 207: "bounced"}
NAME_PARTS = ("first_name", "last_name")
RETRY_AFTER = reset_header("x-ratelimit-reset", epoch=False)


def field_key(name: str) -> str:
    """Custom field keys appear as ``[Key]`` in list definitions; requests may use either form."""
    return name.strip("[]")


class CampaignMonitorDestination:
    """Campaign Monitor adapter: synchronous imports of up to 1,000 subscribers, Resubscribe off."""

    vendor: ClassVar[str] = "campaign_monitor"
    display_name: ClassVar[str] = "Campaign Monitor"
    limits: ClassVar[VendorLimits] = VendorLimits(
        upsert_batch_items=IMPORT_MAX,
        remove_batch_items=REMOVE_BATCH,
        rate_limits={},
        max_concurrency=ASSUMED_CONCURRENCY,
        asynchronous=False,
    )
    removal_policies: ClassVar[frozenset[RemovalPolicy]] = frozenset(
        {RemovalPolicy.REMOVE_FROM_LIST, RemovalPolicy.UNSUBSCRIBE}
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
        secret = credential.secret.get_secret_value()
        if credential.kind == "oauth_token":
            authorization = f"Bearer {secret}"
        else:
            authorization = "Basic " + base64.b64encode(f"{secret}:x".encode()).decode()
        self._headers = {"Authorization": authorization, "Content-Type": "application/json"}
        self.http = VendorHttp(
            client,
            base_url=self.base_url,
            headers=self._headers,
            vendor=self.vendor,
            display_name=self.display_name,
            target=f"list {target.list_id!r}",
            retry_after=RETRY_AFTER,
        )
        self._custom = [a for a in target.mapped_attributes if a not in NAME_PARTS]
        self._envelope_head = (
            b'{"Resubscribe":false,"QueueSubscriptionBasedAutoResponders":false,'
            b'"RestartSubscriptionBasedAutoresponders":false,"Subscribers":['
        )

    def rate_bucket(self, method: str, path: str) -> str:
        return "default"

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code == 400 and _code(response) in INVALID_LIST_CODES:
            raise TargetNotFound(
                f"list {self.target.list_id!r} does not exist in the Campaign Monitor account",
                vendor=self.vendor,
                status=400,
            )
        self.http.check(response, what)

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.send(method, path, **kwargs)
        self._check(response, f"list {self.target.list_id!r}")
        return response

    async def preflight(self) -> None:
        """Raises CredentialRefused, TargetNotFound, FieldsMissing, RetryableDestinationError."""
        await self._call("GET", SYSTEM_DATE)
        await self._call("GET", LIST.format(list_id=self.target.list_id))
        fields = (await self._call("GET", CUSTOM_FIELDS.format(list_id=self.target.list_id))).json()
        known = {field_key(str(f.get("Key", ""))).lower() for f in fields}
        missing = sorted(name for name in self._custom if field_key(name).lower() not in known)
        if missing:
            raise FieldsMissing(
                f"the custom field(s) {', '.join(missing)} do not exist in Campaign Monitor list "
                f"{self.target.list_id!r}: create them under the list's Custom fields, or remove them from the "
                "export's field mapping",
                vendor=self.vendor,
                fields=missing,
            )

    def encode_contact(self, contact: Contact) -> bytes:
        attributes = contact.attributes
        name = " ".join(attributes[p] for p in NAME_PARTS if attributes.get(p))
        subscriber: dict[str, Any] = {"EmailAddress": contact.email, "Name": name, "ConsentToTrack": "Unchanged"}
        custom = [{"Key": field_key(k), "Value": v} for k, v in attributes.items() if v and k not in NAME_PARTS]
        if custom:
            subscriber["CustomFields"] = custom
        return compact_json(subscriber)

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Raises CredentialRefused, TargetNotFound, RequestRejected, RetryableDestinationError."""
        verdicts: dict[str, RowResult] = {}
        chosen = []
        for contact, body in zip(contacts, encoded, strict=True):
            long = next((k for k, v in contact.attributes.items() if len(v) > MAX_VALUE), None)
            if long is not None:
                verdicts[contact.email] = RowResult(
                    contact.email,
                    RowOutcome.REJECTED,
                    f"{long} is longer than Campaign Monitor's {MAX_VALUE} characters",
                )
            else:
                chosen.append(body)
        if chosen:
            path = IMPORT.format(list_id=self.target.list_id)
            response = await self.http.send(
                "POST",
                path,
                content=self._envelope_head + b",".join(chosen) + b"]}",
            )
            if not (response.status_code == 400 and _code(response) == 210):
                self._check(response, f"list {self.target.list_id!r}")
            body = response.json() if response.content else {}
            details = (body.get("ResultData") or body).get("FailureDetails") or []
            for failure in details:
                email = str(failure.get("EmailAddress", "")).lower()
                code = int(failure.get("Code") or 0)
                message = str(failure.get("Message") or f"code {code}")
                if code in COMPLIANCE_CODES:
                    verdicts[email] = RowResult(
                        email, RowOutcome.SUPPRESSED, f"{COMPLIANCE_CODES[code]} in Campaign Monitor ({message})"
                    )
                else:
                    verdicts[email] = RowResult(email, RowOutcome.REJECTED, message)
        return BatchResult(results=[verdicts.get(c.email) or RowResult(c.email, RowOutcome.UPSERTED) for c in contacts])

    async def poll(self, job: Mapping[str, Any], contacts: Sequence[Contact]) -> JobStatus:
        """Imports are synchronous: there is never a job to poll."""
        return JobStatus(done=True, results=[])

    async def remove(self, contacts: Sequence[Contact]) -> BatchResult:
        """One request per subscriber; a subscriber not in the list counts as removed.

        Raises CredentialRefused, TargetNotFound, RequestRejected, RetryableDestinationError."""
        unsubscribe = self.target.removal_policy is RemovalPolicy.UNSUBSCRIBE

        async def one(contact: Contact) -> RowResult:
            if unsubscribe:
                response = await self.http.send(
                    "POST",
                    UNSUBSCRIBE.format(list_id=self.target.list_id),
                    content=orjson.dumps({"EmailAddress": contact.email}),
                )
            else:
                response = await self.http.send(
                    "DELETE",
                    SUBSCRIBER.format(list_id=self.target.list_id),
                    params={"email": contact.email},
                )
            if response.status_code == 400 and _code(response) == 203:  # "Subscriber not in list"
                return RowResult(contact.email, RowOutcome.REMOVED)
            self._check(response, f"list {self.target.list_id!r}")
            return RowResult(contact.email, RowOutcome.REMOVED)

        return BatchResult(results=list(await asyncio.gather(*(one(c) for c in contacts))))


def _code(response: httpx.Response) -> int | None:
    try:
        value = response.json().get("Code")
    except (ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None
