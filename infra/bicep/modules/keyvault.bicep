// Key Vault in RBAC mode for upstream registry secrets (credential sets' Key Vault secret URIs).
// The identity gets Key Vault Secrets User (read secret values) on this vault only.
param location string
param name string
param principalId string
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string
param vnetId string
param privateEndpointSubnetId string

// Built-in role: Key Vault Secrets User.
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: { defaultAction: 'Deny', bypass: 'AzureServices' }
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

module endpoint 'private-endpoint.bicep' = {
  name: '${name}-pe'
  params: {
    location: location
    name: '${name}-pe'
    serviceId: vault.id
    groupId: 'vault'
    dnsZoneName: 'privatelink.vaultcore.azure.net'
    vnetId: vnetId
    subnetId: privateEndpointSubnetId
  }
}

output vaultUri string = vault.properties.vaultUri
