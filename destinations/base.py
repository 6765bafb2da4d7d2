"""The base every vendor adapter extends, and the types it speaks.

An adapter translates contacts into one vendor's API and the vendor's answers back into one result per
contact (a "multistatus"), never one verdict for a whole batch. It never chunks, sleeps or retries:
it *declares* its batch sizes and rate limits in ``limits`` and the pipeline chunks, paces (through the
``httpx.AsyncClient`` it injects) and retries ``RetryableDestinationError`` after ``retry_after``.

A row is ``upserted`` only when the vendor's own answer says it kept it. When the answer cannot be read
(a job that vanished, an error file that cannot be downloaded, counts that do not add up), the row is
``failed`` with the reason, and the next run sends it again.

Optional capabilities are declared here with defaults, never discovered: ``prepare()`` (once per activity
before contacts are encoded, e.g. to learn custom-field ids) does nothing by default;
``reads_suppressions``/``load_suppressed()`` (once per run in pre-flight: addresses the vendor suppresses,
email → reason) reads nothing by default. ``shared.pipeline.suppressions`` does the rest.

Attribute names: contacts carry the product's standard attribute names (``STANDARD_ATTRIBUTES``);
any other key is a custom field under its vendor-native name (a Mailchimp merge tag, a SendGrid
custom-field name, a Brevo attribute, an Omnisend custom property, a Campaign Monitor field key).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, overload

import httpx
import orjson
from pydantic import SecretStr

from destinations.http import RetryAfterParser, VendorHttp, retry_after_header, scrub
from shared.errors import VendorUnavailable
from shared.outcomes import Outcome

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

STANDARD_ATTRIBUTES: tuple[str, ...] = (
    "first_name",
    "last_name",
    "phone",
    "address",
    "city",
    "state",
    "postal_code",
    "country",
)


def compact_json(value: Any) -> bytes:
    """UTF-8 JSON of exactly its own length. ``orjson.dumps`` returns bytes that keep a ~4 KB buffer,
    so a partition's worth of encoded contacts would hold ~4 KB each; the copy is cheaper than that."""
    return memoryview(orjson.dumps(value)).tobytes()


class RemovalPolicy(str, enum.Enum):
    """What mirror mode does to a contact that left every selected segment."""

    REMOVE_FROM_LIST = "remove_from_list"  # default: membership only (or untag); nothing deleted
    UNSUBSCRIBE = "unsubscribe"
    ARCHIVE = "archive"
    DELETE = "delete"


@dataclass(slots=True)
class Contact:
    """One profile as the vendor should hold it. ``email`` is already normalised."""

    email: str
    attributes: dict[str, str] = field(default_factory=dict)
    vendor_id: str | None = None  # the vendor's own id, when a removal needs it


class ContactBatch(Sequence[Contact]):
    """The contacts of one batch as columns: what the pipeline hands an adapter.

    A ``Contact`` with its attribute dict costs about a microsecond and a half to build, as much as
    encoding the row, and a run sends every changed profile once; so the pipeline keeps the batch's
    columns. Adapters read ``emails``/``vendor_ids`` (answers are matched by email) and ``attributes``
    (Arrow columns: checks run a column at a time, ``attribute_columns``); indexing or iterating makes a
    ``Contact`` for the rows asked for only (e.g. Mailchimp's update of a member one by one).

    ``attributes`` holds one column per mapped attribute, in mapped order; an empty value is no value."""

    __slots__ = ("attributes", "email_column", "emails", "vendor_ids")

    def __init__(
        self,
        emails: list[str],
        vendor_ids: list[str | None] | None = None,
        attributes: Mapping[str, pa.Array] | None = None,
        email_column: pa.Array | None = None,
    ) -> None:
        self.emails = emails
        self.vendor_ids: list[str | None] = vendor_ids if vendor_ids is not None else [None] * len(emails)
        self.attributes = dict(attributes or {})
        self.email_column = email_column

    def __len__(self) -> int:
        return len(self.emails)

    @overload
    def __getitem__(self, index: int) -> Contact: ...

    @overload
    def __getitem__(self, index: slice) -> ContactBatch: ...

    def __getitem__(self, index: int | slice) -> Contact | ContactBatch:
        if isinstance(index, slice):
            return self.take(range(len(self))[index])
        row = range(len(self))[index]  # IndexError as a list raises it
        values = {name: column[row].as_py() for name, column in self.attributes.items()}
        return Contact(self.emails[row], {k: v for k, v in values.items() if v}, self.vendor_ids[row])

    def __iter__(self) -> Iterator[Contact]:
        names = list(self.attributes)
        columns = [column.to_pylist() for column in self.attributes.values()]
        for email, vendor_id, *values in zip(self.emails, self.vendor_ids, *columns, strict=True):
            yield Contact(email, {n: v for n, v in zip(names, values, strict=True) if v}, vendor_id)

    def take(self, rows: Sequence[int]) -> ContactBatch:
        """The batch of the rows at ``rows``, in that order."""
        import pyarrow as pa  # here, not at module level: most importers of this module never encode

        at = pa.array(rows, pa.int64())
        return ContactBatch(
            [self.emails[i] for i in rows],
            [self.vendor_ids[i] for i in rows],
            {name: column.take(at) for name, column in self.attributes.items()},
            self.email_column.take(at) if self.email_column is not None else None,
        )


