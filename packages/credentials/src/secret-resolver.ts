import { readFile } from 'node:fs/promises';
import { CredentialLookupError } from '@pullthrough/oci';

/** Reads one secret by reference. Errors name the reference, never a value. */
export interface SecretResolver {
  resolve(reference: string): Promise<string>;
}

/**
 * `env:NAME` (from the environment object handed in at start) and `file:/path` references, for
 * machines without Azure. The value is trimmed of a trailing newline.
 */
export class LocalSecretResolver implements SecretResolver {
  constructor(private readonly env: Record<string, string | undefined>) {}

  async resolve(reference: string): Promise<string> {
    if (reference.startsWith('env:')) {
      const value = this.env[reference.slice(4)];
      if (value === undefined || value === '') throw new CredentialLookupError(`secret ${reference} is not set`, { detail: { secret: reference } });
      return value;
    }
    if (reference.startsWith('file:')) {
      try {
        return (await readFile(reference.slice(5), 'utf8')).replace(/\r?\n$/, '');
      } catch (err) {
        throw new CredentialLookupError(`secret ${reference} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { detail: { secret: reference } });
      }
    }
    throw new CredentialLookupError(`no resolver for secret reference ${reference.split(':')[0]}:`, { detail: { secret: reference.slice(0, 200) } });
  }
}
