import { CredentialLookupError } from '@pullthrough/oci';
import type { SecretResolver } from './secret-resolver.js';

/** Route each reference by its scheme (`env:`, `file:`, `https:`) to one resolver. */
export class ChainSecretResolver implements SecretResolver {
  constructor(private readonly bySchemePrefix: ReadonlyArray<readonly [prefix: string, resolver: SecretResolver]>) {}

  resolve(reference: string): Promise<string> {
    const entry = this.bySchemePrefix.find(([prefix]) => reference.startsWith(prefix));
    if (!entry) {
      return Promise.reject(new CredentialLookupError(`no resolver for secret reference ${reference.split(':')[0]}:`, { detail: { secret: reference.slice(0, 200) } }));
    }
    return entry[1].resolve(reference);
  }
}
