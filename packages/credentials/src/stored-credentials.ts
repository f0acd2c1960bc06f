import { CREDENTIAL_SETS_KIND, parseCredentialSet, type CredentialSet } from './credential-set.js';
import { LocalSecretResolver } from './secret-resolver.js';
import { SecretCredentialProvider } from './secret-credential-provider.js';

/** The part of the storage control area credential sets are read from. */
export interface ControlReader {
  getControl<T>(kind: string, name: string): Promise<T | undefined>;
}

/** Credential provider over credential sets kept in the storage control area, with local secret references. */
export function storedCredentialProvider(control: ControlReader, env: Record<string, string | undefined>): SecretCredentialProvider {
  const lookup = async (name: string): Promise<CredentialSet | undefined> => {
    const raw = await control.getControl<unknown>(CREDENTIAL_SETS_KIND, name);
    return raw === undefined ? undefined : parseCredentialSet(raw);
  };
  return new SecretCredentialProvider(lookup, new LocalSecretResolver(env));
}
