// The cache's blob storage: no public blob access, HTTPS and TLS 1.2 only, no shared keys
// (Entra ID only), reached through a private endpoint. The identity gets Storage Blob Data
// Contributor on the container only.
param location string
param name string
param containerName string
param principalId string
param vnetId string
param privateEndpointSubnetId string

// Built-in role: Storage Blob Data Contributor.
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-01-01' = {
  name: name
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Disabled'
    networkAcls: { defaultAction: 'Deny', bypass: 'None' }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-01-01' = {
  parent: account
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-01-01' = {
  parent: blobService
  name: containerName
  properties: { publicAccess: 'None' }
}

resource blobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: container
  name: guid(container.id, principalId, storageBlobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

module endpoint 'private-endpoint.bicep' = {
  name: '${name}-blob-pe'
  params: {
    location: location
    name: '${name}-blob-pe'
    serviceId: account.id
    groupId: 'blob'
    dnsZoneName: 'privatelink.blob.${environment().suffixes.storage}'
    vnetId: vnetId
    subnetId: privateEndpointSubnetId
  }
}

output blobAccountUrl string = account.properties.primaryEndpoints.blob
