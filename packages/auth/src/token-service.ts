import { randomUUID } from 'node:crypto';
import { decodeJwt, JwtInvalidError, signJwt, verifyJwtSignature } from './jwt.js';
import type { KeyRing } from './key-ring.js';
import type { RepositoryScope } from './scope.js';

export interface TokenServiceOptions {
  /** The `service` clients name and our tokens' audience. */
  service: string;
  /** Issuer claim of our tokens. */
  issuer: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  now?: () => number;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

export interface VerifiedAccessToken {
  subject: string;
  anonymous: boolean;
  access: RepositoryScope[];
}

const ACCESS = 'access';
const REFRESH = 'refresh';
/** Clock skew tolerated on `nbf`/`exp` between frontends. */
const LEEWAY_SECONDS = 30;

/**
 * Issues and checks our registry tokens: short-lived access tokens in the distribution format
 * (`access: [{type, name, actions}]`) and long-lived refresh tokens (docker's `offline_token`,
 * OAuth2 `refresh_token` grant). Both are ES256 JWTs from the key ring; a `use` claim keeps one
 * from passing as the other.
 */
export class TokenService {
  private readonly now: () => number;

  constructor(
    private readonly keys: KeyRing,
    private readonly options: TokenServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  get service(): string {
    return this.options.service;
  }

  issueAccess(subject: string, access: RepositoryScope[]): IssuedToken {
    return this.issue(ACCESS, subject, this.options.accessTtlSeconds, { access });
  }

  issueRefresh(subject: string): IssuedToken {
    return this.issue(REFRESH, subject, this.options.refreshTtlSeconds, {});
  }

  private issue(use: string, subject: string, ttl: number, extra: Record<string, unknown>): IssuedToken {
    const iat = Math.floor(this.now() / 1000);
    const claims = { iss: this.options.issuer, sub: subject, aud: this.options.service, iat, nbf: iat, exp: iat + ttl, jti: randomUUID(), use, ...extra };
    return { token: signJwt(claims, this.keys.signer()), expiresIn: ttl, issuedAt: new Date(iat * 1000).toISOString() };
  }

  async verifyAccess(token: string): Promise<VerifiedAccessToken> {
    const claims = await this.verify(token, ACCESS);
    const access = Array.isArray(claims.access) ? claims.access.filter(isRepositoryScope) : [];
    return { subject: claims.sub, anonymous: claims.sub === '', access };
  }

  /** The user a refresh token was issued to. */
  async verifyRefresh(token: string): Promise<string> {
    const claims = await this.verify(token, REFRESH);
    if (claims.sub === '') throw new JwtInvalidError('refresh token without a subject');
    return claims.sub;
  }

  private async verify(token: string, use: string): Promise<Record<string, unknown> & { sub: string }> {
    const decoded = decodeJwt(token);
    const key = decoded.header.kid ? await this.keys.verifier(decoded.header.kid) : undefined;
    if (!key) throw new JwtInvalidError('unknown signing key');
    verifyJwtSignature(decoded, key);
    const c = decoded.claims;
    const now = this.now() / 1000;
    if (c.iss !== this.options.issuer || c.aud !== this.options.service) throw new JwtInvalidError('issued for another service');
    if (c.use !== use) throw new JwtInvalidError(`not an ${use} token`);
    if (typeof c.exp !== 'number' || c.exp + LEEWAY_SECONDS < now) throw new JwtInvalidError('expired');
    if (typeof c.nbf === 'number' && c.nbf - LEEWAY_SECONDS > now) throw new JwtInvalidError('not yet valid');
    if (typeof c.sub !== 'string') throw new JwtInvalidError('no subject');
    return c as Record<string, unknown> & { sub: string };
  }
}

function isRepositoryScope(value: unknown): value is RepositoryScope {
  const v = value as RepositoryScope;
  return typeof v === 'object' && v !== null && v.type === 'repository' && typeof v.name === 'string' && Array.isArray(v.actions);
}
