// Private networking (vnetEnabled=true): the app's outbound traffic enters a VNet through
// regional VNet integration; blob, queue, table and Key Vault answer on private endpoints whose
// names resolve through private DNS zones linked to the VNet. Public access to both is then off
// (storage.bicep, keyvault.bicep).
param vnetName string
param nsgPrefix string
param privateEndpointPrefix string
param location string
param tags object = {}
param storageAccountName string
param keyVaultName string

param addressPrefix string = '10.40.0.0/16'
param appSubnetPrefix string = '10.40.1.0/24'
param privateEndpointSubnetPrefix string = '10.40.2.0/24'

// The Durable task hub needs all three storage services, not just blob.
var storageServices = ['blob', 'queue', 'table']
// Key Vault's private zone has no environment() suffix; this is the public-cloud zone.
var keyVaultZoneName = 'privatelink.vaultcore.azure.net'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${nsgPrefix}${vnetName}-app'
  location: location
  tags: tags
  properties: { securityRules: [] } // the default rules: VNet traffic in, nothing from the internet
}

resource endpointNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${nsgPrefix}${vnetName}-pe'
  location: location
  tags: tags
  properties: { securityRules: [] }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [addressPrefix] }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          networkSecurityGroup: { id: appNsg.id }
          // Flex Consumption integrates through a subnet delegated to Microsoft.App/environments.
          delegations: [
            {
              name: 'flex-consumption'
              properties: { serviceName: 'Microsoft.App/environments' }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          networkSecurityGroup: { id: endpointNsg.id }
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource storageZones 'Microsoft.Network/privateDnsZones@2020-06-01' = [for service in storageServices: {
  name: 'privatelink.${service}.${environment().suffixes.storage}'
  location: 'global'
  tags: tags
}]

resource storageZoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (service, i) in storageServices: {
  parent: storageZones[i]
  name: '${vnetName}-${service}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: vnet.id }
  }
}]

resource storageEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for service in storageServices: {
  name: '${privateEndpointPrefix}${storageAccountName}-${service}'
  location: location
  tags: tags
  properties: {
    subnet: { id: '${vnet.id}/subnets/private-endpoints' }
    privateLinkServiceConnections: [
      {
        name: '${storageAccountName}-${service}'
        properties: {
          privateLinkServiceId: storage.id
          groupIds: [service]
        }
      }
    ]
  }
}]

resource storageEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (service, i) in storageServices: {
  parent: storageEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: service
        properties: { privateDnsZoneId: storageZones[i].id }
      }
    ]
  }
}]

resource keyVaultZone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: keyVaultZoneName
  location: 'global'
  tags: tags
}

resource keyVaultZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: keyVaultZone
  name: '${vnetName}-vault'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: vnet.id }
  }
}

resource keyVaultEndpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: '${privateEndpointPrefix}${keyVaultName}'
  location: location
  tags: tags
  properties: {
    subnet: { id: '${vnet.id}/subnets/private-endpoints' }
    privateLinkServiceConnections: [
      {
        name: keyVaultName
        properties: {
          privateLinkServiceId: vault.id
          groupIds: ['vault']
        }
      }
    ]
  }
}

resource keyVaultEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: keyVaultEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'vault'
        properties: { privateDnsZoneId: keyVaultZone.id }
      }
    ]
  }
}

output vnetId string = vnet.id
output appSubnetId string = '${vnet.id}/subnets/app'
