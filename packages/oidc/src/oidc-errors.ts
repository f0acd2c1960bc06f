/** Why a bearer token was refused: stable codes, safe to log and to send (they never quote the token). */
export type TokenRejection =
  | 'malformed'
  | 'unsupported-algorithm'
  | 'unknown-key'
  | 'bad-signature'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'expired'
  | 'not-yet-valid';

/** The token is not acceptable: the caller answers 401. */
export class OidcTokenError extends Error {
  readonly code = 'OIDC_TOKEN_INVALID';
  constructor(
    readonly reason: TokenRejection,
    message: string,
  ) {
    super(message);
    this.name = 'OidcTokenError';
  }
}

/** The issuer's keys could not be had (and none are cached): the caller answers 503, the token may be fine. */
export class JwksUnavailableError extends Error {
  readonly code = 'OIDC_JWKS_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'JwksUnavailableError';
  }
}