def emails_of(contacts: Sequence[Contact]) -> list[str]:
    """The contacts' emails, in order, without making a ``Contact`` per row of a ``ContactBatch``."""
    return contacts.emails if isinstance(contacts, ContactBatch) else [c.email for c in contacts]


def vendor_ids_of(contacts: Sequence[Contact]) -> list[str | None]:
    return contacts.vendor_ids if isinstance(contacts, ContactBatch) else [c.vendor_id for c in contacts]


def attribute_columns(contacts: Sequence[Contact], mapped: Sequence[str] = ()) -> dict[str, pa.Array]:
    """Each attribute the contacts carry as a column ("" where a contact has no value): a
    ``ContactBatch``'s own columns (in mapped order), or columns built from a list of ``Contact``s, the
    ``mapped`` attributes first, in that order, then any other in the order it first appears."""
    if isinstance(contacts, ContactBatch):
        return contacts.attributes
    import pyarrow as pa

    names = list(dict.fromkeys([*mapped, *(name for c in contacts for name in c.attributes)]))
    columns = {name: [c.attributes.get(name, "") for c in contacts] for name in names}
    return {name: pa.array(values, pa.string()) for name, values in columns.items() if any(values)}


def email_column(contacts: Sequence[Contact]) -> pa.Array:
    import pyarrow as pa

    if isinstance(contacts, ContactBatch) and contacts.email_column is not None:
        return contacts.email_column
    return pa.array(emails_of(contacts), pa.string())


def first_refusals(checks: Iterable[tuple[np.ndarray, str | Callable[[int], str]]]) -> dict[int, str]:
    """Row → the reason of the first check that refuses it. Each check is (rows it refuses, reason or
    a function of the row giving it); earlier checks win, as in a per-row ``if``/``elif`` chain."""
    reasons: dict[int, str] = {}
    for rows, reason in checks:
        for row in rows.tolist():
            if row not in reasons:
                reasons[row] = reason(row) if callable(reason) else reason
    return reasons


@dataclass(slots=True)
class RowResult:
    email: str
    outcome: Outcome
    reason: str | None = None  # plain words, from the vendor's answer; never a secret
    vendor_id: str | None = None


