import type { Dispatcher } from 'undici';
import { fetchJson } from './jwks-cache.js';
import { JwksUnavailableError } from './oidc-errors.js';

/** `jwks_uri` from the issuer's OpenID configuration, which must name the same issuer. */
export async function discoverJwksUrl(issuer: string, dispatcher?: Dispatcher): Promise<string> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const doc = (await fetchJson(url, { dispatcher, timeoutMs: 5_000, maxBytes: 256 * 1024 })) as { issuer?: unknown; jwks_uri?: unknown } | null;
  if (doc?.issuer !== issuer) throw new JwksUnavailableError('the OpenID configuration names another issuer');
  if (typeof doc.jwks_uri !== 'string') throw new JwksUnavailableError('the OpenID configuration has no jwks_uri');
  return doc.jwks_uri;
}
