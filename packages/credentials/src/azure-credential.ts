import type { TokenCredential } from '@azure/identity';
import { azureIdentity } from './azure-sdk.js';

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

/** The credential, made (and @azure/identity loaded) on its first token request. */
export function createAzureCredential(options: AzureCredentialOptions): TokenCredential {
  let credential: TokenCredential | undefined;
  return {
    getToken: async (scopes, getTokenOptions) => (credential ??= makeAzureCredential(options)).getToken(scopes, getTokenOptions),
  };
}

function makeAzureCredential({ kind, clientId }: AzureCredentialOptions): TokenCredential {
  const { DefaultAzureCredential, ManagedIdentityCredential, WorkloadIdentityCredential } = azureIdentity();
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
