"""Everything that crosses a boundary (blob document, activity input/output, HTTP body) as pydantic models.

Inputs we own forbid unknown fields, so a typo in a configuration document is an error naming the
field rather than a setting silently ignored.
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from destinations import REGISTRY
from destinations.base import RemovalPolicy

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
# Segment folders are blob prefixes inside the segments container: no traversal, no other container.
SEGMENT_PATTERN = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9._\-/ ]{1,500}$")
# Vendor attribute names: a standard name or a vendor-native custom field name.
ATTRIBUTE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,99}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Connection(Strict):
    """Vendor credentials (by Key Vault secret name only) and who may use them."""

    id: str = Field(pattern=ID_PATTERN)
    display_name: str = Field(min_length=1, max_length=200)
    vendor: str
    credential_kind: Literal["api_key", "oauth_token"] = "api_key"
    secret_name: str = Field(pattern=r"^[0-9a-zA-Z-]{1,127}$")
    usable_by: Literal["admins", "admins_and_contributors"] = "admins"
    privacy_consent_accepted: bool
    base_url: str | None = None  # a regional host (e.g. SendGrid EU) or a simulator
    # When the Key Vault secret was last written through the API (None: no credential set yet).
    credential_updated_at: datetime | None = None
    created_by: str = "system"
    created_at: datetime = Field(default_factory=utcnow)
    updated_by: str = "system"
    updated_at: datetime = Field(default_factory=utcnow)

    @field_validator("vendor")
    @classmethod
    def _known_vendor(cls, value: str) -> str:
        if value not in REGISTRY:
            raise ValueError(f"unknown vendor {value!r}; choose one of {', '.join(REGISTRY)}")
        return value

    @field_validator("privacy_consent_accepted")
    @classmethod
    def _consent(cls, value: bool) -> bool:
        if not value:
            raise ValueError("the data-privacy consent must be accepted: profiles leave the compliance boundary")
        return value


class SyncMode(str, enum.Enum):
    UPSERT = "upsert"
    MIRROR = "mirror"


class Export(Strict):
    """What to send where: segments, field mapping, target, sync mode and guards."""

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    connection_id: str = Field(pattern=ID_PATTERN)
    target_id: str = Field(min_length=1, max_length=200, description="list / audience id; Omnisend: the tag")
    field_mapping: dict[str, str] = Field(description="vendor attribute → profile column; 'email' is required")
    segments: list[str] = Field(min_length=1, max_length=50)
    schedule_enabled: bool = True
    sync_mode: SyncMode = SyncMode.UPSERT
    removal_policy: RemovalPolicy = RemovalPolicy.REMOVE_FROM_LIST
    new_contact_status: str = Field("subscribed", pattern=r"^[a-z_]{1,30}$")
    max_profiles: int = Field(10_000_000, ge=1)
    mass_removal_share: float | None = Field(None, gt=0, le=1)

    @field_validator("field_mapping")
    @classmethod
    def _mapping(cls, value: dict[str, str]) -> dict[str, str]:
        if "email" not in value:
            raise ValueError("'email' must be mapped to the profile column holding the email address")
        for attribute, column in value.items():
            if not ATTRIBUTE_PATTERN.match(attribute):
                raise ValueError(f"attribute name {attribute!r} is not a valid vendor field name")
            if not column or len(column) > 200:
                raise ValueError(f"attribute {attribute!r} must name a profile column")
        return value

    @field_validator("segments")
    @classmethod
    def _segments(cls, value: list[str]) -> list[str]:
        for segment in value:
            if not SEGMENT_PATTERN.match(segment):
                raise ValueError(f"segment {segment!r} must be a folder path inside the segments container")
        if len(set(value)) != len(value):
            raise ValueError("a segment is listed twice")
        return value

    def attributes(self) -> list[str]:
        """Mapped vendor attributes other than email, in mapping order."""
        return [a for a in self.field_mapping if a != "email"]

    def columns(self) -> list[str]:
        """Profile columns to read: email first, then one per attribute."""
        return [self.field_mapping["email"], *(self.field_mapping[a] for a in self.attributes())]

    def target_key(self) -> str:
        """Where the snapshot's contacts live; when it changes the old snapshot says nothing of the new list."""
        return f"{self.connection_id}|{self.target_id}"

    def fingerprint(self) -> str:
        """What, when changed, makes every profile worth sending again (an automatic full resync)."""
        mapping = ",".join(f"{k}={v}" for k, v in self.field_mapping.items())
        return f"{self.target_key()}|{mapping}|{self.new_contact_status}"


class Trigger(str, enum.Enum):
    SCHEDULE = "schedule"
    ON_DEMAND = "on_demand"
    RETRY = "retry"


class RunRequest(Strict):
    """The orchestration's input."""

    export_id: str = Field(pattern=ID_PATTERN)
    trigger: Trigger = Trigger.ON_DEMAND
    dry_run: bool = False
    full_resync: bool = False
    approve_mass_removal: bool = False


class OutcomeCounts(BaseModel):
    upserted: int = 0
    unchanged: int = 0
    invalid: int = 0
    duplicate: int = 0
    suppressed: int = 0
    rejected: int = 0
    failed: int = 0

    def total(self) -> int:
        return sum(self.model_dump().values())

    def add(self, other: OutcomeCounts) -> OutcomeCounts:
        mine, theirs = self.model_dump(), other.model_dump()
        return OutcomeCounts(**{k: mine[k] + theirs[k] for k in mine})


class RunStatus(str, enum.Enum):
    SUCCEEDED = "succeeded"  # every profile read reached its intended outcome, every file was read
    COMPLETED_WITH_ERRORS = "completed_with_errors"  # some rejected or failed, or a file held back
    FAILED = "failed"  # nothing could be delivered
    BLOCKED = "blocked"
    DRY_RUN = "dry_run"
    CANCELLED = "cancelled"  # terminated on request: nothing committed, the snapshot did not advance


class OutcomeInvariantBroken(ValueError):
    """The outcomes counted from the rows do not add up to the rows read: no report is written."""


class HeldBackFile(BaseModel):
    """A source file the run could not export as a whole; its rows are not counted as read.

    ``rows`` is how many data rows the file was seen to hold (all of them when the problem is in the
    header; those before the damage when the file is cut short). Fix the file and the next run
    exports it: nothing of it entered the snapshot.
    """

    segment: str
    blob: str
    line: int | None = None
    reason: str
    rows: int = 0


class RunReport(BaseModel):
    """The run as people read it. ``outcomes`` covers every profile read; removals are counted apart
    because the profiles removed are, by definition, no longer in the segments."""

    export_id: str
    run_id: str
    vendor: str
    trigger: Trigger
    status: RunStatus
    dry_run: bool = False
    full_resync: bool = False
    started_at: datetime
    finished_at: datetime
    profiles_read: int
    outcomes: OutcomeCounts
    added: int = 0
    updated: int = 0
    removed: int = 0
    removal_failed: int = 0
    would_remove: int = 0
    list_size_before: int = 0
    rejected_rows_blob: str | None = None
    held_back: list[HeldBackFile] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _invariant(self) -> RunReport:
        if self.outcomes.total() != self.profiles_read:
            counted = ", ".join(f"{k} {v}" for k, v in self.outcomes.model_dump().items() if v)
            raise OutcomeInvariantBroken(
                f"outcome invariant broken: outcomes add up to {self.outcomes.total()} ({counted or 'none'}), "
                f"but {self.profiles_read} profiles were read"
            )
        return self
