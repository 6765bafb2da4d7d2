// Segment exports to email platforms: everything the function app needs, in one resource group.
// Keyless throughout: a user-assigned identity, created (and granted its roles) before the site,
// reaches Storage, Key Vault and Application Insights with Entra ID. No key or connection string
// sits in an app setting. Deploy with `azd up` or `az deployment group create` (docs/DEPLOY.md).
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Environment name (azd: AZURE_ENV_NAME). Part of the resource token, so two environments never share names.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer the Flex Consumption plan.')
@metadata({ azd: { type: 'location' } })
param location string = resourceGroup().location

@description('Private networking: VNet integration of the app, private endpoints for blob, queue, table and Key Vault, public network access off.')
param vnetEnabled bool = false

@allowed([512, 2048, 4096])
@description('Memory of each Flex Consumption instance (MB); CPU and network scale with it.')
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
@description('Most instances the app scales out to (all groups together). The platform may refuse a value under its current minimum.')
param maximumInstanceCount int = 40

@minValue(0)
@maxValue(10)
@description('Instances kept warm for the Durable group (orchestrator, activities); Microsoft recommends 1 for Durable on Flex. Billed while idle.')
param durableAlwaysReadyInstances int = 1

@description('Spread the plan over availability zones (needs at least two always-ready instances per group and a region that offers it).')
param zoneRedundant bool = false

@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
@description('Replication of the storage account (exports configuration, runs, snapshots, segments, Durable task hub).')
param storageSku string = 'Standard_ZRS'

@maxLength(6)
@description('Added to the Key Vault name. Purge protection keeps a deleted vault\'s name for its retention period: set a new suffix (e.g. "r2") to redeploy after deleting the resource group.')
param keyVaultNameSuffix string = ''

@minValue(30)
@maxValue(730)
@description('Days Log Analytics keeps the app\'s telemetry.')
param logRetentionDays int = 30

@description('Object id of the administrators\' Entra group: writes export configuration, reads runs, manages connection secrets, queries telemetry. Empty: no grant.')
param adminGroupPrincipalId string = ''

@description('Object id of the principal that writes segment folders (the customer-data platform). Gets write on the segments container only. Empty: no grant.')
param segmentsWriterPrincipalId string = ''

@allowed(['ServicePrincipal', 'Group', 'User'])
@description('Kind of segmentsWriterPrincipalId.')
param segmentsWriterPrincipalType string = 'ServicePrincipal'

@description('NCRONTAB (six fields, UTC) of the scheduled refresh that starts one run per enabled export.')
param schedule string = '0 30 2 * * *'

@description('Audience of the admin API\'s tokens: the application id URI of its app registration (api://<client id>; docs/DEPLOY.md). Empty: the API refuses every call.')
param adminApiAudience string = ''

@description('Client id of the Mailchimp OAuth app (connections by OAuth); its secret goes to Key Vault as mailchimp-oauth-client-secret.')
param mailchimpOAuthClientId string = ''

@description('Client id of the Campaign Monitor OAuth app; its secret goes to Key Vault as campaign-monitor-oauth-client-secret.')
param campaignMonitorOAuthClientId string = ''

@description('Durable task hub name (letters and digits, 3-45). Change it only between deployments with no run in flight.')
param taskHubName string = 'SegmentExports'

var abbrs = loadJsonContent('abbreviations.json')
// One token per subscription, resource group, environment and region: names are stable across
// redeploys and unique across environments.
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

var functionAppName = '${abbrs.webSitesFunctions}${resourceToken}'
var keyVaultName = empty(keyVaultNameSuffix) ? '${abbrs.keyVaultVaults}${resourceToken}' : '${abbrs.keyVaultVaults}${resourceToken}-${keyVaultNameSuffix}'
var deploymentContainerName = 'app-package'
var exportsContainerName = 'exports'
var segmentsContainerName = 'segments'
// With private networking, Storage and Key Vault answer only on their private endpoints.
var publicNetworkAccess = vnetEnabled ? 'Disabled' : 'Enabled'

module identity 'app/identity.bicep' = {
  name: 'identity'
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    appInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    retentionInDays: logRetentionDays
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    skuName: storageSku
    deploymentContainerName: deploymentContainerName
    exportsContainerName: exportsContainerName
    segmentsContainerName: segmentsContainerName
    publicNetworkAccess: publicNetworkAccess
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyVault'
  params: {
    name: keyVaultName
    location: location
    tags: tags
    publicNetworkAccess: publicNetworkAccess
  }
}

// Every role assignment, granted before the site exists so its first start already has them.
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    exportsContainerName: exportsContainerName
    segmentsContainerName: segmentsContainerName
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    appPrincipalId: identity.outputs.principalId
    adminGroupPrincipalId: adminGroupPrincipalId
    segmentsWriterPrincipalId: segmentsWriterPrincipalId
    segmentsWriterPrincipalType: segmentsWriterPrincipalType
  }
}

module network 'app/network.bicep' = if (vnetEnabled) {
  name: 'network'
  params: {
    vnetName: '${abbrs.networkVirtualNetworks}${resourceToken}'
    nsgPrefix: abbrs.networkNetworkSecurityGroups
    privateEndpointPrefix: abbrs.networkPrivateEndpoints
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    exportsContainerName: exportsContainerName
    segmentsContainerName: segmentsContainerName
    keyVaultUri: keyVault.outputs.uri
    appInsightsName: monitoring.outputs.appInsightsName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    zoneRedundant: zoneRedundant
    subnetId: vnetEnabled ? network.outputs.appSubnetId : ''
    schedule: schedule
    taskHubName: taskHubName
    adminApiAudience: adminApiAudience
    mailchimpOAuthClientId: mailchimpOAuthClientId
    campaignMonitorOAuthClientId: campaignMonitorOAuthClientId
  }
  dependsOn: [
    rbac
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.logAnalyticsCustomerId
