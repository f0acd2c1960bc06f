import type { Dispatcher } from 'undici';
import { decodeJwt } from './compact-jwt.js';
import { isSigningAlgorithm, keyFits, verifySignature } from './jwk-key.js';
import { JwksCache, type JwksCacheOptions } from './jwks-cache.js';
import { discoverJwksUrl } from './discovery.js';
import { OidcTokenError } from './oidc-errors.js';

export interface OidcVerifierOptions {
  /** The `iss` every token must carry, exactly (Entra v2: `https://login.microsoftonline.com/<tenant>/v2.0`). */
  issuer: string;
  /** Accepted audiences: a token's `aud` (a string or an array) must contain one of them. */
  audiences: readonly string[];
  /** The issuer's JWKS; unset: `jwks_uri` of `<issuer>/.well-known/openid-configuration`. */
  jwksUrl?: string;
  /** Leeway for `exp` and `nbf` (default 60 s). */
  clockSkewSeconds?: number;
  /** Egress for the JWKS (and discovery) fetches; undici's global dispatcher when unset. */
  dispatcher?: Dispatcher;
  /** JWKS cache tuning (see JwksCache). */
  jwks?: Pick<JwksCacheOptions, 'maxAgeMs' | 'unknownKidIntervalMs' | 'failureRetryMs' | 'timeoutMs' | 'maxBytes' | 'maxKeys'>;
  now?: () => number;
}

/** A verified token's claims (signature, issuer, audience and lifetime all checked). */
export type VerifiedClaims = Record<string, unknown> & { iss: string; exp: number };

/**
 * Verifies OIDC / OAuth 2 JWT access tokens against an issuer's JWKS: asymmetric signatures only
 * (RS*, PS*, ES*; never `none` or HS*), the key found by `kid` (a rotation is picked up by
 * refetching the JWKS for an unknown kid, rate-limited), `iss` exact, `aud` among the accepted,
 * `exp` required and `nbf` honoured with a small clock skew.
 */
export class OidcVerifier {
  readonly keys: JwksCache;
  private readonly skewMs: number;
  private readonly now: () => number;

  constructor(private readonly options: OidcVerifierOptions) {
    if (options.audiences.length === 0) throw new Error('OidcVerifier: at least one audience is required');
    this.skewMs = (options.clockSkewSeconds ?? 60) * 1000;
    this.now = options.now ?? Date.now;
    // Discovered once (the JWKS URL of an issuer does not move; its keys do).
    let discovered: string | undefined;
    const jwksUrl = options.jwksUrl ?? (async () => (discovered ??= await discoverJwksUrl(options.issuer, options.dispatcher)));
    this.keys = new JwksCache({ ...options.jwks, jwksUrl, dispatcher: options.dispatcher, now: this.now });
  }

  /** The claims of a valid token; OidcTokenError (401) or JwksUnavailableError (503) otherwise. */
  async verify(token: string): Promise<VerifiedClaims> {
    const jwt = decodeJwt(token);
    const { alg, kid } = jwt.header;
    if (!isSigningAlgorithm(alg)) throw new OidcTokenError('unsupported-algorithm', "the token's alg is not accepted (asymmetric signatures only)");
    if (kid !== undefined && typeof kid !== 'string') throw new OidcTokenError('malformed', 'kid must be a string');
    // Cheap claim checks first: an expired or foreign token costs no JWKS fetch.
    const claims = this.checkClaims(jwt.claims);
    const candidates = (await this.keys.keysFor(kid)).filter((k) => keyFits(k, alg));
    if (candidates.length === 0) throw new OidcTokenError('unknown-key', kid === undefined ? `no ${alg} key in the issuer's JWKS` : `the issuer's JWKS has no ${alg} key with this kid`);
    if (!candidates.some((k) => verifySignature(alg, k, jwt.signingInput, jwt.signature))) throw new OidcTokenError('bad-signature', 'the signature does not verify');
    return claims;
  }

  private checkClaims(claims: Record<string, unknown>): VerifiedClaims {
    if (claims.iss !== this.options.issuer) throw new OidcTokenError('wrong-issuer', 'the token was issued by another issuer');
    const aud = claims.aud;
    const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
    if (!auds.some((a) => this.options.audiences.includes(a))) throw new OidcTokenError('wrong-audience', 'the token is meant for another audience');
    const now = this.now();
    if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) throw new OidcTokenError('malformed', 'the token has no numeric exp');
    if (claims.exp * 1000 + this.skewMs <= now) throw new OidcTokenError('expired', 'the token has expired');
    if (claims.nbf !== undefined) {
      if (typeof claims.nbf !== 'number' || !Number.isFinite(claims.nbf)) throw new OidcTokenError('malformed', 'nbf must be a number');
      if (claims.nbf * 1000 - this.skewMs > now) throw new OidcTokenError('not-yet-valid', 'the token is not valid yet (nbf)');
    }
    return claims as VerifiedClaims;
  }
}
