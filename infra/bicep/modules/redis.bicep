// Azure Cache for Redis: TLS only (port 6380, TLS 1.2), no public network access (private
// endpoint), noeviction (BullMQ must never lose keys to eviction). The apps authenticate with the
// access key in REDIS_URL (a Kubernetes Secret); the key is not an output of this deployment.
param location string
param name string
@allowed(['Standard', 'Premium'])
param sku string
param capacity int
param vnetId string
param privateEndpointSubnetId string

resource cache 'Microsoft.Cache/redis@2023-08-01' = {
  name: name
  location: location
  properties: {
    sku: { name: sku, family: sku == 'Premium' ? 'P' : 'C', capacity: capacity }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Disabled'
    redisConfiguration: { 'maxmemory-policy': 'noeviction' }
  }
}

module endpoint 'private-endpoint.bicep' = {
  name: '${name}-pe'
  params: {
    location: location
    name: '${name}-pe'
    serviceId: cache.id
    groupId: 'redisCache'
    dnsZoneName: 'privatelink.redis.cache.windows.net'
    vnetId: vnetId
    subnetId: privateEndpointSubnetId
  }
}

output hostName string = cache.properties.hostName
