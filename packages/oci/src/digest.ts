import { createHash, type Hash } from 'node:crypto';
import { DigestInvalidError } from './errors.js';

/** A validated content digest, e.g. `sha256:<64 hex>`. */
export type Digest = string & { readonly __digest: unique symbol };

const ALGORITHMS: Record<string, number> = { sha256: 64, sha512: 128 };
const DIGEST_SHAPE = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export function isDigest(value: string): value is Digest {
  const m = DIGEST_SHAPE.exec(value);
  if (!m) return false;
  const len = ALGORITHMS[m[1]!];
  return len !== undefined && m[2]!.length === len && /^[a-f0-9]+$/.test(m[2]!);
}

/** Validate a digest string; throws DigestInvalidError with the reason. */
export function parseDigest(value: string): Digest {
  if (isDigest(value)) return value;
  const m = DIGEST_SHAPE.exec(value);
  if (!m) throw new DigestInvalidError('invalid digest format', { detail: { digest: value.slice(0, 200) } });
  if (ALGORITHMS[m[1]!] === undefined) {
    throw new DigestInvalidError(`unsupported digest algorithm "${m[1]}"`, { detail: { digest: value.slice(0, 200) } });
  }
  throw new DigestInvalidError('digest encoding does not match its algorithm', { detail: { digest: value.slice(0, 200) } });
}

export function digestAlgorithm(digest: Digest): string {
  return digest.slice(0, digest.indexOf(':'));
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function createDigester(algorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

/** Digest of an in-memory buffer (manifests only: blobs are always streamed). */
export function digestOf(data: Uint8Array, algorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}
