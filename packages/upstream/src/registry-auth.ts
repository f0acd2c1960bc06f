import { CredentialLookupError, RegistryError } from '@pullthrough/oci';
import type { Dispatcher } from 'undici';
import { AcrTokenExchange, type IdentityTokenProvider } from './acr-token-exchange.js';
import { discard, readBounded } from './body-streams.js';
import { mayReceiveCredentials, realmMayReceive } from './may-receive-credentials.js';
import { TokenCache } from './token-cache.js';
import type { CredentialsProvider, UpstreamDenial } from './upstream-answer.js';
import { transportError, upstreamUnavailable } from './upstream-errors.js';
import type { UpstreamTransport } from './upstream-transport.js';
import { parseChallenges } from './www-authenticate.js';

const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
const DEFAULT_TOKEN_SECONDS = 60;

export type AuthStep = { kind: 'authorize'; authorization: string } | { kind: 'answer'; answer: UpstreamDenial };

/** A credentials lookup failed: not the upstream's fault, so the client raises it outside the breaker. */
export class CredentialsFailed extends Error {
  constructor(readonly error: RegistryError) {
    super(error.message);
  }
}

export interface RegistryAuthOptions {
  upstream: string;
  insecure: boolean;
  credentials?: CredentialsProvider;
  transport: UpstreamTransport;
  /** Entra ID token for ACR's token exchange (managed identity); needs `dispatcher`. */
  identityToken?: IdentityTokenProvider;
  dispatcher?: Dispatcher;
}

const authorize = (authorization: string): AuthStep => ({ kind: 'authorize', authorization });
const deny = (kind: UpstreamDenial['kind'], message: string): AuthStep => ({ kind: 'answer', answer: { kind, message } });

/**
 * Distribution token auth for one upstream: anonymous first; a `Bearer` challenge fetches a
 * token for `repository:<repo>:pull` from the realm (one shared fetch per scope, cached until
 * shortly before `expires_in`); a `Basic` challenge uses the credentials directly and, once seen,
 * up front on later requests.
 */
export class RegistryAuth {
  private basicChallenged = false;
  private readonly tokens = new TokenCache<AuthStep>();
  private readonly acr: AcrTokenExchange | undefined;

  constructor(private readonly options: RegistryAuthOptions) {
    this.acr = options.identityToken && options.dispatcher ? new AcrTokenExchange(options.upstream, options.dispatcher) : undefined;
  }

  /** What to send on a first attempt. `fresh` means a 401 to it is final. */
  async initial(scope: string): Promise<{ authorization?: string; fresh: boolean }> {
    const token = this.tokens.get(scope);
    if (token !== undefined) return { authorization: `Bearer ${token}`, fresh: false };
    if (this.basicChallenged) {
      const basic = await this.basic();
      if (basic !== undefined) return { authorization: basic, fresh: true };
    }
    return { fresh: false };
  }

  /**
   * React to a registry 401 for `scope`, given the Authorization we had sent (if any).
   * Undefined: nothing we can do (no usable challenge, or basic without credentials); the 401 stands.
   */
  async challenge(header: string | string[] | undefined, scope: string, sent: string | undefined): Promise<AuthStep | undefined> {
    const challenges = parseChallenges(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params['realm']);
    if (bearer) {
      if (sent?.startsWith('Bearer ')) this.tokens.forget(scope, sent.slice('Bearer '.length));
      const cached = this.tokens.get(scope);
      if (cached !== undefined && `Bearer ${cached}` !== sent) return authorize(`Bearer ${cached}`);
      const { realm, service } = bearer.params;
      return this.tokens.shared(scope, () => this.fetchToken(realm!, service, scope));
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      const basic = await this.basic();
      if (basic === undefined) return undefined;
      this.basicChallenged = true;
      return authorize(basic);
    }
    return undefined;
  }

