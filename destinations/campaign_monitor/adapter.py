"""Campaign Monitor (createsend API v3.3).

Facts (sources in ``constants.py``):
- upsert: ``POST /api/v3.3/subscribers/{listid}/import.json``, at most 1,000 subscribers a call (code
  209 beyond), synchronous: 201 with a summary, or 400 with code 210 "Subscriber Import had some
  failures" and ``ResultData.FailureDetails[{EmailAddress, Code, Message}]``.
- ``Resubscribe: false`` so nobody who unsubscribed, bounced or was deleted is added back; such
  subscribers come back as failures (204 in suppression list, 205 deleted, 206 unsubscribed, 207
  bounced) and are reported ``suppressed``.
- one ``Name`` field (first and last name joined); everything else is a custom field by key; values at
  most 250 characters.
- auth: HTTP Basic with the API key as user name, or an OAuth ``Bearer`` token.

Per-row truth: failures are named per subscriber; the others are ``upserted`` only when the summary's
counts (new + existing + failures = subscribers sent) confirm that every one of them was kept. A subscriber
Campaign Monitor drops without naming it (a custom field the list lacks, for one: pre-flight refuses such a
mapping) makes the counts fall short, and the unnamed rows are then ``failed`` (sent again next run).

Removal policies (one request per subscriber — Campaign Monitor has no bulk removal):
``remove_from_list`` deletes the subscriber from the list (``DELETE /subscribers/{listid}.json``; Campaign
Monitor keeps them in a "deleted" state, and with ``Resubscribe: false`` a later export reports them
``suppressed`` rather than adding them back); ``unsubscribe`` unsubscribes them from the list.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping, Sequence
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
    attribute_columns,
    compact_json,
    emails_of,
    first_refusals,
)
from destinations.campaign_monitor.constants import (
    ASSUMED_CONCURRENCY,
    BASE_URL,
    COMPLIANCE_CODES,
    CUSTOM_FIELDS,
    IMPORT,
    IMPORT_MAX,
    INVALID_LIST_CODES,
    LIST,
    MAX_VALUE,
    NAME_PARTS,
    NOT_IN_LIST,
    PARTIAL_IMPORT,
    RATE_RESET_HEADER,
    REMOVE_BATCH,
    SUBSCRIBER,
    SYSTEM_DATE,
    UNSUBSCRIBE,
    field_key,
)
from destinations.http import reset_header
from destinations.preflight import run_checks
from shared.errors import FieldsMissing, TargetNotFound, VendorUnavailable

if TYPE_CHECKING:
    import pyarrow as pa

_RESET = reset_header(RATE_RESET_HEADER, epoch=False)
# How long (wall-clock seconds: what it guards against is a person deleting a field, not the vendor's
# processing, so it is not scaled with vendor time in simulations) a found field is trusted without asking
# again: the activities that start with the run share pre-flight's check. Any check leaves a field deleted
# during an activity undetected (the vendor says nothing); this adds at most a minute before its start.
FIELDS_CHECK_FRESH_SECONDS = 60.0


class CampaignMonitorDestination(Destination):
    """Campaign Monitor adapter: synchronous imports of up to 1,000 subscribers, Resubscribe off."""

    vendor: ClassVar[str] = "campaign_monitor"
    display_name: ClassVar[str] = "Campaign Monitor"
    default_base_url: ClassVar[str] = BASE_URL
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
        connection: str | None = None,
    ) -> None:
        super().__init__(client=client, credential=credential, target=target, base_url=base_url, connection=connection)
        self._custom = [a for a in target.mapped_attributes if a not in NAME_PARTS]
        self._fields_checked_at: float | None = None  # when the mapped fields were last found (epoch seconds)
        self._envelope_head = (
            b'{"Resubscribe":false,"QueueSubscriptionBasedAutoResponders":false,'
            b'"RestartSubscriptionBasedAutoresponders":false,"Subscribers":['
        )

    def auth_headers(self, credential: Credential) -> dict[str, str]:
        secret = credential.secret.get_secret_value()
        if credential.kind == "oauth_token":
            return {"Authorization": f"Bearer {secret}"}
        return {"Authorization": "Basic " + base64.b64encode(f"{secret}:x".encode()).decode()}

    @staticmethod
    def retry_after(response: httpx.Response) -> float | None:
        return _RESET(response)

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 400 and _code(response) in INVALID_LIST_CODES:
            raise TargetNotFound(
                f"list {self.target.list_id!r} does not exist in the Campaign Monitor account",
                vendor=self.vendor,
                status=400,
            )
        self.http.check(response)

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.send(method, path, **kwargs)
        self._check(response)
        return response

    async def preflight(self) -> None:
        """The three reads run concurrently; ``destinations.preflight.PRECEDENCE`` decides which error is
        reported when several fail. Raises CredentialRefused, TargetNotFound, FieldsMissing,
        RetryableDestinationError."""
        await run_checks(
            self._call("GET", SYSTEM_DATE),
            self._call("GET", LIST.format(list_id=self.target.list_id)),
            self._check_fields(),
        )

    async def prepare(self) -> None:
        """The mapped custom fields are checked again (one request) unless the last check is less than
        ``FIELDS_CHECK_FRESH_SECONDS`` old: Campaign Monitor imports a subscriber whose field the list lacks
        and drops the value without a word, so a field deleted after pre-flight would lose data while every
        row reads ``upserted``. The activities that start with the run (cut, the first apply units) share
        pre-flight's check; one that starts later (an apply continued after its time budget) checks again.

        Raises FieldsMissing, CredentialRefused, TargetNotFound, RetryableDestinationError."""
        if self._custom and not self._fields_fresh():
            await self._check_fields()

    def _fields_fresh(self) -> bool:
        checked = self._fields_checked_at
        return checked is not None and time.time() - checked < FIELDS_CHECK_FRESH_SECONDS

    def prepared_state(self) -> dict[str, Any]:
        """When the fields were last found (epoch seconds): ``prepare`` learns nothing encoding uses."""
        return {} if self._fields_checked_at is None else {"fields_checked_at": self._fields_checked_at}

    def restore_prepared(self, state: Mapping[str, Any]) -> None:
        checked = state.get("fields_checked_at")
        if isinstance(checked, int | float) and not isinstance(checked, bool):
            self._fields_checked_at = float(checked)

    async def _check_fields(self) -> None:
        asked = time.time()  # the answer holds from some moment after this: its age is counted from here
        fields = self.http.json(await self._call("GET", CUSTOM_FIELDS.format(list_id=self.target.list_id)))
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
        self._fields_checked_at = asked

    def encode_contact(self, contact: Contact) -> bytes:
        attributes = contact.attributes
        name = " ".join(attributes[p] for p in NAME_PARTS if attributes.get(p))
        subscriber: dict[str, Any] = {"EmailAddress": contact.email, "Name": name, "ConsentToTrack": "Unchanged"}
        custom = [{"Key": field_key(k), "Value": v} for k, v in attributes.items() if v and k not in NAME_PARTS]
        if custom:
            subscriber["CustomFields"] = custom
        return compact_json(subscriber)

    def encode_batch(self, emails: pa.Array, attributes: Mapping[str, pa.Array]) -> pa.Array:
        """``encode_contact`` a column at a time (``destinations.campaign_monitor.encoding``)."""
        from destinations.campaign_monitor import encoding  # imports pyarrow: only when encoding

        return encoding.encode_batch(emails, attributes)

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Raises CredentialRefused, TargetNotFound, RequestRejected, RetryableDestinationError."""
        verdicts: dict[str, RowResult] = {}
        chosen: list[bytes] = []
        sent: list[str] = []
        emails = emails_of(contacts)
        too_long = _too_long(contacts, self.target.mapped_attributes)
        seen: set[str] = set()
        for i, (email, body) in enumerate(zip(emails, encoded, strict=True)):
            if i in too_long:
                verdicts[email] = RowResult(email, Outcome.REJECTED, too_long[i])
            elif email not in seen:
                chosen.append(body)
                sent.append(email)
                seen.add(email)
        if not chosen:
            return BatchResult(results=[verdicts[email] for email in emails])
        path = IMPORT.format(list_id=self.target.list_id)
        response = await self.http.send("POST", path, content=self._envelope_head + b",".join(chosen) + b"]}")
        if response.status_code == 400 and _code(response) is None:
            # A 400 whose body cannot be read may be a partial import (code 210) cut short: which rows the
            # vendor kept is unknown, so the batch is retried, never called refused.
            raise VendorUnavailable(
                "Campaign Monitor answered HTTP 400 with a body that could not be read", vendor=self.vendor, status=400
            )
        if not (response.status_code == 400 and _code(response) == PARTIAL_IMPORT):
            self._check(response)
        answer = self.http.json(response)
        summary: Mapping[str, Any] = (answer.get("ResultData") or answer) if isinstance(answer, dict) else {}
        failures = 0
        for failure in summary.get("FailureDetails") or []:
            email = str(failure.get("EmailAddress", "")).lower()
            code = int(failure.get("Code") or 0)
            message = self.scrub(str(failure.get("Message") or f"code {code}"))
            failures += 1
            if code in COMPLIANCE_CODES:
                reason = f"{COMPLIANCE_CODES[code]} in Campaign Monitor ({message})"
                verdicts[email] = RowResult(email, Outcome.SUPPRESSED, reason)
            else:
                verdicts[email] = RowResult(email, Outcome.REJECTED, message)
        kept = _number(summary, "TotalNewSubscribers") + _number(summary, "TotalExistingSubscribers")
        if kept + failures == len(sent):
            default = RowResult("", Outcome.UPSERTED)
        else:
            default = RowResult(
                "",
                Outcome.FAILED,
                f"Campaign Monitor's import summary accounts for {kept + failures} of the {len(sent)} subscribers sent "
                "(new + existing + failures): it dropped some without naming them, so which were kept is unknown",
            )
        return BatchResult(
            results=[verdicts.get(email) or RowResult(email, default.outcome, default.reason) for email in emails]
        )

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
                    "DELETE", SUBSCRIBER.format(list_id=self.target.list_id), params={"email": contact.email}
                )
            if response.status_code == 400 and _code(response) == NOT_IN_LIST:
                return RowResult(contact.email, Outcome.REMOVED)
            self._check(response)
            return RowResult(contact.email, Outcome.REMOVED)

        return BatchResult(results=list(await asyncio.gather(*(one(c) for c in contacts))))


def _number(summary: Mapping[str, Any], name: str) -> int:
    value = summary.get(name)
    return int(value) if isinstance(value, int | float) else 0


def _code(response: httpx.Response) -> int | None:
    try:
        value = response.json().get("Code")
    except (ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def _too_long(contacts: Sequence[Contact], mapped: Sequence[str] = ()) -> dict[int, str]:
    """Row → why Campaign Monitor would refuse it: the first attribute, in mapped order, longer than a
    custom field holds (checked a column at a time)."""
    import numpy as np
    import pyarrow.compute as pc

    return first_refusals(
        (
            np.flatnonzero(np.asarray(pc.greater(pc.utf8_length(column), MAX_VALUE), dtype=bool)),
            f"{name} is longer than Campaign Monitor's {MAX_VALUE} characters",
        )
        for name, column in attribute_columns(contacts, mapped).items()
    )
