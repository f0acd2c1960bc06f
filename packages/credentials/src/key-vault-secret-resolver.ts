import type { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/identity';
import { CredentialLookupError } from '@pullthrough/oci';
import { azureKeyVaultSecrets } from './azure-sdk.js';
import type { SecretResolver } from './secret-resolver.js';

export interface KeyVaultSecretResolverOptions {
  credential: TokenCredential;
  /** Extra trusted CA certificates (PEM) for vaults behind a private CA (or an emulator). */
  ca?: string | undefined;
  /** Accept a challenge resource that is not a Key Vault domain (emulators, sovereign clouds). */
  disableChallengeResourceVerification?: boolean;
}

/** `https://<vault>/secrets/<name>[/<version>]` -> vault URL, name, version. */
export function parseSecretUri(reference: string): { vaultUrl: string; name: string; version?: string } | undefined {
  let url: URL;
  try {
    url = new URL(reference);
  } catch {
    return undefined;
  }
  const m = /^\/secrets\/([0-9A-Za-z-]{1,127})(?:\/([0-9A-Za-z]+))?\/?$/.exec(url.pathname);
  if (url.protocol !== 'https:' || !m || url.search || url.username || url.password) return undefined;
  return { vaultUrl: url.origin, name: m[1]!, ...(m[2] ? { version: m[2] } : {}) };
}

/**
 * Key Vault secret URIs, read with the real SecretClient (one per vault). Failures become
 * CredentialLookupError naming the step (vault unreachable, identity unavailable, forbidden,
 * secret missing) and the secret URI, never a value.
 */
export class KeyVaultSecretResolver implements SecretResolver {
  private readonly clients = new Map<string, SecretClient>();

  constructor(private readonly options: KeyVaultSecretResolverOptions) {}

  async resolve(reference: string): Promise<string> {
    const parsed = parseSecretUri(reference);
    if (!parsed) throw lookupError(reference, 'invalid-secret-uri', 'is not a Key Vault secret URI (https://<vault>/secrets/<name>[/<version>])');
    let secret;
    try {
      secret = await this.client(parsed.vaultUrl).getSecret(parsed.name, parsed.version ? { version: parsed.version } : {});
    } catch (err) {
      throw classify(reference, err);
    }
    if (secret.value === undefined) throw lookupError(reference, 'secret-missing', 'has no value');
    return secret.value;
  }

  private client(vaultUrl: string): SecretClient {
    let client = this.clients.get(vaultUrl);
    if (!client) {
      const { SecretClient } = azureKeyVaultSecrets();
      client = new SecretClient(vaultUrl, this.options.credential, {
        disableChallengeResourceVerification: this.options.disableChallengeResourceVerification ?? false,
        retryOptions: { maxRetries: 1, retryDelayInMs: 200, maxRetryDelayInMs: 1000 },
        ...(this.options.ca ? { tlsOptions: { ca: this.options.ca } } : {}),
      });
      this.clients.set(vaultUrl, client);
    }
    return client;
  }
}

/** Why a Key Vault read failed, as a stable reason (also the verify step's `reason`). */
export type KeyVaultFailure = 'invalid-secret-uri' | 'vault-unreachable' | 'identity-unavailable' | 'forbidden' | 'secret-missing' | 'vault-error';

function lookupError(reference: string, reason: KeyVaultFailure, text: string, cause?: unknown): CredentialLookupError {
  return new CredentialLookupError(`secret ${reference} ${text}`, { detail: { secret: reference, reason }, cause: cause === undefined ? undefined : safeCause(cause) });
}

function classify(reference: string, err: unknown): CredentialLookupError {
  const e = err as { name?: string; statusCode?: number; code?: string; message?: string };
  if (e?.name === 'CredentialUnavailableError' || e?.name === 'AuthenticationError' || e?.name === 'AggregateAuthenticationError') {
    return lookupError(reference, 'identity-unavailable', 'cannot be read: no Entra ID token for Key Vault (identity unavailable)', err);
  }
  if (e?.statusCode === 403) return lookupError(reference, 'forbidden', 'cannot be read: the vault forbids access (403)', err);
  if (e?.statusCode === 404) return lookupError(reference, 'secret-missing', 'does not exist in the vault (404)', err);
  if (e?.statusCode === 401) return lookupError(reference, 'identity-unavailable', 'cannot be read: the vault refused our token (401)', err);
  if (e?.statusCode === undefined) return lookupError(reference, 'vault-unreachable', `cannot be read: vault unreachable (${e?.code ?? 'network error'})`, err);
  return lookupError(reference, 'vault-error', `cannot be read: vault answered ${e.statusCode}`, err);
}

/** Keep only the error's name and code as a cause: SDK errors carry requests and responses. */
function safeCause(err: unknown): Error {
  const e = err as { name?: string; code?: string; statusCode?: number };
  return Object.assign(new Error(`${e?.name ?? 'Error'}${e?.code ? ` ${e.code}` : ''}${e?.statusCode ? ` ${e.statusCode}` : ''}`), { name: e?.name ?? 'Error' });
}
