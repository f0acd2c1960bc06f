import type { SecretClient } from '@azure/keyvault-secrets';
import type { TokenCredential } from '@azure/identity';
import { CredentialLookupError } from '@pullthrough/oci';
import { azureKeyVaultSecrets } from './azure-sdk.js';
import { isAllowedKeyVaultHost, MAX_SECRET_BYTES } from './secret-reference-policy.js';
import type { SecretResolver } from './secret-resolver.js';

export interface KeyVaultSecretResolverOptions {
  credential: TokenCredential;
  /** Extra trusted CA certificates (PEM) for vaults behind a private CA (or an emulator). */
  ca?: string | undefined;
  /** Accept a challenge resource that is not a Key Vault domain (emulators, sovereign clouds). */
  disableChallengeResourceVerification?: boolean;
  /** Vault hosts besides the Azure Key Vault domains (`host` or `host:port`, for emulators). */
  extraHosts?: readonly string[];
  /** Values longer than this many bytes are refused (default MAX_SECRET_BYTES). */
  maxSecretBytes?: number;
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
 * Key Vault secret URIs on Key Vault hosts, read with the real SecretClient (one per vault).
 * Failures become CredentialLookupError naming the step (vault unreachable, identity unavailable,
 * forbidden, secret missing), never the secret URI nor a value.
 */
export class KeyVaultSecretResolver implements SecretResolver {
  private readonly clients = new Map<string, SecretClient>();

  constructor(private readonly options: KeyVaultSecretResolverOptions) {}

  async resolve(reference: string): Promise<string> {
    const parsed = parseSecretUri(reference);
    if (!parsed) throw lookupError('invalid-secret-uri', 'is not a Key Vault secret URI (https://<vault>/secrets/<name>[/<version>])');
    if (!isAllowedKeyVaultHost(new URL(parsed.vaultUrl), this.options.extraHosts ?? [])) {
      throw lookupError('vault-not-allowed', 'is not on a Key Vault host (*.vault.azure.net, a sovereign cloud vault domain, or PULLTHROUGH_KEYVAULT_HOSTS): refused');
    }
    let secret;
    try {
      secret = await this.client(parsed.vaultUrl).getSecret(parsed.name, parsed.version ? { version: parsed.version } : {});
    } catch (err) {
      throw classify(err);
    }
    if (secret.value === undefined) throw lookupError('secret-missing', 'has no value');
    const max = this.options.maxSecretBytes ?? MAX_SECRET_BYTES;
    if (Buffer.byteLength(secret.value, 'utf8') > max) throw lookupError('secret-too-large', `is larger than ${max} bytes: refused`);
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
export type KeyVaultFailure = 'invalid-secret-uri' | 'vault-not-allowed' | 'secret-too-large' | 'vault-unreachable' | 'identity-unavailable' | 'forbidden' | 'secret-missing' | 'vault-error';

function lookupError(reason: KeyVaultFailure, text: string, cause?: unknown): CredentialLookupError {
  return new CredentialLookupError(`the Key Vault secret ${text}`, { detail: { reason }, cause: cause === undefined ? undefined : safeCause(cause) });
}

function classify(err: unknown): CredentialLookupError {
  const e = err as { name?: string; statusCode?: number; code?: string; message?: string };
  if (e?.name === 'CredentialUnavailableError' || e?.name === 'AuthenticationError' || e?.name === 'AggregateAuthenticationError') {
    return lookupError('identity-unavailable', 'cannot be read: no Entra ID token for Key Vault (identity unavailable)', err);
  }
  if (e?.statusCode === 403) return lookupError('forbidden', 'cannot be read: the vault forbids access (403)', err);
  if (e?.statusCode === 404) return lookupError('secret-missing', 'does not exist in the vault (404)', err);
  if (e?.statusCode === 401) return lookupError('identity-unavailable', 'cannot be read: the vault refused our token (401)', err);
  if (e?.statusCode === undefined) return lookupError('vault-unreachable', `cannot be read: vault unreachable (${e?.code ?? 'network error'})`, err);
  return lookupError('vault-error', `cannot be read: vault answered ${e.statusCode}`, err);
}

/** Keep only the error's name and code as a cause: SDK errors carry requests and responses. */
function safeCause(err: unknown): Error {
  const e = err as { name?: string; code?: string; statusCode?: number };
  return Object.assign(new Error(`${e?.name ?? 'Error'}${e?.code ? ` ${e.code}` : ''}${e?.statusCode ? ` ${e.statusCode}` : ''}`), { name: e?.name ?? 'Error' });
}
