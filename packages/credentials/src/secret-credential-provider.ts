import { CredentialLookupError, LruCache } from '@pullthrough/oci';
import type { CredentialSet } from './credential-set.js';
import { secretFieldPath, type SecretField } from './secret-reference-policy.js';
import type { SecretResolver } from './secret-resolver.js';

export type UpstreamCredentials = { username: string; password: string; realmHosts?: readonly string[] };

/** Credential sets whose resolved secrets are kept in memory at once (least recently used first out). */
export const DEFAULT_MAX_CACHED_SECRETS = 1000;

/**
 * Turns a credential set name into a lazy lookup: secrets are read only when an upstream asks,
 * cached in memory for `ttlMs`, never stored or logged. `forget(name)` drops the cache (after an
 * upstream 401, so a rotated password is picked up). At most `maxCached` sets' secrets are kept.
 */
export class SecretCredentialProvider {
  private readonly cache: LruCache<UpstreamCredentials>;

  constructor(
    private readonly lookupSet: (name: string) => Promise<CredentialSet | undefined>,
    private readonly secrets: SecretResolver,
    private readonly ttlMs = 5 * 60_000,
    now: () => number = Date.now,
    /** Entra ID token for ACR's audience for a managed identity (undefined clientId: system-assigned). */
    private readonly entraToken?: (clientId: string | undefined) => Promise<string>,
    maxCached: number = DEFAULT_MAX_CACHED_SECRETS,
  ) {
    this.cache = new LruCache(Math.max(4, maxCached), () => 1, now);
  }

  /**
   * For a set that logs in with a managed identity only: an Entra ID token for the ACR token
   * exchange. Undefined for sets with secrets (basic credentials are used).
   */
  identityTokenFor(credentialSetName: string): () => Promise<string | undefined> {
    return async () => {
      if (!this.entraToken) return undefined;
      const set = await this.lookupSet(credentialSetName);
      if (!set?.identity || set.authCredentials !== undefined) return undefined;
      return this.entraToken(set.identity.clientId);
    };
  }

  credentialsFor(credentialSetName: string): () => Promise<UpstreamCredentials | undefined> {
    return () => this.read(credentialSetName);
  }

  /** The set's `loginServer` (undefined: no such set), read fresh: a rule may use the set only for that registry. */
  async loginServerOf(credentialSetName: string): Promise<string | undefined> {
    return (await this.lookupSet(credentialSetName))?.loginServer;
  }

  forget(credentialSetName: string): void {
    this.cache.delete(credentialSetName);
  }

  private async read(name: string): Promise<UpstreamCredentials | undefined> {
    const hit = this.cache.get(name);
    if (hit) return hit;
    const set = await this.lookupSet(name);
    if (!set) throw new CredentialLookupError(`credential set "${name}" does not exist`, { detail: { credentialSet: name } });
    const cred = set.authCredentials?.[0];
    if (cred === undefined) return undefined;
    // Both read at once; a failure is reported for the first failing field in order (username, then password), whichever failed first in time.
    const [user, pass] = await Promise.allSettled([this.secret(name, cred, 'usernameSecretIdentifier'), this.secret(name, cred, 'passwordSecretIdentifier')]);
    if (user.status === 'rejected') throw user.reason;
    if (pass.status === 'rejected') throw pass.reason;
    const [username, password] = [user.value, pass.value];
    const value: UpstreamCredentials = set.tokenRealmHosts?.length ? { username, password, realmHosts: set.tokenRealmHosts } : { username, password };
    this.cache.set(name, value, this.ttlMs);
    return value;
  }

  /** One secret; a failure names the set and the field, never the reference (admins see the reference with GET). */
  private async secret(name: string, cred: Record<SecretField, string>, field: SecretField): Promise<string> {
    try {
      return await this.secrets.resolve(cred[field]);
    } catch (err) {
      const e = err as { message?: string; detail?: { reason?: unknown } };
      const reason = typeof e?.detail?.reason === 'string' ? e.detail.reason : 'lookup-failed';
      const path = secretFieldPath(0, field);
      throw new CredentialLookupError(`credential set "${name}" ${path}: ${e?.message ?? 'the secret cannot be read'}`, {
        detail: { credentialSet: name, field: path, reason },
        ...(err instanceof Error && err.cause instanceof Error ? { cause: err.cause } : {}),
      });
    }
  }
}
