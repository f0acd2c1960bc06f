// pullthrough on Azure: AKS (workload identity, KEDA add-on), Azure Cache for Redis, a storage
// account with one blob container, Key Vault (RBAC), one user-assigned identity with exactly the
// roles the pods need, and private endpoints so none of the data services is public.
//   az deployment group create -g <rg> -f infra/bicep/main.bicep -p infra/bicep/main.parameters.json
// Then install infra/helm/pullthrough with values-azure-blob.yaml and the outputs below.
targetScope = 'resourceGroup'

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Prefix of resource names (3-11 lowercase letters and digits; storage and Key Vault names are global).')
@minLength(3)
@maxLength(11)
param namePrefix string

@description('Kubernetes namespace the chart is installed in (federated credential subject).')
param kubernetesNamespace string = 'pullthrough'

@description('ServiceAccount of the pods: the chart names it after the release (release "pullthrough": "pullthrough").')
param serviceAccountName string = 'pullthrough'

@description('Blob container of the cache (PULLTHROUGH_AZURE_BLOB_CONTAINER).')
param blobContainerName string = 'pullthrough'

@description('AKS system node pool size and VM size.')
param nodeCount int = 3
param nodeVmSize string = 'Standard_D4ds_v5'

@description('Azure Cache for Redis SKU (Standard: replicated; Premium: also zone redundancy and persistence).')
@allowed(['Standard', 'Premium'])
param redisSku string = 'Standard'
param redisCapacity int = 1

@description('Resource id of an Azure Container Registry that cache rules pull from as an upstream; empty: no AcrPull role.')
param acrUpstreamResourceId string = ''

@description('Key Vault public network access; Disabled: only through its private endpoint (add secrets from inside the VNet or enable temporarily).')
@allowed(['Enabled', 'Disabled'])
param keyVaultPublicNetworkAccess string = 'Disabled'

var suffix = uniqueString(resourceGroup().id)

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    location: location
    name: '${namePrefix}-vnet'
  }
}

module aks 'modules/aks.bicep' = {
  name: 'aks'
  params: {
    location: location
    name: '${namePrefix}-aks'
    subnetId: network.outputs.aksSubnetId
    nodeCount: nodeCount
    nodeVmSize: nodeVmSize
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    location: location
    name: '${namePrefix}-id'
    oidcIssuerUrl: aks.outputs.oidcIssuerUrl
    subject: 'system:serviceaccount:${kubernetesNamespace}:${serviceAccountName}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    name: take('${namePrefix}${suffix}', 24)
    containerName: blobContainerName
    principalId: identity.outputs.principalId
    vnetId: network.outputs.vnetId
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    name: take('${namePrefix}-kv-${suffix}', 24)
    principalId: identity.outputs.principalId
    publicNetworkAccess: keyVaultPublicNetworkAccess
    vnetId: network.outputs.vnetId
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
  }
}

module redis 'modules/redis.bicep' = {
  name: 'redis'
  params: {
    location: location
    name: '${namePrefix}-redis-${suffix}'
    sku: redisSku
    capacity: redisCapacity
    vnetId: network.outputs.vnetId
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
  }
}

// AcrPull on the upstream registry only when one is named (it may live in another resource group).
// (ARM evaluates a skipped module's scope too: the fallback keeps the indexes valid.)
var acrIdParts = split(empty(acrUpstreamResourceId) ? '${resourceGroup().id}/providers/Microsoft.ContainerRegistry/registries/none' : acrUpstreamResourceId, '/')
module acrPull 'modules/acr-pull.bicep' = if (!empty(acrUpstreamResourceId)) {
  name: 'acr-pull'
  scope: resourceGroup(acrIdParts[2], acrIdParts[4])
  params: {
    registryName: last(acrIdParts)
    principalId: identity.outputs.principalId
  }
}

@description('workloadIdentity.clientId of the chart.')
output identityClientId string = identity.outputs.clientId
@description('PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL.')
output blobAccountUrl string = storage.outputs.blobAccountUrl
@description('PULLTHROUGH_AZURE_BLOB_CONTAINER.')
output blobContainer string = blobContainerName
@description('Key Vault URI: credential sets reference secrets as <vaultUri>secrets/<name>.')
output keyVaultUri string = keyVault.outputs.vaultUri
@description('Redis host; TLS port 6380 (hydrator.keda.redisAddress, REDIS_URL rediss://:<key>@<host>:6380).')
output redisHost string = redis.outputs.hostName
output aksName string = aks.outputs.name
