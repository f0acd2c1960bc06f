import { CREDENTIAL_SETS_KIND, parseCredentialSet, type CredentialSet } from './credential-set.js';
import { LocalSecretResolver, type SecretResolver } from './secret-resolver.js';
import { SecretCredentialProvider } from './secret-credential-provider.js';

/** The part of the storage control area credential sets are read from. */
export interface ControlReader {
  getControl<T>(kind: string, name: string): Promise<T | undefined>;
}

/** Read one credential set from the control area (validated), or undefined. */
export function storedCredentialSetLookup(control: ControlReader): (name: string) => Promise<CredentialSet | undefined> {
  return async (name) => {
    const raw = await control.getControl<unknown>(CREDENTIAL_SETS_KIND, name);
    return raw === undefined ? undefined : parseCredentialSet(raw);
  };
}

/**
 * Credential provider over credential sets kept in the storage control area. `secrets` is a
 * resolver (see createSecretResolver), or an environment object for `env:`/`file:` references only.
 */
export function storedCredentialProvider(
  control: ControlReader,
  secrets: SecretResolver | Record<string, string | undefined>,
  ttlMs?: number,
  entraToken?: (clientId: string | undefined) => Promise<string>,
): SecretCredentialProvider {
  const resolver = typeof (secrets as SecretResolver).resolve === 'function' ? (secrets as SecretResolver) : new LocalSecretResolver(secrets as Record<string, string | undefined>);
  return new SecretCredentialProvider(storedCredentialSetLookup(control), resolver, ttlMs, Date.now, entraToken);
}
