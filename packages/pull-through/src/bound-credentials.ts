import { sameRegistry } from '@pullthrough/cache-rules';
import { CredentialLookupError } from '@pullthrough/oci';
import type { CredentialProvider, UpstreamCredentials } from './upstream-target.js';

export interface BoundCredentials {
  credentials: () => Promise<UpstreamCredentials | undefined>;
  identityToken?: () => Promise<string | undefined>;
}

/**
 * A credential set's secrets for one upstream registry, released only while the set's
 * `loginServer` is that registry (read fresh on every lookup: a set changed since the rule was
 * saved gives nothing). A mismatch is a credential-lookup error naming the set and both hosts;
 * the secrets are never read.
 */
export function boundCredentials(provider: CredentialProvider, setName: string, registry: string): BoundCredentials {
  const check = async (): Promise<void> => {
    const loginServer = await provider.loginServerOf(setName);
    // No such set: the provider's own lookup says so.
    if (loginServer !== undefined && !sameRegistry(loginServer, registry)) {
      throw new CredentialLookupError(`credential set "${setName}" is for ${loginServer}, not for ${registry}: its secrets are not sent there`, {
        detail: { credentialSet: setName, reason: 'registry-mismatch', loginServer, upstreamRegistry: registry },
      });
    }
  };
  const credentials = provider.credentialsFor(setName, registry);
  const identityToken = provider.identityTokenFor?.(setName, registry);
  return {
    credentials: async () => {
      await check();
      return credentials();
    },
    ...(identityToken
      ? {
          identityToken: async () => {
            await check();
            return identityToken();
          },
        }
      : {}),
  };
}
