import { createSign, sign, type KeyObject } from 'node:crypto';

const base64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/** A compact RS256 JWT. */
export function signJwt(header: Record<string, unknown>, claims: Record<string, unknown>, privateKeyPem: string): string {
  const input = `${base64url(JSON.stringify({ ...header, alg: 'RS256', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}`;
  const signature = createSign('RSA-SHA256').update(input).sign(privateKeyPem);
  return `${input}.${base64url(signature)}`;
}

/** Algorithms `signJws` can produce. */
export type JwsAlgorithm = 'RS256' | 'ES256';

/** A compact JWS signed with `alg` (ES256 in JOSE's raw r||s form); `header` may add or override fields (kid, typ). */
export function signJws(alg: JwsAlgorithm, header: Record<string, unknown>, claims: Record<string, unknown>, privateKey: KeyObject): string {
  const input = `${base64url(JSON.stringify({ alg, typ: 'JWT', ...header }))}.${base64url(JSON.stringify(claims))}`;
  const signature = alg === 'ES256' ? sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(input), privateKey);
  return `${input}.${base64url(signature)}`;
}

/** An unsigned token (`alg: none`), the classic forgery: verifiers must refuse it. */
export function unsignedJwt(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  return `${base64url(JSON.stringify({ alg: 'none', typ: 'JWT', ...header }))}.${base64url(JSON.stringify(claims))}.`;
}
