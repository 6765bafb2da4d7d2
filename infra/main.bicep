// Segment exports to email platforms: everything the function app needs in one resource group.
// Identity-based throughout: the app reaches Storage and Key Vault with its managed identity, so no
// connection string or key is stored in app settings.

@description('Short name used to derive resource names (lower-case letters and digits).')
@minLength(3)
@maxLength(11)
param baseName string

param location string = resourceGroup().location

@description('NCRONTAB (six fields) of the scheduled refresh that starts one export run per enabled export.')
param schedule string = '0 30 2 * * *'

@description('Object id of a group or user allowed to manage connection secrets in Key Vault (optional).')
param secretsOfficerPrincipalId string = ''

@description('Allow public network access to Key Vault (set false when private endpoints are added).')
param keyVaultPublicAccess bool = true

var suffix = uniqueString(resourceGroup().id, baseName)
var storageName = toLower('${baseName}${take(suffix, 13)}')
var deploymentContainer = 'app-package'
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the Flex Consumption app without VNet integration and the customer-data platform reach the account over its public endpoint; access is Entra ID only (shared keys off). Add a VNet and private endpoints to deny by default.
  // checkov:skip=CKV_AZURE_206: zone-redundant (ZRS); segments are re-written by the data platform each refresh and snapshots are rebuilt by a full resync, so geo-replication is not worth its cost here.
  // checkov:skip=CKV_AZURE_43: the name is built from baseName and uniqueString(), which checkov cannot evaluate; it is lower-case alphanumeric and at most 24 characters.
  name: storageName
  location: location
  sku: { name: 'Standard_ZRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // every client uses Entra ID: the app's identity, admins' accounts
    defaultToOAuthAuthentication: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource exportsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'exports' // configuration, runs, snapshots
}

resource segmentsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'segments' // written by the customer-data platform
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: public by default because the app has no VNet integration (access is Entra ID + RBAC only); keyVaultPublicAccess=false denies all but trusted services once private endpoints exist.
  name: 'kv-${baseName}-${take(suffix, 6)}'
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: keyVaultPublicAccess ? 'Enabled' : 'Disabled'
    networkAcls: { bypass: 'AzureServices', defaultAction: keyVaultPublicAccess ? 'Allow' : 'Deny' }
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${baseName}-${take(suffix, 6)}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${baseName}-${take(suffix, 6)}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true // telemetry is sent with the app's identity, not an instrumentation key
  }
}

// Flex Consumption: scales per function, supports identity-based deployment storage and VNet
// integration, and bills per execution — exports run once per refresh, not all day.
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy of Flex Consumption is regional; a missed export run is retried by the next timer or an on-demand run.
  name: 'plan-${baseName}-${take(suffix, 6)}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the admin HTTP API is called from administrators' machines and authenticates every request with an Entra ID token; restrict with access restrictions or a private endpoint where the network allows.
  // checkov:skip=CKV_AZURE_17: callers authenticate with Entra ID bearer tokens, not client certificates.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero per execution; exports run once per refresh and resume from their checkpoints.
  // checkov:skip=CKV_AZURE_213: the app is timer- and queue-driven (Durable Functions), not a load-balanced web site; the platform restarts unhealthy workers.
  name: 'func-${baseName}-${take(suffix, 6)}'
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertMode: 'Optional'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'EXPORT_STORAGE_ACCOUNT_URL', value: storage.properties.primaryEndpoints.blob }
        { name: 'EXPORT_CONTAINER', value: exportsContainer.name }
        { name: 'EXPORT_SEGMENTS_CONTAINER', value: segmentsContainer.name }
        { name: 'EXPORT_KEY_VAULT_URL', value: vault.properties.vaultUri }
        { name: 'EXPORT_SCHEDULE', value: schedule }
        { name: 'EXPORT_TASK_HUB', value: 'SegmentExports' }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      runtime: { name: 'python', version: '3.11' }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
    }
  }
}

// The Durable task hub lives in the same account: blobs, queues and tables.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, app.id, roles.storageBlobDataOwner)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, app.id, roles.storageQueueDataContributor)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, app.id, roles.storageTableDataContributor)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// The app reads connection credentials; it never lists or writes them.
resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, app.id, roles.keyVaultSecretsUser)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsOfficerPrincipalId)) {
  scope: vault
  name: guid(vault.id, secretsOfficerPrincipalId, roles.keyVaultSecretsOfficer)
  properties: {
    principalId: secretsOfficerPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}

output functionAppName string = app.name
output functionAppHostName string = app.properties.defaultHostName
output keyVaultUri string = vault.properties.vaultUri
output storageAccountName string = storage.name
