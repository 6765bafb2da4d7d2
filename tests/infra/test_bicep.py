"""infra/ parses (pycep-parser: the Bicep compiler cannot be downloaded here) and keeps the properties
the product promises: keyless access, no shared keys, purge protection, least-privilege roles, App
Insights that accepts only Entra ID tokens, Flex Consumption on Python 3.13, optional private
networking behind one switch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.infra.templates import (
    API,
    BUILT_IN_ROLES,
    GUID,
    INFRA,
    MAIN,
    PRIVILEGED_ROLES,
    RBAC,
    app_settings,
    bicep_files,
    body,
    is_reference,
    module_params,
    parse,
    resources,
    role_assignments,
    role_guid,
    the_resource,
)

APP = INFRA / "app"


def test_the_templates_are_the_azd_shape() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in bicep_files()}
    assert {"main.bicep", "app/rbac.bicep", "app/api.bicep"} <= names
    assert (INFRA / "abbreviations.json").is_file() and (INFRA / "main.parameters.json").is_file()
    assert parse(MAIN)["globals"]["scope"]["value"] == "resourceGroup"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_bicep_file_parses(path: Path) -> None:
    template = parse(path)
    assert template.get("resources") or template.get("modules"), f"{path.name} declares nothing"


def test_every_module_exists_and_gets_exactly_the_parameters_it_declares() -> None:
    """What `bicep build` would catch first: a missing module file, a misspelt or missing parameter."""
    for name, module in parse(MAIN)["modules"].items():
        path = MAIN.parent / module["detail"]["path"]
        assert path.is_file(), f"module {name}: {path} does not exist"
        declared = parse(path)["parameters"]
        passed = set(body(module)["params"])
        assert passed <= set(declared), f"module {name} is passed unknown parameters {passed - set(declared)}"
        required = {p for p, d in declared.items() if d.get("default") is None}
        assert required <= passed, f"module {name} lacks required parameters {required - passed}"


def test_every_module_output_main_reads_is_declared_by_the_module() -> None:
    modules = parse(MAIN)["modules"]
    read = set(re.findall(r"\b(\w+)\.outputs\.(\w+)", MAIN.read_text()))
    assert read
    for module, output in read:
        assert module in modules, f"{module} is not a module of main.bicep"
        declared = parse(MAIN.parent / modules[module]["detail"]["path"])["outputs"]
        assert output in declared, f"module {module} has no output {output}"


def test_resource_names_come_from_the_abbreviations_and_one_resource_token() -> None:
    main = parse(MAIN)
    abbreviations = json.loads((INFRA / "abbreviations.json").read_text())
    token = json.dumps(main["variables"]["resourceToken"]["value"])
    for part in ("subscription", "resource_group", "environmentName", "location", "unique_string"):
        assert part in token, f"resourceToken does not depend on {part}"
    used = set(re.findall(r"abbrs\.(\w+)", MAIN.read_text()))
    assert used and used <= set(abbreviations), used - set(abbreviations)


def test_names_fit_azure_limits_at_their_longest() -> None:
    """uniqueString() is 13 characters: the longest vault name (with the longest suffix) and the storage
    account name stay within their limits (24 characters each; storage: lower-case letters and digits)."""
    main = parse(MAIN)
    abbreviations = json.loads((INFRA / "abbreviations.json").read_text())
    suffix = next(
        d["argument"] for d in main["parameters"]["keyVaultNameSuffix"]["decorators"] if d["type"] == "max_length"
    )
    vault = len(abbreviations["keyVaultVaults"]) + 13 + 1 + suffix
    storage = abbreviations["storageStorageAccounts"]
    assert vault <= 24, vault
    assert re.fullmatch(r"[a-z0-9]+", storage) and len(storage) + 13 <= 24
    assert module_params("storage")["name"] == "${abbrs.storageStorageAccounts}${resourceToken}"


def test_storage_is_entra_id_only() -> None:
    props = the_resource(APP / "storage.bicep", "Microsoft.Storage/storageAccounts")["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False and props["defaultToOAuthAuthentication"] is True
    assert props["minimumTlsVersion"] == "TLS1_2" and props["supportsHttpsTrafficOnly"] is True


def test_storage_holds_the_package_and_the_apps_containers() -> None:
    storage = parse(APP / "storage.bicep")
    containers = resources(storage, "Microsoft.Storage/storageAccounts/blobServices/containers")
    names = {body(c)["name"] for c in containers.values()}
    assert names == {"deploymentContainerName", "exportsContainerName", "segmentsContainerName"}
    passed = module_params("storage")
    assert (passed["exportsContainerName"], passed["segmentsContainerName"]) == (
        "exportsContainerName",
        "segmentsContainerName",
    )
    variables = parse(MAIN)["variables"]
    assert variables["exportsContainerName"]["value"] == "exports"
    assert variables["segmentsContainerName"]["value"] == "segments"


def test_key_vault_uses_rbac_and_cannot_be_purged() -> None:
    props = the_resource(APP / "keyvault.bicep", "Microsoft.KeyVault/vaults")["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True and props["enableSoftDelete"] is True
    assert props["softDeleteRetentionInDays"] >= 7


def test_a_redeploy_after_a_delete_can_take_a_new_vault_name() -> None:
    """Purge protection reserves a deleted vault's name for its retention period; the name carries
    the resource token and a deployer-chosen suffix, so a redeploy can step around it."""
    main = parse(MAIN)
    name = json.dumps(main["variables"]["keyVaultName"]["value"])
    assert "resourceToken" in name and "keyVaultNameSuffix" in name
    assert main["parameters"]["keyVaultNameSuffix"]["default"] == ""
    assert module_params("keyVault")["name"] == "keyVaultName"


def test_app_insights_accepts_only_entra_id_tokens_over_log_analytics() -> None:
    props = the_resource(APP / "monitoring.bicep", "Microsoft.Insights/components")["properties"]
    disable_local_auth = {k.lower(): v for k, v in props.items()}["disablelocalauth"]
    assert disable_local_auth is True
    assert props["WorkspaceResourceId"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "logs", "operand_2": "id"}}
    }


def test_the_app_runs_python_3_13_on_flex_consumption() -> None:
    plan = the_resource(API, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    config = the_resource(API, "Microsoft.Web/sites")["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.13"}
    scale = config["scaleAndConcurrency"]
    assert scale["instanceMemoryMB"] == "instanceMemoryMB" and scale["maximumInstanceCount"] == "maximumInstanceCount"
    assert scale["alwaysReady"] == [{"name": "durable", "instanceCount": "durableAlwaysReadyInstances"}]
    main = parse(MAIN)["parameters"]
    assert main["durableAlwaysReadyInstances"]["default"] == 1
    assert main["instanceMemoryMB"]["default"] == 2048 and isinstance(main["maximumInstanceCount"]["default"], int)


def test_the_app_runs_as_the_user_assigned_identity_created_before_it() -> None:
    site = the_resource(API, "Microsoft.Web/sites")
    assert site["identity"]["type"] == "UserAssigned"
    assert list(site["identity"]["userAssignedIdentities"]) == ["'${identityId}'"]
    deployment = site["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert deployment["type"] == "blobContainer"
    assert deployment["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    api = parse(MAIN)["modules"]["api"]
    assert "rbac" in body(api)["dependsOn"], "the site must wait for its role assignments"
    assert module_params("api")["identityId"]["operator"]["operands"]["operand_1"] == "identity"


def test_the_site_refuses_plain_http() -> None:
    site = the_resource(API, "Microsoft.Web/sites")["properties"]
    assert site["httpsOnly"] is True and site["siteConfig"]["minTlsVersion"] == "1.2"


def test_host_storage_and_telemetry_use_the_identity() -> None:
    settings = app_settings()
    for service in ("blob", "queue", "table"):  # Durable needs all three
        uri = settings[f"AzureWebJobsStorage__{service}ServiceUri"]
        assert json.dumps(uri).count(service) >= 1, uri
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in settings
    assert "AzureWebJobsStorage" not in settings, "a connection string would carry the account key"


def test_no_setting_flex_consumption_deprecates() -> None:
    deprecated = {
        "FUNCTIONS_EXTENSION_VERSION",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_WORKER_RUNTIME_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "ENABLE_ORYX_BUILD",
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    }
    assert not deprecated & set(app_settings())
    # Site properties Flex Consumption rejects (ARM error 51021 in the regions that enforce it).
    rejected = {
        "linuxFxVersion",
        "windowsFxVersion",
        "netFrameworkVersion",
        "pythonVersion",
        "alwaysOn",
        "ftpsState",
        "use32BitWorkerProcess",
        "preWarmedInstanceCount",
        "functionsRuntimeScaleMonitoringEnabled",
        "functionAppScaleLimit",
    }
    site = the_resource(API, "Microsoft.Web/sites")["properties"]
    assert not rejected & set(site["siteConfig"]), rejected & set(site["siteConfig"])
    assert not {"containerSize", "dailyMemoryTimeQuota"} & set(site)


def test_nothing_secret_in_app_settings_outputs_or_parameters() -> None:
    text = json.dumps(app_settings())
    for marker in ("AccountKey", "SharedAccessSignature", "InstrumentationKey=", "listKeys", "client_secret", "sig="):
        assert marker not in text, marker
    for path in bicep_files():
        source = path.read_text()
        assert "listKeys(" not in source and "listkeys(" not in source.lower(), f"{path.name} reads an account key"
        for name, parameter in parse(path)["parameters"].items():
            last_word = re.findall(r"[A-Z]?[a-z]+", name)[-1].lower()
            if last_word in ("key", "secret", "password", "token", "credential"):
                decorators = json.dumps(parameter.get("decorators", []))
                assert "secure" in decorators, f"{path.name}: parameter {name} looks secret but is not @secure()"


# ---- Roles ---------------------------------------------------------------------------------------


def test_role_assignments_live_in_rbac_bicep_only() -> None:
    for path in bicep_files():
        if path != RBAC:
            found = resources(parse(path), "Microsoft.Authorization/roleAssignments")
            assert not found, f"{path.name} assigns roles {sorted(found)}: keep them in app/rbac.bicep"


def test_every_role_guid_carries_its_roles_name_in_a_comment() -> None:
    lines = [line for line in RBAC.read_text().splitlines() if GUID.search(line)]
    assert len(lines) >= 6
    for line in lines:
        match = GUID.search(line)
        assert match
        guid = match.group(0).lower()
        assert guid in BUILT_IN_ROLES, f"unknown role GUID {guid}: add it with its name to BUILT_IN_ROLES"
        comment = line.partition("//")[2].strip()
        assert comment == BUILT_IN_ROLES[guid], f"{guid} is {BUILT_IN_ROLES[guid]!r}, its comment says {comment!r}"


def grants(principal: str) -> set[tuple[str, str]]:
    """(role name, scope) of every assignment to one principal parameter of rbac.bicep."""
    rbac = parse(RBAC)
    return {
        (BUILT_IN_ROLES[role_guid(rbac, a)], a["scope"])
        for a in role_assignments(rbac)
        if a["properties"]["principalId"] == principal
    }


def test_the_app_identity_holds_exactly_the_roles_it_needs_and_none_that_administer() -> None:
    app = grants("appPrincipalId")
    assert not {role for role, _ in app} & PRIVILEGED_ROLES
    assert app == {
        ("Storage Blob Data Owner", "storage"),
        ("Storage Queue Data Contributor", "storage"),
        ("Storage Table Data Contributor", "storage"),
        ("Key Vault Secrets User", "vault"),
        ("Key Vault Secrets Officer", "vault"),
        ("Monitoring Metrics Publisher", "insights"),
    }
    assert module_params("rbac")["appPrincipalId"]["operator"]["operands"]["operand_1"] == "identity"


def test_no_privileged_role_appears_anywhere_in_infra() -> None:
    privileged = {guid for guid, name in BUILT_IN_ROLES.items() if name in PRIVILEGED_ROLES}
    for path in bicep_files():
        assert not privileged & {g.lower() for g in GUID.findall(path.read_text())}, path.name


def test_admins_write_configuration_and_manage_secrets_and_the_data_platform_writes_segments_only() -> None:
    rbac = parse(RBAC)
    containers = {
        name: body(d)["name"]
        for name, d in rbac["resources"].items()
        if d["type"] == "Microsoft.Storage/storageAccounts/blobServices/containers"
    }
    admins = grants("adminGroupPrincipalId")
    assert ("Storage Blob Data Contributor", "exportsContainer") in admins
    assert ("Key Vault Secrets Officer", "vault") in admins
    assert not {role for role, _ in admins} & PRIVILEGED_ROLES
    assert containers["exportsContainer"] == "exportsContainerName"
    assert grants("segmentsWriterPrincipalId") == {("Storage Blob Data Contributor", "segmentsContainer")}
    assert containers["segmentsContainer"] == "segmentsContainerName"
    # optional principals: nothing is granted when the deployer leaves them empty
    for assignment in resources(rbac, "Microsoft.Authorization/roleAssignments").values():
        principal = body(assignment)["properties"]["principalId"]
        if principal != "appPrincipalId":
            assert principal in json.dumps(assignment["config"]["condition"]), principal


# ---- Private networking --------------------------------------------------------------------------


def test_private_networking_is_one_switch_that_closes_public_access() -> None:
    main = parse(MAIN)
    assert main["parameters"]["vnetEnabled"]["default"] is False
    assert "vnetEnabled" in json.dumps(main["modules"]["network"]["config"]["condition"])
    access = main["variables"]["publicNetworkAccess"]["value"]["operator"]["operands"]
    assert (access["condition"], access["true_value"], access["false_value"]) == ("vnetEnabled", "Disabled", "Enabled")
    assert module_params("storage")["publicNetworkAccess"] == "publicNetworkAccess"
    assert module_params("keyVault")["publicNetworkAccess"] == "publicNetworkAccess"
    for path, kind in (
        (APP / "storage.bicep", "Microsoft.Storage/storageAccounts"),
        (APP / "keyvault.bicep", "Microsoft.KeyVault/vaults"),
    ):
        props = the_resource(path, kind)["properties"]
        # keyvault.bicep writes '${publicNetworkAccess}' (see its comment): the same value as a string
        assert props["publicNetworkAccess"] in ("publicNetworkAccess", "${publicNetworkAccess}"), path.name
        assert props["networkAcls"]["defaultAction"] == "defaultAction"
        rule = parse(path)["variables"]["defaultAction"]["value"]["operator"]["operands"]
        condition = rule["condition"]["operator"]
        assert condition["type"] == "equals"
        assert condition["operands"] == {"operand_1": "publicNetworkAccess", "operand_2": "Disabled"}
        assert rule["true_value"] == "Deny" and rule["false_value"] == "Allow"
    subnet = module_params("api")["subnetId"]["operator"]["operands"]
    assert subnet["condition"] == "vnetEnabled" and subnet["false_value"] == ""


def test_the_vnet_has_private_endpoints_for_blob_queue_table_and_key_vault() -> None:
    network = parse(APP / "network.bicep")
    assert network["variables"]["storageServices"]["value"] == ["blob", "queue", "table"]
    endpoints = resources(network, "Microsoft.Network/privateEndpoints")
    group_ids = {json.dumps(body(e)["properties"]["privateLinkServiceConnections"]) for e in endpoints.values()}
    assert any('"service"' in g for g in group_ids) and any('"vault"' in g for g in group_ids)
    zones = [body(z)["name"] for z in resources(network, "Microsoft.Network/privateDnsZones").values()]
    assert "privatelink.${service}.${environment().suffixes.storage}" in zones
    assert (
        "keyVaultZoneName" in zones
        and network["variables"]["keyVaultZoneName"]["value"] == "privatelink.vaultcore.azure.net"
    )
    links = resources(network, "Microsoft.Network/privateDnsZones/virtualNetworkLinks")
    assert len(links) == 2 and len(resources(network, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups")) == 2
    vnet = the_resource(APP / "network.bicep", "Microsoft.Network/virtualNetworks")
    delegations = json.dumps([s["properties"].get("delegations") for s in vnet["properties"]["subnets"]])
    assert "Microsoft.App/environments" in delegations


# ---- checkov skips -------------------------------------------------------------------------------


def test_every_checkov_skip_carries_its_reason_in_line() -> None:
    skips = 0
    for path in bicep_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" in line:
                skips += 1
                match = re.search(r"//\s*checkov:skip=(CKV2?_[A-Z]+_\d+):\s*(.+)", line)
                assert match, f"{path.name}:{number}: a skip needs `// checkov:skip=CKV_...: reason`"
                assert len(match.group(2).split()) >= 6, f"{path.name}:{number}: say why {match.group(1)} is skipped"
    assert skips, "no checkov skip found: the scan of the parsed files would have nothing to explain"


def test_no_reference_is_left_dangling_in_an_app_setting() -> None:
    """Every app setting value that names something names a parameter of api.bicep (pycep shows
    identifiers and literals alike, so a typo would otherwise become a literal string)."""
    api = parse(API)
    for name, value in app_settings().items():
        for root in accessed_roots(value):
            assert is_reference(api, root), f"{name}: {root} is not declared in api.bicep"


def accessed_roots(node: object) -> list[str]:
    """The identifiers at the left of every `a.b.c` in a parsed value."""
    if isinstance(node, dict):
        operator = node.get("operator")
        if isinstance(operator, dict) and operator.get("type") == "property_accessor":
            first = operator["operands"]["operand_1"]
            return [first] if isinstance(first, str) else accessed_roots(first)
        return [root for child in node.values() for root in accessed_roots(child)]
    if isinstance(node, list):
        return [root for child in node for root in accessed_roots(child)]
    return []
