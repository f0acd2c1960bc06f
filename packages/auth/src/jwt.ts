import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** The only algorithm we sign and accept for our own tokens: ECDSA P-256 with SHA-256. */
export const TOKEN_ALGORITHM = 'ES256';

export interface JwtHeader {
  alg: string;
  kid?: string;
  typ?: string;
}

export type JwtClaims = Record<string, unknown>;

/** Why a compact JWS was refused (never includes the token itself). */
export class JwtInvalidError extends Error {
  constructor(readonly reason: string) {
    super(`invalid token: ${reason}`);
    this.name = 'JwtInvalidError';
  }
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Sign claims as a compact JWS (ES256, raw r||s signature as JWA requires). */
export function signJwt(claims: JwtClaims, key: { kid: string; privateKey: KeyObject }, typ = 'JWT'): string {
  const input = `${b64({ alg: TOKEN_ALGORITHM, kid: key.kid, typ })}.${b64(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

const MAX_TOKEN_LENGTH = 16 * 1024;

function parseJson(segment: string, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new JwtInvalidError(`${what} is not a JSON object`);
}

/** Split and decode a compact JWS without checking it (the caller picks the key by `kid`). */
export function decodeJwt(token: string): { header: JwtHeader; claims: JwtClaims; input: string; signature: Buffer } {
  if (token.length > MAX_TOKEN_LENGTH) throw new JwtInvalidError('too long');
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) throw new JwtInvalidError('not a compact JWS');
  const [h, c, s] = parts as [string, string, string];
  const header = parseJson(h, 'header');
  if (typeof header.alg !== 'string') throw new JwtInvalidError('header has no alg');
  return {
    header: { alg: header.alg, ...(typeof header.kid === 'string' ? { kid: header.kid } : {}), ...(typeof header.typ === 'string' ? { typ: header.typ } : {}) },
    claims: parseJson(c, 'payload'),
    input: `${h}.${c}`,
    signature: Buffer.from(s, 'base64url'),
  };
}

/** Check an ES256 signature with `publicKey`. */
export function verifyJwtSignature(decoded: ReturnType<typeof decodeJwt>, publicKey: KeyObject): void {
  if (decoded.header.alg !== TOKEN_ALGORITHM) throw new JwtInvalidError(`algorithm ${decoded.header.alg.slice(0, 20)} is not accepted`);
  const ok = verify('sha256', Buffer.from(decoded.input), { key: publicKey, dsaEncoding: 'ieee-p1363' }, decoded.signature);
  if (!ok) throw new JwtInvalidError('bad signature');
}

export function publicKeyOf(privateKey: KeyObject): KeyObject {
  return createPublicKey(privateKey);
}
