import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

/**
 * The signature algorithms accepted: asymmetric only. `none` and HS* (whose "key" would be public
 * JWKS material) are never accepted, whatever a token's header says.
 */
export const SIGNING_ALGORITHMS = {
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true },
  PS384: { kty: 'RSA', hash: 'sha384', pss: true },
  PS512: { kty: 'RSA', hash: 'sha512', pss: true },
  ES256: { kty: 'EC', hash: 'sha256', crv: 'P-256' },
  ES384: { kty: 'EC', hash: 'sha384', crv: 'P-384' },
  ES512: { kty: 'EC', hash: 'sha512', crv: 'P-521' },
} as const satisfies Record<string, { kty: 'RSA' | 'EC'; hash: string; crv?: string; pss?: boolean }>;

export type SigningAlgorithm = keyof typeof SIGNING_ALGORITHMS;

export const isSigningAlgorithm = (alg: unknown): alg is SigningAlgorithm => typeof alg === 'string' && Object.hasOwn(SIGNING_ALGORITHMS, alg);

/** RSA keys shorter than this are refused when the JWKS is read. */
export const MIN_RSA_BITS = 2048;

/** One usable verification key from a JWKS. */
export interface JwkKey {
  kid: string | undefined;
  kty: 'RSA' | 'EC';
  /** The JWK's own `alg`, when it names one: a token must then use exactly that. */
  alg: string | undefined;
  crv: string | undefined;
  key: KeyObject;
}

/** A JWKS entry as a key, or undefined when it is not a public signing key we can use (encryption keys, symmetric keys, short RSA). */
export function importJwk(jwk: unknown): JwkKey | undefined {
  if (typeof jwk !== 'object' || jwk === null) return undefined;
  const j = jwk as Record<string, unknown>;
  if (j.kty !== 'RSA' && j.kty !== 'EC') return undefined;
  if (j.use !== undefined && j.use !== 'sig') return undefined;
  if (j.d !== undefined) return undefined; // a private key has no business in a JWKS
  let key: KeyObject;
  try {
    // Only the public members: x5c and friends are not needed to verify.
    const pub = j.kty === 'RSA' ? { kty: 'RSA', n: j.n, e: j.e } : { kty: 'EC', crv: j.crv, x: j.x, y: j.y };
    key = createPublicKey({ key: pub as JsonWebKey, format: 'jwk' });
  } catch {
    return undefined;
  }
  if (j.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) return undefined;
  return { kid: typeof j.kid === 'string' ? j.kid : undefined, kty: j.kty, alg: typeof j.alg === 'string' ? j.alg : undefined, crv: typeof j.crv === 'string' ? j.crv : undefined, key };
}

/** Whether `key` may verify a token signed with `alg` (key type, curve and the JWK's own alg agree). */
export function keyFits(key: JwkKey, alg: SigningAlgorithm): boolean {
  const spec = SIGNING_ALGORITHMS[alg];
  if (key.kty !== spec.kty) return false;
  if (key.alg !== undefined && key.alg !== alg) return false;
  return !('crv' in spec) || key.crv === spec.crv;
}

/** Verify a JWS signature (ECDSA signatures are JOSE's raw r||s form). */
export function verifySignature(alg: SigningAlgorithm, key: JwkKey, signingInput: string, signature: Buffer): boolean {
  const spec = SIGNING_ALGORITHMS[alg];
  const data = Buffer.from(signingInput, 'ascii');
  try {
    if ('pss' in spec) {
      return verify(spec.hash, data, { key: key.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
    }
    if (spec.kty === 'EC') return verify(spec.hash, data, { key: key.key, dsaEncoding: 'ieee-p1363' }, signature);
    return verify(spec.hash, data, key.key, signature);
  } catch {
    return false;
  }
}
