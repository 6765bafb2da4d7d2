// Every role assignment of the deployment, in one place. Each grant is scoped to the smallest
// resource that works: the app's identity never holds Owner, Contributor or any role that can
// grant roles; people and the data platform get data-plane roles on one container or vault.
param storageAccountName string
param exportsContainerName string
param segmentsContainerName string
param keyVaultName string
param appInsightsName string
param logAnalyticsName string

@description('Principal id of the app\'s user-assigned identity.')
param appPrincipalId string

@description('Object id of the administrators\' group; empty grants nothing.')
param adminGroupPrincipalId string = ''

@description('Object id of the principal that writes segments; empty grants nothing.')
param segmentsWriterPrincipalId string = ''

@allowed(['ServicePrincipal', 'Group', 'User'])
param segmentsWriterPrincipalType string = 'ServicePrincipal'

// Built-in role definition ids (the same in every tenant).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
var monitoringReader = '43d0d8ad-25c7-4714-9337-8ba259a9fe05' // Monitoring Reader
var logAnalyticsReader = '73c42c96-874c-492b-b04d-ab87d138a893' // Log Analytics Reader

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource exportsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: exportsContainerName
}

resource segmentsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: segmentsContainerName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

// ---- The app's identity -------------------------------------------------------------------
// The host keeps its deployment package, timer and Durable lease blobs in this account, and the
// app reads segments and writes runs: blob data owner, as the Functions host requires for
// AzureWebJobsStorage.
resource appBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, appPrincipalId, storageBlobDataOwner)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
  }
}

// Durable Functions' work-item and control queues.
resource appQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, appPrincipalId, storageQueueDataContributor)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
  }
}

// Durable Functions' history and instance tables.
resource appTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, appPrincipalId, storageTableDataContributor)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
  }
}

// Runs read each connection's credential.
resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUser)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
  }
}

// Connection management through the admin API stores, rotates and deletes credentials. Secrets
// only, this vault only: no keys, certificates or access control.
resource appSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, appPrincipalId, keyVaultSecretsOfficer)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
  }
}

// Application Insights has local auth disabled: without this role every span, metric and log the
// host and the app send is refused.
resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, appPrincipalId, monitoringMetricsPublisher)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}

// ---- Administrators ------------------------------------------------------------------------
// Write export configuration and read runs, reports and snapshots: the exports container only.
resource adminExportsContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(adminGroupPrincipalId)) {
  scope: exportsContainer
  name: guid(exportsContainer.id, adminGroupPrincipalId, storageBlobDataContributor)
  properties: {
    principalId: adminGroupPrincipalId
    principalType: 'Group'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

// Store and rotate connection credentials directly (break-glass next to the admin API).
resource adminSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(adminGroupPrincipalId)) {
  scope: vault
  name: guid(vault.id, adminGroupPrincipalId, keyVaultSecretsOfficer)
  properties: {
    principalId: adminGroupPrincipalId
    principalType: 'Group'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
  }
}

// Follow a run in Application Insights (Logs, transaction search, metrics).
resource adminInsightsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(adminGroupPrincipalId)) {
  scope: insights
  name: guid(insights.id, adminGroupPrincipalId, monitoringReader)
  properties: {
    principalId: adminGroupPrincipalId
    principalType: 'Group'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringReader)
  }
}

// Query the workspace behind Application Insights (AppTraces, AppRequests).
resource adminLogsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(adminGroupPrincipalId)) {
  scope: logs
  name: guid(logs.id, adminGroupPrincipalId, logAnalyticsReader)
  properties: {
    principalId: adminGroupPrincipalId
    principalType: 'Group'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReader)
  }
}

// ---- The customer-data platform ------------------------------------------------------------
// Writes segment folders: the segments container and nothing else.
resource segmentsWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(segmentsWriterPrincipalId)) {
  scope: segmentsContainer
  name: guid(segmentsContainer.id, segmentsWriterPrincipalId, storageBlobDataContributor)
  properties: {
    principalId: segmentsWriterPrincipalId
    principalType: segmentsWriterPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}
