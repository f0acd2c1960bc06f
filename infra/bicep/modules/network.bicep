// One VNet: the AKS nodes' subnet and a subnet for the data services' private endpoints.
param location string
param name string

resource vnet 'Microsoft.Network/virtualNetworks@2023-09-01' = {
  name: name
  location: location
  properties: {
    addressSpace: { addressPrefixes: ['10.40.0.0/16'] }
    subnets: [
      { name: 'aks', properties: { addressPrefix: '10.40.0.0/20' } }
      { name: 'private-endpoints', properties: { addressPrefix: '10.40.16.0/24' } }
    ]
  }
}

output vnetId string = vnet.id
output aksSubnetId string = vnet.properties.subnets[0].id
output privateEndpointSubnetId string = vnet.properties.subnets[1].id
