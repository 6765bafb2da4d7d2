"""Reading the Bicep templates the way the tests need them.

The Bicep compiler cannot be downloaded here, so the templates are parsed with pycep-parser. Its tree
gives identifiers (a parameter, a variable, a resource) and string literals both as plain strings;
``is_reference`` tells them apart by the names a file declares.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
RBAC = INFRA / "app" / "rbac.bicep"
API = INFRA / "app" / "api.bicep"

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)

# Built-in role definition ids, from Microsoft's "Azure built-in roles" reference. A GUID in
# rbac.bicep that is not here fails the comment test until its name is added.
BUILT_IN_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "43d0d8ad-25c7-4714-9337-8ba259a9fe05": "Monitoring Reader",
    "73c42c96-874c-492b-b04d-ab87d138a893": "Log Analytics Reader",
}
PRIVILEGED_ROLES = {"Owner", "Contributor", "User Access Administrator", "Role Based Access Control Administrator"}


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = BicepParser().parse(file_path=path)
    return parsed


def declared_names(template: dict[str, Any]) -> set[str]:
    return {
        *template.get("parameters", {}),
        *template.get("variables", {}),
        *template.get("resources", {}),
        *template.get("modules", {}),
    }


def is_reference(template: dict[str, Any], value: Any) -> bool:
    """True when ``value`` is a parameter, variable, resource or module of ``template``."""
    return isinstance(value, str) and value in declared_names(template)


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's own properties (pycep nests them one level deeper under a condition
    or a loop)."""
    config: dict[str, Any] = declaration["config"]
    if "condition" in config or "loop_type" in config:
        inner: dict[str, Any] = config["config"]
        return inner
    return config


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: declaration
        for name, declaration in template.get("resources", {}).items()
        if declaration["type"] == kind and not declaration["existing"]
    }


def the_resource(path: Path, kind: str) -> dict[str, Any]:
    found = resources(parse(path), kind)
    assert len(found) == 1, f"{path.name}: expected one {kind}, found {sorted(found)}"
    return body(next(iter(found.values())))


def walk(node: Any) -> Iterator[Any]:
    """Every dict, list and scalar in a parsed tree."""
    yield node
    if isinstance(node, dict):
        for child in node.values():
            yield from walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from walk(child)


def app_settings() -> dict[str, Any]:
    """The function app's settings as name → parsed value."""
    site = the_resource(API, "Microsoft.Web/sites")
    entries = site["properties"]["siteConfig"]["appSettings"]
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"an app setting is set twice: {names}"
    return {entry["name"]: entry["value"] for entry in entries}


def role_guid(template: dict[str, Any], assignment: dict[str, Any]) -> str:
    """The role definition GUID an assignment grants, resolved through the file's variables."""
    function = assignment["properties"]["roleDefinitionId"]["function"]
    assert function["type"] == "subscription_resource_id", function
    reference = function["parameters"]["resource_name_1"]
    value = template["variables"][reference]["value"] if is_reference(template, reference) else reference
    assert isinstance(value, str) and GUID.fullmatch(value), f"role id {reference!r} is not a GUID"
    return value.lower()


def role_assignments(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [body(d) for d in resources(template, "Microsoft.Authorization/roleAssignments").values()]


def module_params(name: str) -> dict[str, Any]:
    """The parameters main.bicep passes to one module."""
    params: dict[str, Any] = body(parse(MAIN)["modules"][name])["params"]
    return params


def literal_through_main(module: str, module_file: Path, value: Any) -> str | None:
    """The literal a module's setting ends up with in a default deployment, or None when it is
    computed at deployment (an endpoint, an output): a literal, or a module parameter passed a
    literal, a main.bicep variable or a main.bicep parameter's default."""
    if not isinstance(value, str):
        return None
    if not is_reference(parse(module_file), value):
        return value
    passed = module_params(module).get(value)
    main = parse(MAIN)
    if not isinstance(passed, str):
        return None
    if not is_reference(main, passed):
        return passed
    if passed in main["parameters"]:
        default = main["parameters"][passed]["default"]
        return default if isinstance(default, str) else None
    if passed in main["variables"]:
        variable = main["variables"][passed]["value"]
        return variable if isinstance(variable, str) and not is_reference(main, variable) else None
    return None
