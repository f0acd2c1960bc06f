import type { Dispatcher } from 'undici';
import { request } from '@pullthrough/egress';
import { readBounded } from './body-streams.js';
import { transportError, upstreamUnavailable } from './upstream-errors.js';

const MAX_BYTES = 1024 * 1024;
const DEFAULT_REFRESH_SECONDS = 3 * 3600;
const DEFAULT_ACCESS_SECONDS = 300;

/** An Entra ID access token for the registry audience, or undefined when the client has no identity. */
export type IdentityTokenProvider = () => Promise<string | undefined>;

export type ExchangeResult = { kind: 'token'; token: string; expiresIn: number } | { kind: 'refused'; status: number; step: 'exchange' | 'token' };

/**
 * ACR's AAD token exchange: `POST /oauth2/exchange` (grant_type=access_token, service,
 * access_token) gives a refresh token (cached until shortly before it expires), and
 * `POST /oauth2/token` (grant_type=refresh_token, service, scope, refresh_token) gives the
 * scoped access token. Both go to the realm's origin, which the caller has checked may receive
 * our credentials.
 */
export class AcrTokenExchange {
  private refresh: { token: string; key: string; expiresAt: number } | undefined;

  constructor(
    private readonly upstream: string,
    private readonly dispatcher: Dispatcher,
    private readonly now: () => number = Date.now,
  ) {}

  async accessToken(realm: URL, service: string, scope: string, identityToken: string): Promise<ExchangeResult> {
    const key = `${realm.origin} ${service}`;
    let refresh = this.refresh && this.refresh.key === key && this.refresh.expiresAt > this.now() ? this.refresh.token : undefined;
    if (refresh === undefined) {
      const exchanged = await this.post(new URL('/oauth2/exchange', realm), { grant_type: 'access_token', service, access_token: identityToken });
      if (exchanged.status !== 200) return { kind: 'refused', status: exchanged.status, step: 'exchange' };
      const token = exchanged.body.refresh_token;
      if (typeof token !== 'string' || token === '') throw upstreamUnavailable(this.upstream, 'ACR token exchange answered without a refresh token');
      const lifetime = jwtLifetimeSeconds(token, this.now()) ?? DEFAULT_REFRESH_SECONDS;
      this.refresh = { token, key, expiresAt: this.now() + lifetime * 1000 - Math.min(60_000, lifetime * 100) };
      refresh = token;
    }
    const issued = await this.post(new URL('/oauth2/token', realm), { grant_type: 'refresh_token', service, scope, refresh_token: refresh });
    if (issued.status !== 200) {
      if (issued.status === 401) this.refresh = undefined;
      return { kind: 'refused', status: issued.status, step: 'token' };
    }
    const access = issued.body.access_token;
    if (typeof access !== 'string' || access === '') throw upstreamUnavailable(this.upstream, 'ACR token endpoint answered without an access token');
    const expiresIn = typeof issued.body.expires_in === 'number' && issued.body.expires_in > 0 ? issued.body.expires_in : (jwtLifetimeSeconds(access, this.now()) ?? DEFAULT_ACCESS_SECONDS);
    return { kind: 'token', token: access, expiresIn };
  }

  /** Forget the refresh token (after a refusal). */
  clear(): void {
    this.refresh = undefined;
  }

  private async post(url: URL, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
    let res;
    try {
      res = await request(url, {
        method: 'POST',
        dispatcher: this.dispatcher,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams(form).toString(),
      });
    } catch (err) {
      throw transportError(this.upstream, err);
    }
    if (res.statusCode >= 500 || res.statusCode === 429) {
      await res.body.dump().catch(() => undefined);
      throw upstreamUnavailable(this.upstream, `ACR ${url.pathname} answered ${res.statusCode}`, { status: res.statusCode });
    }
    const bytes = await readBounded(res.body, MAX_BYTES).catch((err: unknown) => {
      throw transportError(this.upstream, err);
    });
    let body: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(bytes?.toString('utf8') ?? '{}') as unknown;
      if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
    } catch {
      body = {};
    }
    return { status: res.statusCode, body };
  }
}

/** Seconds until a JWT's `exp`, or undefined when the token is opaque. */
function jwtLifetimeSeconds(token: string, now: number): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? Math.max(1, exp - Math.floor(now / 1000)) : undefined;
  } catch {
    return undefined;
  }
}
