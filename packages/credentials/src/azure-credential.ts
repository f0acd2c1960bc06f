import { DefaultAzureCredential, ManagedIdentityCredential, WorkloadIdentityCredential, type TokenCredential } from '@azure/identity';

/**
 * Which Entra ID credential reads Key Vault (and gets ACR tokens):
 * - `default`: DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI...)
 * - `managed-identity`: ManagedIdentityCredential, user-assigned when `clientId` is set
 * - `workload-identity`: WorkloadIdentityCredential (AKS federated token), `clientId` optional
 * The SDK itself reads its platform variables (IDENTITY_ENDPOINT/IDENTITY_HEADER, IMDS,
 * AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST): those are
 * set by the Azure platform, not by our config.
 */
export type AzureCredentialKind = 'default' | 'managed-identity' | 'workload-identity';

export interface AzureCredentialOptions {
  kind: AzureCredentialKind;
  clientId?: string | undefined;
}

export function createAzureCredential({ kind, clientId }: AzureCredentialOptions): TokenCredential {
  switch (kind) {
    case 'managed-identity':
      return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
    case 'workload-identity':
      return new WorkloadIdentityCredential(clientId ? { clientId } : {});
    case 'default':
      return new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
  }
}

export type { TokenCredential };
