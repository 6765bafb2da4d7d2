"""The Bicep app settings and the code's settings are the same set, derived from the code at test time.

Every pydantic-settings class under ``shared/`` with the ``EXPORT_`` prefix is found by importing the
package's modules, so a field added to any of them (or a new settings class) fails here until the
Bicep sets it, and a setting the Bicep sets that no class reads fails too. Secret fields are never
set in app settings: they live in Key Vault or, locally, in local.settings.json.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import typing
from typing import Any

import pytest
from pydantic import Field, SecretBytes, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

import shared
from shared.memory import PROCESS_ENVIRONMENT
from tests.infra.templates import API, ROOT, app_settings, literal_through_main

PREFIX = "EXPORT_"


def settings_classes() -> list[type[BaseSettings]]:
    for module in pkgutil.walk_packages(shared.__path__, prefix="shared."):
        importlib.import_module(module.name)  # an import error fails the test: that module is broken
    found: list[type[BaseSettings]] = []
    pending = list(BaseSettings.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("shared.") and cls.model_config.get("env_prefix") == PREFIX:
            found.append(cls)
    return found


def is_secret(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, SecretStr | SecretBytes):
        return True
    return any(is_secret(arg) for arg in typing.get_args(annotation))


def env_names(cls: type[BaseSettings]) -> dict[str, bool]:
    """App-setting name → whether the field is secret."""
    names = {}
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        names[(alias or PREFIX + field_name).upper()] = is_secret(field.annotation)
    return names


def code_settings() -> dict[str, bool]:
    merged: dict[str, bool] = {}
    for cls in settings_classes():
        merged.update(env_names(cls))
    return merged


def test_the_settings_classes_are_found() -> None:
    classes = {f"{c.__module__}.{c.__qualname__}" for c in settings_classes()}
    assert "shared.settings.Settings" in classes
    assert "EXPORT_STORAGE_ACCOUNT_URL" in code_settings()


def test_bicep_sets_every_non_secret_setting_the_code_reads_and_no_other() -> None:
    code = code_settings()
    expected = {name for name, secret in code.items() if not secret}
    bicep = {name for name in app_settings() if name.upper().startswith(PREFIX)}
    missing, unknown = sorted(expected - bicep), sorted(bicep - set(code))
    assert not missing, f"infra/app/api.bicep does not set {missing} (add them to appSettings)"
    assert not unknown, f"infra/app/api.bicep sets {unknown}, which no settings class under shared/ reads"


def test_no_secret_setting_is_in_app_settings() -> None:
    secrets = {name for name, secret in code_settings().items() if secret}
    assert secrets, "expected at least the local storage connection string to be a secret field"
    assert not secrets & set(app_settings()), secrets & set(app_settings())


def test_the_deployed_values_are_valid_for_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load every settings class from the environment a default deployment gives the app: literals
    as written (or passed down from main.bicep's defaults), endpoints as placeholders."""
    for name in list(os.environ):
        if name.upper().startswith(PREFIX):
            monkeypatch.delenv(name)
    computed = []
    for name, value in app_settings().items():
        if not name.upper().startswith(PREFIX):
            continue
        literal = literal_through_main("api", API, value)
        if literal is None:
            computed.append(name)
            literal = "https://placeholder.invalid/" if name.endswith("_URL") else None
        if literal is not None:
            monkeypatch.setenv(name, literal)
    assert "EXPORT_STORAGE_ACCOUNT_URL" in computed and "EXPORT_KEY_VAULT_URL" in computed
    for cls in settings_classes():
        cls()  # raises ValidationError naming the bad setting


def test_the_task_hub_and_schedule_come_from_main_bicep_parameters() -> None:
    settings = app_settings()
    assert literal_through_main("api", API, settings["EXPORT_TASK_HUB"]) == "SegmentExports"
    assert literal_through_main("api", API, settings["EXPORT_SCHEDULE"]) == "0 30 2 * * *"
    assert literal_through_main("api", API, settings["EXPORT_CONTAINER"]) == "exports"


def test_local_settings_sample_names_only_settings_the_code_reads() -> None:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    unknown = {n for n in values if n.upper().startswith(PREFIX)} - set(code_settings())
    assert not unknown, f"local.settings.sample.json sets {sorted(unknown)}, which no settings class reads"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"  # Azurite: blob, queue and table
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"


def test_the_derivation_reads_names_aliases_and_secrets() -> None:
    """A field of any type, an alias and a SecretStr are each mapped to the app setting the class reads."""

    class Extra(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=PREFIX)
        brand_new_knob: int = 1
        token: SecretStr | None = None
        renamed: str = Field("x", validation_alias="EXPORT_OTHER_NAME")

    assert env_names(Extra) == {"EXPORT_BRAND_NEW_KNOB": False, "EXPORT_TOKEN": True, "EXPORT_OTHER_NAME": False}
    # only classes defined under shared/ count: this one is not the app's
    assert Extra not in settings_classes()


def test_the_worker_process_allocates_as_measured() -> None:
    # Read when the process starts, so they can only be app settings (shared/memory.py has the figures).
    settings = app_settings()
    assert {name: settings.get(name) for name in PROCESS_ENVIRONMENT} == dict(PROCESS_ENVIRONMENT)
