import { OidcTokenError } from './oidc-errors.js';

/** Longest token accepted: Entra access tokens are 1-3 KiB; anything far larger is not worth parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

export interface DecodedJwt {
  header: { alg?: unknown; kid?: unknown; [k: string]: unknown };
  claims: Record<string, unknown>;
  /** `base64url(header).base64url(payload)`, the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function jsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new OidcTokenError('malformed', `the token's ${what} is not base64url JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new OidcTokenError('malformed', `the token's ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Split and decode a compact JWS (three base64url parts). Nothing is trusted yet. */
export function decodeJwt(token: string): DecodedJwt {
  if (token.length > MAX_TOKEN_LENGTH) throw new OidcTokenError('malformed', `the token is longer than ${MAX_TOKEN_LENGTH} characters`);
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) throw new OidcTokenError('malformed', 'the token is not a compact JWS (three base64url parts)');
  const [h, p, s] = parts as [string, string, string];
  return { header: jsonObject(h, 'header'), claims: jsonObject(p, 'payload'), signingInput: `${h}.${p}`, signature: Buffer.from(s, 'base64url') };
}
