// AKS with the OIDC issuer and Azure Workload Identity (pods get Entra tokens for the
// user-assigned identity through their ServiceAccount) and the KEDA add-on (the hydrators'
// ScaledObject). Kubelet keeps its own identity; nothing here grants the cluster data access.
param location string
param name string
param subnetId string
param nodeCount int
param nodeVmSize string

resource cluster 'Microsoft.ContainerService/managedClusters@2024-02-01' = {
  name: name
  location: location
  identity: { type: 'SystemAssigned' }
  properties: {
    dnsPrefix: name
    enableRBAC: true
    disableLocalAccounts: true
    aadProfile: { managed: true, enableAzureRBAC: true }
    oidcIssuerProfile: { enabled: true }
    securityProfile: { workloadIdentity: { enabled: true } }
    workloadAutoScalerProfile: { keda: { enabled: true } }
    networkProfile: { networkPlugin: 'azure', networkPolicy: 'azure', serviceCidr: '10.41.0.0/16', dnsServiceIP: '10.41.0.10' }
    agentPoolProfiles: [
      {
        name: 'system'
        mode: 'System'
        count: nodeCount
        vmSize: nodeVmSize
        osType: 'Linux'
        osSKU: 'AzureLinux'
        vnetSubnetID: subnetId
        type: 'VirtualMachineScaleSets'
      }
    ]
  }
}

output name string = cluster.name
output oidcIssuerUrl string = cluster.properties.oidcIssuerProfile.issuerURL