  /** Drop cached tokens and what we learnt about basic auth; the next 401 fetches again. */
  invalidate(): void {
    this.tokens.clear();
    this.acr?.clear();
    this.basicChallenged = false;
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string): Promise<AuthStep> {
    const { upstream, insecure, transport } = this.options;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      return deny('unauthorized', 'upstream sent a token realm that is not a URL');
    }
    const viaIdentity = await this.fromIdentity(url, service, scope);
    if (viaIdentity !== undefined) return viaIdentity;
    if (service !== undefined) url.searchParams.set('service', service);
    url.searchParams.set('scope', scope);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.credentials) {
      const basic = await this.basic(url);
      if (basic !== undefined) headers['authorization'] = basic;
    }
    const res = await transport.send('GET', url, headers, url.host);
    if (res.statusCode < 200 || res.statusCode >= 300) {
      await discard(res.body);
      return deny(res.statusCode === 403 ? 'forbidden' : 'unauthorized', `token endpoint answered ${res.statusCode}`);
    }
    const bytes = await readBounded(res.body, MAX_TOKEN_RESPONSE_BYTES).catch((err: unknown) => {
      throw transportError(upstream, err);
    });
    const parsed = parseTokenResponse(bytes);
    if (parsed === undefined) throw upstreamUnavailable(upstream, 'token endpoint answered without a usable token');
    this.tokens.set(scope, parsed.token, parsed.expiresIn);
    return authorize(`Bearer ${parsed.token}`);
  }

  /** ACR with a managed identity: Entra token -> /oauth2/exchange -> /oauth2/token. Undefined: no identity, use the usual flow. */
  private async fromIdentity(realm: URL, service: string | undefined, scope: string): Promise<AuthStep | undefined> {
    const { identityToken, upstream, insecure } = this.options;
    if (!this.acr || !identityToken) return undefined;
    let entra: string | undefined;
    try {
      entra = await identityToken();
    } catch (err) {
      throw new CredentialsFailed(
        err instanceof RegistryError ? err : new CredentialLookupError(`no Entra ID token for upstream ${upstream}`, { detail: { upstream }, cause: err }),
      );
    }
    if (entra === undefined) return undefined;
    if (!mayReceiveCredentials(upstream, realm, insecure)) return deny('unauthorized', `token realm ${realm.origin} may not receive our identity token`);
    const result = await this.acr.accessToken(realm, service ?? upstream, scope, entra);
    if (result.kind === 'refused') {
      return deny(result.status === 403 ? 'forbidden' : 'unauthorized', `ACR ${result.step === 'exchange' ? '/oauth2/exchange' : '/oauth2/token'} answered ${result.status}`);
    }
    this.tokens.set(scope, result.token, result.expiresIn);
    return authorize(`Bearer ${result.token}`);
  }

  /** Basic credentials; for a token realm, only when it may receive them. */
  private async basic(realm?: URL): Promise<string | undefined> {
    const { credentials, upstream, insecure } = this.options;
    if (!credentials) return undefined;
    let found;
    try {
      found = await credentials();
    } catch (err) {
      throw new CredentialsFailed(
        err instanceof RegistryError
          ? err
          : new CredentialLookupError(`credential lookup for upstream ${upstream} failed`, { detail: { upstream }, cause: err }),
      );
    }
    if (found === undefined) return undefined;
    if (realm !== undefined && !realmMayReceive(upstream, realm, insecure, found.realmHosts)) return undefined;
    return `Basic ${Buffer.from(`${found.username}:${found.password}`).toString('base64')}`;
  }
}

function parseTokenResponse(bytes: Buffer | undefined): { token: string; expiresIn: number } | undefined {
  if (bytes === undefined) return undefined;
  let body: { token?: unknown; access_token?: unknown; expires_in?: unknown } | null;
  try {
    body = JSON.parse(bytes.toString('utf8')) as typeof body;
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const token = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token;
  if (typeof token !== 'string' || token === '') return undefined;
  const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
  return { token, expiresIn };
}
