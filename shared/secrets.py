"""Vendor credentials live only in Key Vault; this is the one small interface over ``SecretClient``.

Secret values are ``SecretStr`` from the moment they leave the client: they print as ``**********``
and reach plain text only where an adapter builds its auth header.
"""

from __future__ import annotations

from typing import Any, Protocol

from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.secrets import SecretClient
from pydantic import SecretStr

from shared.errors import NotFound


class SecretStore(Protocol):
    def get(self, name: str) -> SecretStr: ...
    def set(self, name: str, value: SecretStr) -> None: ...
    def delete(self, name: str) -> None: ...


class KeyVaultSecretStore:
    """Secrets in Azure Key Vault. ``credential`` is ``DefaultAzureCredential`` in Azure; tests pass a
    test credential and an azure-core ``transport`` (the Key Vault stand-in)."""

    def __init__(self, vault_url: str, credential: Any, **client_kwargs: Any) -> None:
        self._client = SecretClient(vault_url, credential, **client_kwargs)

    @classmethod
    def default(cls, vault_url: str) -> KeyVaultSecretStore:
        from azure.identity import DefaultAzureCredential

        return cls(vault_url, DefaultAzureCredential())

    def get(self, name: str) -> SecretStr:
        """Raises NotFound (message names the secret, never a value)."""
        try:
            value = self._client.get_secret(name).value
        except ResourceNotFoundError:
            raise NotFound(f"Key Vault secret {name!r} does not exist") from None
        if value is None:
            raise NotFound(f"Key Vault secret {name!r} has no value")
        return SecretStr(value)

    def set(self, name: str, value: SecretStr) -> None:
        self._client.set_secret(name, value.get_secret_value(), content_type="vendor-credential")

    def delete(self, name: str) -> None:
        """Delete (soft delete in Key Vault); a missing secret is not an error."""
        try:
            self._client.begin_delete_secret(name).wait()
        except ResourceNotFoundError:
            pass
