import { secretLookupError, type SecretResolver } from './secret-resolver.js';

/** Route each reference by its scheme (`env:`, `file:`, `https:`) to one resolver. */
export class ChainSecretResolver implements SecretResolver {
  constructor(private readonly bySchemePrefix: ReadonlyArray<readonly [prefix: string, resolver: SecretResolver]>) {}

  resolve(reference: string): Promise<string> {
    const entry = this.bySchemePrefix.find(([prefix]) => reference.startsWith(prefix));
    if (!entry) {
      return Promise.reject(secretLookupError('unknown-scheme', 'no resolver for this kind of secret reference (env:, file: or https://)'));
    }
    return entry[1].resolve(reference);
  }
}
