"""App settings: one pydantic-settings model, every name prefixed ``EXPORT_``.

Validated once at start; a missing or malformed value is reported by its app-setting name, all of them
at once, so an operator fixes the configuration in one pass.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import SettingsError

STORAGE_MISSING = "set EXPORT_STORAGE_ACCOUNT_URL (managed identity) or EXPORT_STORAGE_CONNECTION_STRING (local)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXPORT_", extra="ignore", frozen=True)

    # Storage: an account URL (managed identity, production) or a connection string (Azurite, local).
    storage_account_url: str | None = None
    storage_connection_string: SecretStr | None = None
    container: str = Field("exports", pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
    segments_container: str = Field("segments", pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")

    # Key Vault holding the connections' credentials.
    key_vault_url: str | None = None

    # NCRONTAB of the scheduled refresh (Azure Functions timer syntax, six fields).
    schedule: str = "0 30 2 * * *"
    task_hub: str = Field("SegmentExports", pattern=r"^[A-Za-z][A-Za-z0-9]{2,44}$")

    # Pipeline sizing.
    # A partition is what one diff activity holds in memory (Arrow: ~100 bytes a profile); larger ones
    # mean fewer staging ranges to read and fewer activities, and batches no longer stop at their ends.
    rows_per_partition: int = Field(150_000, ge=1_000)
    max_partitions: int = Field(32, ge=1, le=256)
    max_activity_width: int = Field(16, ge=1, le=64)
    batch_concurrency: int = Field(4, ge=1, le=64)
    max_attempts: int = Field(8, ge=1, le=50)
    # A vendor call is retried (429, 5xx, timeouts) for at most this long, then the activity raises
    # and the Durable retry takes over.
    vendor_retry_max_seconds: float = Field(300.0, gt=0)
    first_poll_seconds: float = Field(2.0, gt=0)
    max_poll_seconds: float = Field(60.0, gt=0)
    mass_removal_share: float = Field(0.2, gt=0, le=1)
    request_timeout_seconds: float = Field(120.0, gt=0)
    # Suppressions are read back from the previous run's start minus this margin, which covers the clock
    # difference between this app and the vendor.
    suppression_lookback_seconds: float = Field(600.0, ge=0)

    # Durable retries of an activity that raised (a storage or vendor fault): attempts in all, and the
    # wait before each retry.
    activity_retry_attempts: int = Field(3, ge=1, le=10)
    activity_retry_interval_seconds: float = Field(15.0, gt=0)
    # No activity runs longer than this: apply stops at the budget and is called again for the rest.
    activity_budget_seconds: float = Field(600.0, ge=5)
    # When no asynchronous vendor job has finished for this long, the open ones are given up: their rows
    # are failed, named with the vendor's job id, and sent again by the next run.
    poll_give_up_seconds: float = Field(1800.0, gt=0)

    # Only simulators and the benchmark change these: vendor time runs this many times slower (0.01
    # = 100× faster), and vendor hosts are replaced by loopback URLs.
    vendor_time_scale: float = Field(1.0, gt=0, le=1)
    vendor_base_urls: dict[str, str] = Field(default_factory=dict)

    @field_validator("schedule")
    @classmethod
    def _ncrontab(cls, value: str) -> str:
        if len(value.split()) != 6:
            raise ValueError("must be an NCRONTAB expression with six fields, e.g. '0 30 2 * * *'")
        return value

    @field_validator("vendor_base_urls", mode="before")
    @classmethod
    def _json_map(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @model_validator(mode="after")
    def _storage_given(self) -> Settings:
        if not self.storage_account_url and not self.storage_connection_string:
            raise ValueError(STORAGE_MISSING)
        return self


def _storage_given(overrides: dict[str, Any]) -> bool:
    if overrides.get("storage_account_url") or overrides.get("storage_connection_string"):
        return True
    names = {"EXPORT_STORAGE_ACCOUNT_URL", "EXPORT_STORAGE_CONNECTION_STRING"}
    return any(value for key, value in os.environ.items() if key.upper() in names)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings. Raises SettingsError naming every bad app setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        if not _storage_given(overrides):
            # The model-level check only runs once every field is valid; report it in the same pass.
            problems.append(f"EXPORT_STORAGE_ACCOUNT_URL: {STORAGE_MISSING}")
        for error in exc.errors():
            if not error["loc"] and problems and STORAGE_MISSING in error["msg"]:
                continue  # the model-level storage check, already reported by name above
            name = "EXPORT_" + "_".join(str(p) for p in error["loc"]).upper() if error["loc"] else "settings"
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid app settings: " + "; ".join(problems), field=problems[0].split(":")[0]) from None


def settings_problems() -> list[str]:
    """Every problem with the app settings, by setting name (empty when they are valid). Never raises,
    so a bad setting cannot stop the app from indexing; values are never included."""
    try:
        load_settings()
    except SettingsError as exc:
        text = str(exc).removeprefix("invalid app settings: ")
        return [part for part in text.split("; ") if part]
    return []


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
