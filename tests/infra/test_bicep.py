"""infra/main.bicep parses (pycep-parser: the Bicep compiler cannot be downloaded here) and keeps the
security properties the product promises: identity-based access, no shared keys, TLS 1.2, HTTPS only,
Key Vault with RBAC and purge protection, and app settings the app actually reads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from shared.settings import Settings

MAIN = Path(__file__).resolve().parents[2] / "infra" / "main.bicep"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed: dict[str, Any] = BicepParser().parse(file_path=MAIN)
    return parsed


def resource(template: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [r for r in template["resources"].values() if r["type"] == kind]
    assert len(found) == 1, kind
    return found[0]["config"]


def test_storage_is_identity_only_and_private(template) -> None:
    props = resource(template, "Microsoft.Storage/storageAccounts")["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2" and props["supportsHttpsTrafficOnly"] is True


def test_key_vault_uses_rbac_and_cannot_be_purged(template) -> None:
    props = resource(template, "Microsoft.KeyVault/vaults")["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True and props["enableSoftDelete"] is True


def test_function_app_has_an_identity_and_refuses_plain_http(template) -> None:
    app = resource(template, "Microsoft.Web/sites")
    assert app["identity"]["type"] == "SystemAssigned"
    props = app["properties"]
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["ftpsState"] == "Disabled" and props["siteConfig"]["minTlsVersion"] == "1.2"
    assert props["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}


def test_app_settings_hold_no_secret_and_match_the_settings_model(template) -> None:
    settings = resource(template, "Microsoft.Web/sites")["properties"]["siteConfig"]["appSettings"]
    text = json.dumps(settings, default=str)
    for marker in ("AccountKey", "SharedAccessSignature", "InstrumentationKey=", "client_secret"):
        assert marker not in text
    names = {s["name"] for s in settings}
    exported = {n.removeprefix("EXPORT_").lower() for n in names if n.startswith("EXPORT_")}
    assert exported <= set(Settings.model_fields), exported - set(Settings.model_fields)
    assert {"storage_account_url", "key_vault_url", "schedule"} <= exported
    assert "AzureWebJobsStorage__accountName" in names


def test_the_app_may_read_secrets_but_not_manage_them(template) -> None:
    assignments = [
        r["config"] for r in template["resources"].values() if r["type"] == "Microsoft.Authorization/roleAssignments"
    ]
    text = json.dumps(assignments, default=str)
    assert "keyVaultSecretsUser" in text and "storageBlobDataOwner" in text
    officer = [a for a in assignments if "keyVaultSecretsOfficer" in json.dumps(a, default=str)]
    # the officer role goes only to the principal the deployer names, never to the app
    assert officer and all("secretsOfficerPrincipalId" in json.dumps(a, default=str) for a in officer)


def test_no_parameter_looks_like_an_unprotected_secret(template) -> None:
    for name, parameter in template["parameters"].items():
        last_word = re.findall(r"[A-Z]?[a-z]+", name)[-1].lower()  # apiKey → key, keyVaultPublicAccess → access
        if last_word in ("key", "secret", "password", "token", "credential"):
            assert any("secure" in json.dumps(d, default=str) for d in parameter.get("decorators", [])), name