class Verdicts(Sequence[RowResult]):
    """One result per email of a batch: its verdict (``[outcome, reason]``) when it has one, else
    ``default``. What ``merge_verdicts`` returns: a vendor's answer to a 30,000-row job names a handful of
    rows, so a ``RowResult`` is made only for a row that is read (``summarise`` reads none)."""

    __slots__ = ("default", "default_reason", "emails", "verdicts")

    def __init__(
        self,
        emails: list[str],
        verdicts: Mapping[str, Sequence[str]],
        default: Outcome,
        default_reason: str | None = None,
    ) -> None:
        self.emails = emails
        self.verdicts = verdicts
        self.default = default
        self.default_reason = default_reason

    def __len__(self) -> int:
        return len(self.emails)

    @overload
    def __getitem__(self, index: int) -> RowResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[RowResult]: ...

    def __getitem__(self, index: int | slice) -> RowResult | list[RowResult]:
        if isinstance(index, slice):
            return [self._result(email) for email in self.emails[index]]
        return self._result(self.emails[index])

    def __iter__(self) -> Iterator[RowResult]:
        return map(self._result, self.emails)

    def _result(self, email: str) -> RowResult:
        verdict = self.verdicts.get(email)
        if verdict is None:
            return RowResult(email, self.default, self.default_reason)
        return RowResult(email, Outcome(verdict[0]), verdict[1] or None)


@dataclass(slots=True)
class BatchResult:
    """Either per-row ``results`` now (synchronous vendor) or a ``job`` to poll (asynchronous).

    ``job`` must be small and JSON-serialisable: it is stored in a checkpoint blob.
    """

    results: Sequence[RowResult] | None = None
    job: dict[str, Any] | None = None


