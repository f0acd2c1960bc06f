// The pods' identity: user-assigned, federated with the chart's ServiceAccount (Workload Identity).
param location string
param name string
param oidcIssuerUrl string
@description('system:serviceaccount:<namespace>:<serviceaccount>')
param subject string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
}

resource federated 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = {
  parent: identity
  name: 'kubernetes-serviceaccount'
  properties: {
    issuer: oidcIssuerUrl
    subject: subject
    audiences: ['api://AzureADTokenExchange']
  }
}

output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
