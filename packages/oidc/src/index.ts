export { OidcVerifier, type OidcVerifierOptions, type VerifiedClaims } from './oidc-verifier.js';
export { JwksCache, type JwksCacheOptions } from './jwks-cache.js';
export { discoverJwksUrl } from './discovery.js';
export { claimValues } from './claim-values.js';
export { decodeJwt, MAX_TOKEN_LENGTH, type DecodedJwt } from './compact-jwt.js';
export { SIGNING_ALGORITHMS, type SigningAlgorithm } from './jwk-key.js';
export { OidcTokenError, JwksUnavailableError, type TokenRejection } from './oidc-errors.js';
