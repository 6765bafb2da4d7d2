// The function app on Flex Consumption (FC1), Python 3.13, running as the user-assigned identity.
// Flex takes runtime, scale and deployment from functionAppConfig; the old app settings for them
// (FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE, ...) are
// deprecated on this plan and are not set.
param name string
param planName string
param location string
param tags object = {}
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param exportsContainerName string
param segmentsContainerName string
param keyVaultUri string
param appInsightsName string
param instanceMemoryMB int
param maximumInstanceCount int
param durableAlwaysReadyInstances int
param zoneRedundant bool = false
@description('Subnet for VNet integration (delegated to Microsoft.App/environments); empty: none.')
param subnetId string = ''
param schedule string
param taskHubName string
@description('Audience of the admin API\'s access tokens: its application id URI, e.g. api://<client id>.')
param adminApiAudience string = ''
@description('Client id of the Mailchimp OAuth app; empty: OAuth connections to Mailchimp are off.')
param mailchimpOAuthClientId string = ''
@description('Client id of the Campaign Monitor OAuth app; empty: OAuth connections to Campaign Monitor are off.')
param campaignMonitorOAuthClientId string = ''

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is the zoneRedundant parameter (off by default: it needs two always-ready instances per group); a missed run is retried by the next timer or an on-demand run.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
    zoneRedundant: zoneRedundant
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the admin HTTP API is called from administrators' machines and checks an Entra ID token on every request; with vnetEnabled the app's outbound traffic is private, inbound stays reachable for the API.
  // checkov:skip=CKV_AZURE_78: Flex Consumption has no FTP or FTPS endpoint (deployments go to the blob container) and rejects siteConfig.ftpsState with ARM error 51021.
  // checkov:skip=CKV_AZURE_17: callers authenticate with Entra ID bearer tokens, not client certificates.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero on demand up to maximumInstanceCount; the durable group keeps durableAlwaysReadyInstances warm, and a lost instance's work is retried from Durable's queues.
  // checkov:skip=CKV_AZURE_213: the app is timer- and queue-driven (Durable Functions), not a load-balanced site; the platform replaces unhealthy instances.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' }) // azd deploys the `api` service here
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    siteConfig: {
      // No ftpsState: Flex Consumption has no FTP endpoint and rejects the property (ARM error 51021).
      minTlsVersion: '1.2'
      http20Enabled: true
      appSettings: [
        // Host storage and the Durable task hub, by identity (no connection string).
        { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.properties.primaryEndpoints.table }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        // DefaultAzureCredential in the app picks the user-assigned identity by this client id.
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        // Telemetry with an Entra ID token of the same identity (App Insights local auth is off).
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        // How the worker process allocates (shared/memory.py, with the measurements): read at process start.
        { name: 'ARROW_DEFAULT_MEMORY_POOL', value: 'system' }
        { name: 'MALLOC_MMAP_THRESHOLD_', value: '1048576' }
        // The app's settings (shared/settings.py): every non-secret EXPORT_* the code reads.
        { name: 'EXPORT_STORAGE_ACCOUNT_URL', value: storage.properties.primaryEndpoints.blob }
        { name: 'EXPORT_CONTAINER', value: exportsContainerName }
        { name: 'EXPORT_SEGMENTS_CONTAINER', value: segmentsContainerName }
        { name: 'EXPORT_KEY_VAULT_URL', value: keyVaultUri }
        { name: 'EXPORT_SCHEDULE', value: schedule }
        { name: 'EXPORT_TASK_HUB', value: taskHubName }
        { name: 'EXPORT_ROWS_PER_PARTITION', value: '150000' }
        { name: 'EXPORT_MAX_PARTITIONS', value: '32' }
        { name: 'EXPORT_MAX_ACTIVITY_WIDTH', value: '16' }
        { name: 'EXPORT_BATCH_CONCURRENCY', value: '4' }
        { name: 'EXPORT_MAX_ATTEMPTS', value: '8' }
        { name: 'EXPORT_VENDOR_RETRY_MAX_SECONDS', value: '300' }
        { name: 'EXPORT_FIRST_POLL_SECONDS', value: '2' }
        { name: 'EXPORT_MAX_POLL_SECONDS', value: '60' }
        { name: 'EXPORT_MASS_REMOVAL_SHARE', value: '0.2' }
        { name: 'EXPORT_REQUEST_TIMEOUT_SECONDS', value: '120' }
        { name: 'EXPORT_SUPPRESSION_LOOKBACK_SECONDS', value: '600' }
        // Durable retries of a failed activity, and the time budget no activity exceeds (host.json's
        // functionTimeout sits above it).
        { name: 'EXPORT_ACTIVITY_RETRY_ATTEMPTS', value: '3' }
        { name: 'EXPORT_ACTIVITY_RETRY_INTERVAL_SECONDS', value: '15' }
        { name: 'EXPORT_ACTIVITY_BUDGET_SECONDS', value: '600' }
        { name: 'EXPORT_POLL_GIVE_UP_SECONDS', value: '1800' }
        // The admin API (shared/api/settings.py): Entra ID tokens of this tenant for adminApiAudience;
        // issuer and key set derive from the tenant when left empty.
        { name: 'EXPORT_API_TENANT_ID', value: tenant().tenantId }
        { name: 'EXPORT_API_AUDIENCE', value: adminApiAudience }
        { name: 'EXPORT_API_ISSUER', value: '' }
        { name: 'EXPORT_API_JWKS_URL', value: '' }
        // OAuth connections: client ids here, client secrets as Key Vault secrets of these names.
        { name: 'EXPORT_API_OAUTH_REDIRECT_URI', value: 'https://${name}.azurewebsites.net/api/oauth/callback' }
        { name: 'EXPORT_API_OAUTH_STATE_KEY_SECRET', value: 'api-oauth-state-key' }
        { name: 'EXPORT_MAILCHIMP_OAUTH_CLIENT_ID', value: mailchimpOAuthClientId }
        { name: 'EXPORT_CAMPAIGN_MONITOR_OAUTH_CLIENT_ID', value: campaignMonitorOAuthClientId }
        // Real vendor hosts at real speed (simulators and the benchmark change these, never Azure).
        { name: 'EXPORT_VENDOR_TIME_SCALE', value: '1' }
        { name: 'EXPORT_VENDOR_BASE_URLS', value: '{}' }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      runtime: {
        name: 'python'
        version: '3.13'
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        // Orchestrator, activities and entities scale together as the `durable` group; a warm
        // instance avoids a cold start on every queue poll after idle.
        alwaysReady: [
          {
            name: 'durable'
            instanceCount: durableAlwaysReadyInstances
          }
        ]
      }
    }
  }
}

output name string = app.name
output uri string = 'https://${app.properties.defaultHostName}'
