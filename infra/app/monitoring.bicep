// Application Insights over a Log Analytics workspace. Local authentication is off: telemetry is
// accepted only with an Entra ID token (the app's identity holds Monitoring Metrics Publisher).
param logAnalyticsName string
param appInsightsName string
param retentionInDays int
param location string
param tags object = {}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: retentionInDays
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true // no instrumentation-key ingestion: only tokens of identities with the publisher role
  }
}

output appInsightsName string = insights.name
output logAnalyticsName string = logs.name
output logAnalyticsCustomerId string = logs.properties.customerId
