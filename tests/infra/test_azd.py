"""`azd up` can run: azure.yaml names the infra and the app, and main.parameters.json feeds main.bicep
parameters that exist from azd environment variables."""

from __future__ import annotations

import json
import re

import yaml

from tests.infra.templates import INFRA, MAIN, ROOT, parse


def azure_yaml() -> dict:
    path = ROOT / "azure.yaml"
    assert path.is_file(), "azure.yaml is missing: azd cannot provision or deploy"
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_azure_yaml_points_at_infra_and_the_function_app() -> None:
    project = azure_yaml()
    infra = project.get("infra", {})
    assert infra.get("provider", "bicep") == "bicep"
    assert (ROOT / infra.get("path", "infra") / f"{infra.get('module', 'main')}.bicep") == MAIN
    services = project["services"]
    assert list(services) == ["api"]
    api = services["api"]
    assert (api["language"], api["host"]) == ("python", "function")
    app_dir = (ROOT / api["project"]).resolve()
    for needed in ("function_app.py", "host.json", "requirements.txt", ".funcignore"):
        assert (app_dir / needed).is_file(), f"azd would publish {app_dir}, which has no {needed}"


def test_azd_finds_the_site_by_its_service_tag() -> None:
    site_tags = json.dumps(parse(INFRA / "app" / "api.bicep")["resources"]["app"]["config"]["tags"])
    assert '"\'azd-service-name\'": "api"' in site_tags  # pycep keeps the quotes of a quoted key


def test_main_parameters_feed_parameters_main_bicep_declares() -> None:
    document = json.loads((INFRA / "main.parameters.json").read_text())
    declared = parse(MAIN)["parameters"]
    given = document["parameters"]
    assert set(given) <= set(declared), set(given) - set(declared)
    assert given["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert given["location"]["value"] == "${AZURE_LOCATION}"
    for name, entry in given.items():
        assert re.fullmatch(r"\$\{[A-Z][A-Z0-9_]*\}", entry["value"]), f"{name}: not an azd environment variable"
    # every parameter azd may leave unset has a default in main.bicep
    for name in set(given) - {"environmentName"}:
        assert declared[name].get("default") is not None, f"{name} needs a default for an unset variable"


def test_outputs_name_what_deployers_need_next() -> None:
    outputs = parse(MAIN)["outputs"]
    for name in (
        "AZURE_FUNCTION_NAME",
        "AZURE_KEY_VAULT_NAME",
        "AZURE_STORAGE_ACCOUNT_NAME",
        "LOG_ANALYTICS_WORKSPACE_ID",
    ):
        assert name in outputs, name
