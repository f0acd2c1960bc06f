import type { ManagedIdentityCredential } from '@azure/identity';
import { azureIdentity } from './azure-sdk.js';
import { CredentialLookupError } from '@pullthrough/oci';

/** ACR's Entra ID audience: tokens for it are exchanged at `/oauth2/exchange`. */
export const ACR_SCOPE = 'https://containerregistry.azure.net/.default';

/**
 * Entra ID tokens for ACR from a managed identity (user-assigned by clientId, or system-assigned),
 * with the real ManagedIdentityCredential (one per identity; MSAL caches tokens until expiry).
 */
export function acrIdentityTokens(): (clientId: string | undefined) => Promise<string> {
  const credentials = new Map<string, ManagedIdentityCredential>();
  return async (clientId) => {
    const key = clientId ?? 'system-assigned';
    let credential = credentials.get(key);
    if (!credential) {
      const { ManagedIdentityCredential: Credential } = azureIdentity();
      credential = clientId ? new Credential({ clientId }) : new Credential();
      credentials.set(key, credential);
    }
    try {
      const token = await credential.getToken(ACR_SCOPE);
      if (!token?.token) throw new Error('empty token');
      return token.token;
    } catch (err) {
      throw new CredentialLookupError(`no Entra ID token for managed identity ${key}: identity unavailable`, {
        detail: { identity: key, reason: 'identity-unavailable' },
        cause: new Error((err as Error)?.name ?? 'Error'),
      });
    }
  };
}
