"""The one small protocol every vendor adapter implements, and the types it speaks.

An adapter translates contacts into one vendor's API and the vendor's answers back into one result per
contact (a "multistatus"), never one verdict for a whole batch. It never chunks, sleeps or retries:
it *declares* its batch sizes and rate limits in ``limits`` and the pipeline chunks, paces (through the
``httpx.AsyncClient`` it injects) and retries ``RetryableDestinationError`` after ``retry_after``.

Optional members an adapter may have, which the pipeline uses when present:
``async prepare()`` (called once per activity before contacts are encoded, e.g. to learn custom-field
ids), ``async load_suppressed() -> dict[str, str]`` (called once per run in pre-flight: addresses the
vendor suppresses, email → reason) and a ``suppressed`` dict attribute that receives that mapping in
every activity, so those contacts are reported ``suppressed`` without being sent.

Attribute names: contacts carry the product's standard attribute names (``STANDARD_ATTRIBUTES``);
any other key is a custom field under its vendor-native name (a Mailchimp merge tag, a SendGrid
custom-field name, a Brevo attribute, an Omnisend custom property, a Campaign Monitor field key).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import httpx
import orjson
from pydantic import SecretStr

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


class RowOutcome(str, enum.Enum):
    """What the vendor did with one contact."""

    UPSERTED = "upserted"
    REMOVED = "removed"
    SUPPRESSED = "suppressed"  # compliance: unsubscribed, bounced, blocklisted — never retried
    REJECTED = "rejected"  # refused for another stated reason (bad field value, ...)
    FAILED = "failed"  # gave up; retried at the next run


@dataclass(slots=True)
class Contact:
    """One profile as the vendor should hold it. ``email`` is already normalised."""

    email: str
    attributes: dict[str, str] = field(default_factory=dict)
    vendor_id: str | None = None  # the vendor's own id, when a removal needs it


@dataclass(slots=True)
class RowResult:
    email: str
    outcome: RowOutcome
    reason: str | None = None  # plain words, from the vendor's answer; never a secret
    vendor_id: str | None = None


@dataclass(slots=True)
class BatchResult:
    """Either per-row ``results`` now (synchronous vendor) or a ``job`` to poll (asynchronous).

    ``job`` must be small and JSON-serialisable: it is stored in a checkpoint blob.
    """

    results: list[RowResult] | None = None
    job: dict[str, Any] | None = None


@dataclass(slots=True)
class JobStatus:
    """A polled job: when ``done``, ``results`` holds one ``RowResult`` per contact of the batch."""

    done: bool
    results: list[RowResult] | None = None
    retry_after: float | None = None  # the vendor's hint for when to poll again


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` in any window of ``per_seconds`` (real-world seconds)."""

    requests: int
    per_seconds: float


@dataclass(frozen=True, slots=True)
class VendorLimits:
    """The vendor's documented limits (``docs/vendors.md``), which the pipeline and simulators share.

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


class Destination(Protocol):
    """One vendor. Built once per activity with an injected client; see module docstring."""

    vendor: ClassVar[str]  # registry key, e.g. "campaign_monitor"
    display_name: ClassVar[str]  # e.g. "Campaign Monitor"
    limits: ClassVar[VendorLimits]
    removal_policies: ClassVar[frozenset[RemovalPolicy]]

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        credential: Credential,
        target: Target,
        base_url: str | None = None,
    ) -> None: ...

    def rate_bucket(self, method: str, path: str) -> str:
        """The ``limits.rate_limits`` bucket a request to ``path`` counts against."""
        ...

    async def preflight(self) -> None:
        """Check the credential, the target and the mapped fields.

        Raises CredentialRefused, TargetNotFound, FieldsMissing (message names the fix),
        RetryableDestinationError.
        """
        ...

    def encode_contact(self, contact: Contact) -> bytes:
        """The contact as it appears inside the vendor's batch body (UTF-8 JSON, no envelope)."""
        ...

    async def upsert(self, contacts: Sequence[Contact], encoded: Sequence[bytes]) -> BatchResult:
        """Add or update ``contacts`` (``encoded[i]`` is ``encode_contact(contacts[i])``).

        Never changes an existing contact's subscription status. Raises CredentialRefused,
        TargetNotFound, RequestRejected, RetryableDestinationError.
        """
        ...

    async def remove(self, contacts: Sequence[Contact]) -> BatchResult:
        """Apply ``target.removal_policy`` to ``contacts``. Raises as ``upsert``."""
        ...

    async def poll(self, job: Mapping[str, Any], contacts: Sequence[Contact]) -> JobStatus:
        """Poll an asynchronous job created for ``contacts``. Raises as ``upsert``."""
        ...
