"""The process-wide dependencies of the activities: settings, blob stores, secrets, HTTP transport.

In Azure it is built once from the app settings; the in-process host, the tests and the benchmark
install their own (Azurite, the Key Vault stand-in, loopback simulators).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from shared.secrets import KeyVaultSecretStore, SecretStore
from shared.settings import Settings, get_settings
from shared.storage import BlobStore


@dataclass
class Runtime:
    settings: Settings
    store: BlobStore
    segments: BlobStore
    secrets: SecretStore
    # Tests may route vendor traffic through their own transport; None = httpx's default.
    transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None


_current: Runtime | None = None


def set_runtime(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def get_runtime() -> Runtime:
    """The installed runtime, or one built from the app settings (Azure)."""
    global _current
    if _current is None:
        settings = get_settings()
        if not settings.key_vault_url:
            from shared.errors import SettingsError

            raise SettingsError("EXPORT_KEY_VAULT_URL is required", field="EXPORT_KEY_VAULT_URL")
        _current = Runtime(
            settings=settings,
            store=BlobStore.connect(settings, settings.container),
            segments=BlobStore.connect(settings, settings.segments_container),
            secrets=KeyVaultSecretStore.default(settings.key_vault_url),
        )
    return _current
