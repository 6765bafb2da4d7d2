"""Settings, models, the ETag-guarded configuration store (Azurite) and Key Vault secrets (real
SecretClient against the Key Vault stand-in transport)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr, ValidationError

from shared.config_store import ConfigStore
from shared.errors import ConcurrencyConflict, NotFound, SettingsError
from shared.models import Connection, Export
from shared.pipeline.rejected import safe_cell
from shared.secrets import KeyVaultSecretStore
from shared.settings import load_settings
from shared.storage import BlobStore
from simulators.keyvault import KeyVaultStandIn, TestCredential


def test_settings_name_every_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPORT_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("EXPORT_SCHEDULE", "every day")
    monkeypatch.setenv("EXPORT_MAX_PARTITIONS", "0")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "EXPORT_SCHEDULE" in message and "six fields" in message
    assert "EXPORT_MAX_PARTITIONS" in message
    assert "EXPORT_STORAGE_ACCOUNT_URL" in message


def test_settings_do_not_print_the_connection_string() -> None:
    settings = load_settings(storage_connection_string="AccountKey=very-secret-key")
    assert "very-secret-key" not in repr(settings)


def export_doc(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "id": "weekly",
        "name": "Weekly",
        "connection_id": "main",
        "target_id": "list-1",
        "field_mapping": {"email": "Email", "first_name": "FirstName"},
        "segments": ["segments/vip"],
    }
    doc.update(overrides)
    return doc


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"field_mapping": {"first_name": "FirstName"}}, "field_mapping"),
        ({"segments": ["../other-tenant/segment"]}, "segments"),
        ({"segments": ["/absolute"]}, "segments"),
        ({"segments": []}, "segments"),
        ({"id": "Bad Id"}, "id"),
        ({"sync_mode": "delete-everything"}, "sync_mode"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_export_validation_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Export.model_validate(export_doc(**overrides))
    assert field in {str(e["loc"][0]) for e in caught.value.errors()}


def test_connection_requires_privacy_consent_and_known_vendor() -> None:
    base = {"id": "main", "display_name": "Main", "vendor": "sendgrid", "secret_name": "conn-main"}
    with pytest.raises(ValidationError, match="consent"):
        Connection.model_validate({**base, "privacy_consent_accepted": False})
    with pytest.raises(ValidationError, match="unknown vendor"):
        Connection.model_validate({**base, "vendor": "mailgun", "privacy_consent_accepted": True})


def test_config_writes_are_guarded_by_etags(blob_store: BlobStore) -> None:
    configs = ConfigStore(blob_store)
    export = Export.model_validate(export_doc())
    etag = configs.put_export(export)
    with pytest.raises(ConcurrencyConflict):
        configs.put_export(export)  # creating again must not overwrite
    loaded, current = configs.get_export("weekly")
    assert current == etag and loaded == export
    # Two admins edit from the same version: the second write loses, with a clear error.
    configs.put_export(export.model_copy(update={"name": "First edit"}), if_match=etag)
    with pytest.raises(ConcurrencyConflict, match="changed by someone else"):
        configs.put_export(export.model_copy(update={"name": "Second edit"}), if_match=etag)
    assert configs.get_export("weekly")[0].name == "First edit"
    with pytest.raises(NotFound):
        configs.get_export("missing")


def test_invalid_stored_document_names_file_and_field(blob_store: BlobStore) -> None:
    blob_store.write_json("config/exports/broken.json", export_doc(id="broken", field_mapping={"name": "n"}))
    from shared.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"broken\.json.*field_mapping"):
        ConfigStore(blob_store).get_export("broken")


def test_key_vault_secrets_through_the_real_secret_client() -> None:
    # A vault URL of its own: the SDK caches bearer challenges per vault for the whole process.
    vault = KeyVaultStandIn(f"https://unit-{uuid.uuid4().hex[:8]}.vault.azure.net")
    credential = TestCredential(vault.token)
    secrets = KeyVaultSecretStore(vault.vault_url, credential, transport=vault)
    secrets.set("conn-main", SecretStr("SG.sample-secret-value"))
    value = secrets.get("conn-main")
    assert value.get_secret_value() == "SG.sample-secret-value"
    assert "sample-secret-value" not in repr(value) and "sample-secret-value" not in str(value)
    # The client met the bearer challenge first, then authenticated with a token for Key Vault.
    assert vault.requests[0][2] is False and all(authenticated for _, _, authenticated in vault.requests[1:])
    assert ("https://vault.azure.net/.default",) in credential.scopes
    secrets.delete("conn-main")
    with pytest.raises(NotFound) as caught:
        secrets.get("conn-main")
    assert "sample-secret-value" not in str(caught.value)


def test_key_vault_rejects_a_wrong_token() -> None:
    vault = KeyVaultStandIn()
    secrets = KeyVaultSecretStore(vault.vault_url, TestCredential("forged"), transport=vault)
    from azure.core.exceptions import ClientAuthenticationError

    with pytest.raises(ClientAuthenticationError):
        secrets.get("anything")


@pytest.mark.parametrize(
    ("value", "safe"), [("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("@x", "'@x"), ("-2", "'-2"), ("ok", "ok")]
)
def test_rejected_rows_cells_cannot_be_formulas(value: str, safe: str) -> None:
    assert safe_cell(value) == safe
