"""Request and response bodies. Inputs forbid unknown fields and bound every size."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator

from shared.models import ID_PATTERN, Connection, Export, OutcomeCounts

VendorName = Literal["sendgrid", "mailchimp", "brevo", "omnisend", "campaign_monitor"]
RunState = Literal[
    "pending",
    "running",
    "succeeded",
    "completed_with_errors",
    "failed",
    "blocked",
    "dry_run",
    "cancelled",
]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _consent_given(value: bool) -> bool:
    if not value:
        raise ValueError("the data-privacy consent must be accepted: profiles leave the compliance boundary")
    return value


def _short_url(value: AnyHttpUrl | None) -> AnyHttpUrl | None:
    if value is not None and len(str(value)) > 300:
        raise ValueError("must be at most 300 characters")
    return value


class ConnectionCreate(Input):
    id: str = Field(pattern=ID_PATTERN, description="lower case letters, digits and dashes")
    display_name: str = Field(min_length=1, max_length=200)
    vendor: VendorName
    credential_kind: Literal["api_key", "oauth_token"] = "api_key"
    credential: SecretStr | None = Field(
        None, min_length=1, max_length=4096, description="write-only; for OAuth leave empty and use the OAuth start"
    )
    usable_by: Literal["admins", "admins_and_contributors"] = "admins"
    privacy_consent_accepted: bool = Field(description="must be true: profiles leave the compliance boundary")
    base_url: AnyHttpUrl | None = Field(None, description="a regional API host; empty for the vendor's default")

    _consent = field_validator("privacy_consent_accepted")(_consent_given)
    _short = field_validator("base_url")(_short_url)


class ConnectionUpdate(Input):
    display_name: str = Field(min_length=1, max_length=200)
    usable_by: Literal["admins", "admins_and_contributors"] = "admins"
    privacy_consent_accepted: bool
    base_url: AnyHttpUrl | None = None

    _consent = field_validator("privacy_consent_accepted")(_consent_given)
    _short = field_validator("base_url")(_short_url)


class CredentialRotation(Input):
    credential: SecretStr = Field(min_length=1, max_length=4096, description="write-only")


class ConnectionView(BaseModel):
    id: str
    display_name: str
    vendor: str
    credential_kind: str
    credential_set: bool
    credential_updated_at: datetime | None
    usable_by: str
    privacy_consent_accepted: bool
    base_url: str | None
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    etag: str

    @classmethod
    def of(cls, connection: Connection, etag: str) -> ConnectionView:
        return cls(
            id=connection.id,
            display_name=connection.display_name,
            vendor=connection.vendor,
            credential_kind=connection.credential_kind,
            credential_set=connection.credential_updated_at is not None,
            credential_updated_at=connection.credential_updated_at,
            usable_by=connection.usable_by,
            privacy_consent_accepted=connection.privacy_consent_accepted,
            base_url=connection.base_url,
            created_by=connection.created_by,
            created_at=connection.created_at,
            updated_by=connection.updated_by,
            updated_at=connection.updated_at,
            etag=etag,
        )


class ConnectionList(BaseModel):
    items: list[ConnectionView]


# A list id or tag goes into vendor URLs: no control characters, no URL delimiters.
TARGET_PATTERN = r"^[^\x00-\x1f\x7f-\x9f/?#%\\]{1,200}$"


class ConnectionTest(Input):
    target_id: str = Field(
        min_length=1,
        max_length=200,
        pattern=TARGET_PATTERN,
        description="the list / audience (Omnisend: tag) to check",
    )
    attributes: list[str] = Field(
        default_factory=list, max_length=100, description="vendor attributes the export maps, besides email"
    )

    @field_validator("attributes")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        from shared.models import ATTRIBUTE_PATTERN

        for name in value:
            if not ATTRIBUTE_PATTERN.match(name):
                raise ValueError(f"attribute name {name[:100]!r} is not a valid vendor field name")
        return value


class ConnectionTestResult(BaseModel):
    ok: bool
    check: Literal[
        "passed",
        "credential_missing",
        "credential_refused",
        "target_not_found",
        "fields_missing",
        "vendor_unavailable",
        "request_rejected",
    ]
    message: str
    missing_fields: list[str] = Field(default_factory=list)


class ExportBody(Export):
    """An export as saved (unknown fields are refused)."""

    target_id: str = Field(
        min_length=1, max_length=200, pattern=TARGET_PATTERN, description="list / audience id; Omnisend: the tag"
    )


class ExportView(Export):
    etag: str


class ExportList(BaseModel):
    items: list[ExportView]


class RunOptions(Input):
    dry_run: bool = False
    full_resync: bool = False
    approve_mass_removal: bool = False


class Progress(BaseModel):
    parts: int = Field(description="source files to read")
    staged: int
    partitions: int
    diffed: int
    finished: int


class RunLinks(BaseModel):
    self: str
    rejected_rows: str | None = None


class RunView(BaseModel):
    export_id: str
    run_id: str | None = Field(description="null until the run has been planned")
    status: RunState
    step: Literal["starting", "planning", "checking", "staging", "comparing", "sending", "committing", "done"]
    progress: Progress | None = None
    trigger: str | None = None
    dry_run: bool = False
    full_resync: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    profiles_read: int | None = None
    outcomes: OutcomeCounts | None = None
    added: int = 0
    updated: int = 0
    removed: int = 0
    would_remove: int = 0
    errors: list[str] = Field(default_factory=list)
    links: RunLinks


class RunList(BaseModel):
    items: list[RunView]
    next: str | None = Field(description="the next page, newest first; null on the last page")


class OAuthCallback(Input):
    code: str = Field(min_length=1, max_length=2048, pattern=r"^[\x21-\x7e]+$")
    state: str = Field(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9_\-.]+$")


class OAuthStarted(BaseModel):
    authorize_url: str
    expires_in: int


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    settings_problems: int = 0
