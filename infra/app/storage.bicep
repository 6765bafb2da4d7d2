// One storage account for the host (deployment package, timers), the Durable task hub (queues,
// tables, lease blobs) and the app's data: `exports` (configuration, runs, snapshots) and
// `segments` (written by the customer-data platform). Entra ID only: shared keys are off.
param name string
param location string
param tags object = {}
param skuName string
param deploymentContainerName string
param exportsContainerName string
param segmentsContainerName string
@allowed(['Enabled', 'Disabled'])
@description('Disabled with private networking (vnetEnabled): the account then answers only on its private endpoints.')
param publicNetworkAccess string = 'Enabled'

var defaultAction = (publicNetworkAccess == 'Disabled') ? 'Deny' : 'Allow'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: without vnetEnabled the Flex app (no fixed outbound IPs) and the customer-data platform reach the account over its public endpoint, Entra ID only (shared keys off); vnetEnabled=true sets defaultAction Deny and disables public access.
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: public network access is Disabled when vnetEnabled=true, Enabled (Entra ID only) otherwise.
  // checkov:skip=CKV_AZURE_206: replication is the storageSku parameter (ZRS by default); segments are rewritten by the data platform each refresh and snapshots rebuilt by a full resync, so geo-replication is the deployer's cost decision.
  // checkov:skip=CKV_AZURE_43: the name is 'st' plus uniqueString(), which checkov cannot evaluate; it is 15 lower-case alphanumerics.
  name: name
  location: location
  tags: tags
  sku: { name: skuName }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // every client uses Entra ID: the app's identity, admins, the data platform
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: defaultAction
    }
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

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName // the Flex Consumption app package
  properties: { publicAccess: 'None' }
}

resource exportsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: exportsContainerName
  properties: { publicAccess: 'None' }
}

resource segmentsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: segmentsContainerName
  properties: { publicAccess: 'None' }
}

output name string = storage.name
output id string = storage.id