@dataclass(slots=True)
class JobStatus:
    """A polled job: when ``done``, ``results`` holds one ``RowResult`` per contact of the batch."""

    done: bool
    results: Sequence[RowResult] | None = None
    retry_after: float | None = None  # the vendor's hint for when to poll again


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` in any window of ``per_seconds`` (real-world seconds)."""

    requests: int
    per_seconds: float


@dataclass(frozen=True, slots=True)
class VendorLimits:
    """The vendor's documented limits (each vendor's ``constants.py`` gives the sources), which the pipeline enforces.

    ``rate_limits`` maps a bucket name (see ``Destination.rate_bucket``) to every limit of that bucket.
    ``max_concurrency`` is the number of requests in flight per account, ``None`` when undocumented.
    ``upsert_batch_bytes`` bounds the whole request body; ``envelope_bytes`` is what the adapter adds
    around the encoded contacts, so the pipeline can chunk by bytes without encoding twice.
    """

    upsert_batch_items: int
    remove_batch_items: int
    rate_limits: Mapping[str, tuple[RateLimit, ...]]
    max_concurrency: int | None = None
    upsert_batch_bytes: int | None = None
    envelope_bytes: int = 512
    asynchronous: bool = False


@dataclass(frozen=True, slots=True)
class Credential:
    """An API key or an OAuth 2 access token; ``secret`` never leaves the adapter's headers."""

    secret: SecretStr
    kind: str = "api_key"  # or "oauth_token"


@dataclass(frozen=True, slots=True)
class Target:
    """Where an export writes in the vendor account and how it treats existing contacts."""

    list_id: str  # list / audience id; Omnisend: the tag that stands for the list
    mapped_attributes: tuple[str, ...] = ()
    new_contact_status: str = "subscribed"  # status for contacts the vendor does not know yet
    removal_policy: RemovalPolicy = RemovalPolicy.REMOVE_FROM_LIST


class Destination:
    """One vendor. Built once per activity with an injected client; see the module docstring.

    Subclasses declare the class attributes, ``auth_headers`` and the vendor calls; the construction
    (client, credential headers, base URL, status → error mapping, scrubbing) is shared here.
    """

    vendor: ClassVar[str]  # registry key, e.g. "campaign_monitor"
    display_name: ClassVar[str]  # e.g. "Campaign Monitor"
    limits: ClassVar[VendorLimits]
    removal_policies: ClassVar[frozenset[RemovalPolicy]]
    default_base_url: ClassVar[str] = ""
    target_noun: ClassVar[str] = "list"  # what the vendor calls a list: "audience", "tag"
    # Whether ``load_suppressed`` reads the vendor's suppressions (vendors whose upsert answer names
    # suppressed contacts itself need no read-back).
    reads_suppressions: ClassVar[bool] = False

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        credential: Credential,
        target: Target,
        base_url: str | None = None,
        connection: str | None = None,
    ) -> None:
        self.client = client
        self.target = target
        self.connection = connection or f"{self.display_name} connection"
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        secret = credential.secret.get_secret_value()
        # Built once; the credential appears in these headers and nowhere else.
        headers = {**self.auth_headers(credential), "Content-Type": "application/json"}
        self.http = VendorHttp(
            client,
            base_url=self.base_url,
            headers=headers,
            vendor=self.vendor,
            display_name=self.display_name,
            target=self.target_label,
            retry_after=type(self).retry_after,
            connection=self.connection,
            # The credential in every form it takes on the wire (Basic auth encodes it).
            secrets=(secret, *(v for k, v in headers.items() if k.lower() == "authorization" or secret in v)),
        )
        # Addresses the vendor suppresses (email → reason), read once per run and handed to every
        # activity by ``shared.pipeline.suppressions``; those rows are never sent.
        self.suppressed: dict[str, str] = {}

    # ---- what each vendor declares ------------------------------------------------------------

    def auth_headers(self, credential: Credential) -> dict[str, str]:
        """The headers that carry the credential."""
        raise NotImplementedError

    @staticmethod
    def retry_after(response: httpx.Response) -> float | None:
        """The vendor's retry hint in seconds (default: the standard ``Retry-After`` header)."""
        return retry_after_header(response)

    @property
    def target_label(self) -> str:
        return f"{self.target_noun} {self.target.list_id!r}"

    def rate_bucket(self, method: str, path: str) -> str:
        """The ``limits.rate_limits`` bucket a request to ``path`` counts against."""
        return "default"

    async def preflight(self) -> None:
        """Check the credential, the target and the mapped fields.

        Raises CredentialRefused, TargetNotFound, FieldsMissing (message names the fix),
        RetryableDestinationError.
        """
        raise NotImplementedError

    async def prepare(self) -> None:
        """Called once per activity before contacts are encoded. Nothing to do by default."""
        return None

    def prepared_state(self) -> dict[str, Any]:
        """What ``prepare`` learnt, so a run prepares once (in pre-flight) instead of once per activity.

        JSON-serialisable and small (it is stored with the run), never a secret. {} by default and before
        ``prepare`` ran."""
        return {}

    def restore_prepared(self, state: Mapping[str, Any]) -> None:
        """Take a ``prepared_state`` of an adapter built for the same export: encoding and upserts then
        behave exactly as after ``prepare``, and ``prepare`` sends no request for what was restored (it
        still runs what must be fresh, such as Campaign Monitor's field check once it is a minute old). A state
        that does not fit this adapter is ignored. Nothing to do by default."""
        return None

    async def load_suppressed(self, since: datetime | None = None) -> dict[str, str]:
        """Addresses the vendor suppresses (email → reason); with ``since`` only those since then.
        Vendors with ``reads_suppressions`` False read nothing."""
        return {}

    def encode_contact(self, contact: Contact) -> bytes:
        """The contact as it appears inside the vendor's batch body (UTF-8 JSON, no envelope)."""
        raise NotImplementedError

    def encode_batch(self, emails: pa.Array, attributes: Mapping[str, pa.Array]) -> pa.Array:
        """``encode_contact`` of many rows at once: element i is byte for byte ``encode_contact`` of the
        contact with ``emails[i]`` and the attributes whose i-th value is non-empty, in ``attributes`` order
        (each mapped attribute, in ``target.mapped_attributes`` order; empty or null means no value).

        This default encodes row by row; vendors override it with column-at-a-time kernels
        (``destinations.columnar``). Raises ValueError for a null email or columns of unequal length."""
        import pyarrow as pa  # here, not at module level: most importers of this module never encode

        email_list = emails.to_pylist()
        if None in email_list:
            raise ValueError("emails must not be null")
        names = list(attributes)
        columns = [attributes[name].to_pylist() for name in names]
        for name, column in zip(names, columns, strict=True):
            if len(column) != len(email_list):
                raise ValueError(f"attribute {name!r} has {len(column)} rows, the emails {len(email_list)}")
        encoded = [
            self.encode_contact(Contact(email, {n: v for n, v in zip(names, values, strict=True) if v}))
            for email, *values in zip(email_list, *columns, strict=True)
        ]
        return pa.array(encoded, pa.binary())

    def size_bounds(self, emails: pa.Array, attributes: Mapping[str, pa.Array]) -> pa.Array | None:
        """An upper bound of each row's ``encode_batch`` length, computed without encoding, or None when
        the adapter knows none (then the rows are encoded to be measured).

        Cutting batches to a body limit needs every row's size; where the item limit binds first (most
        rows are far smaller than the body limit allows), bounds prove it and the encoding is skipped."""
        return None

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Add or update ``contacts`` (``encoded[i]`` is ``encode_contact(contacts[i])``).

        Never changes an existing contact's subscription status. Raises CredentialRefused,
        TargetNotFound, RequestRejected, RetryableDestinationError.
        """
        raise NotImplementedError

    async def remove(self, contacts: Sequence[Contact]) -> BatchResult:
        """Apply ``target.removal_policy`` to ``contacts``. Raises as ``upsert``."""
        raise NotImplementedError

    def poll_requests(self, job: Mapping[str, Any], rows: int) -> int:
        """How many requests ``poll`` of ``job`` (made for ``rows`` contacts) may make: one status read
        for a vendor's job. A vendor that confirms a job contact by contact says so, and its polls are
        made one at a time, so a round that stops at its deadline is not held up by many such polls."""
        return 1

    async def poll(self, job: Mapping[str, Any], contacts: Sequence[Contact]) -> JobStatus:
        """Poll an asynchronous job created for ``contacts``. Raises as ``upsert``.

        Synchronous vendors never create jobs: a job handed to them is unknown, so its rows failed."""
        return JobStatus(done=True, results=failed_rows(contacts, f"{self.display_name} has no job to poll"))

    # ---- shared helpers -----------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """Vendor text without the credential (see ``destinations.http.scrub``)."""
        return self.http.scrub(text)

    async def read_job(self, path: str) -> dict[str, Any] | None:
        """A job's status document, or None when the vendor no longer knows the job (404: it is about
        that job, not the list). Raises as ``VendorHttp.check`` for anything else."""
        response = await self.http.send("GET", path)
        if response.status_code == 404:
            return None
        self.http.check(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise VendorUnavailable(
                f"{self.display_name} sent a job status that is not JSON", vendor=self.vendor
            ) from exc
        return body if isinstance(body, dict) else None

    def job_vanished(
        self, contacts: Sequence[Contact], noun: str, job_id: object, verdicts: Mapping[str, Sequence[str]]
    ) -> JobStatus:
        """Every row of a job the vendor no longer knows ``failed`` (retried next run), naming the job."""
        reason = (
            f"{self.display_name} no longer knows {noun} {job_id} (HTTP 404 when polled); "
            "what it kept is unknown, so the row is sent again at the next run"
        )
        return JobStatus(done=True, results=merge_verdicts(contacts, verdicts, Outcome.FAILED, reason))


def failed_rows(contacts: Sequence[Contact], reason: str) -> list[RowResult]:
    return [RowResult(email, Outcome.FAILED, reason) for email in emails_of(contacts)]


def merge_verdicts(
    contacts: Sequence[Contact],
    verdicts: Mapping[str, Sequence[str]],
    default: Outcome,
    default_reason: str | None = None,
) -> Verdicts:
    """One result per contact: its verdict (``[outcome, reason]``) if it has one, else ``default``."""
    return Verdicts(emails_of(contacts), verdicts, default, default_reason)


__all__ = [
    "STANDARD_ATTRIBUTES",
    "BatchResult",
    "Contact",
    "ContactBatch",
    "Credential",
    "Destination",
    "JobStatus",
    "Outcome",
    "RateLimit",
    "RemovalPolicy",
    "RetryAfterParser",
    "RowResult",
    "Target",
    "VendorLimits",
    "Verdicts",
    "attribute_columns",
    "compact_json",
    "email_column",
    "emails_of",
    "failed_rows",
    "first_refusals",
    "merge_verdicts",
    "scrub",
    "vendor_ids_of",
]
