import { isDigest, type Digest } from '@pullthrough/oci';
import type { Readable } from 'node:stream';
import { readBounded } from './body-streams.js';
import { headerOf, type ResponseHeaders } from './response-headers.js';

const MAX_ERROR_BODY_BYTES = 16 * 1024;
const MAX_MESSAGE_CHARS = 300;

/** Docker-Content-Digest when present and well formed (the caller verifies it against the bytes). */
export function digestHeader(headers: ResponseHeaders): Digest | undefined {
  const value = headerOf(headers, 'docker-content-digest')?.trim();
  return value !== undefined && isDigest(value) ? value : undefined;
}

/** The first message of an OCI error body (`{"errors":[{"message":...}]}`), else `fallback`. */
export async function errorMessage(body: Readable, fallback: string): Promise<string> {
  try {
    const bytes = await readBounded(body, MAX_ERROR_BODY_BYTES);
    const parsed = bytes === undefined ? undefined : (JSON.parse(bytes.toString('utf8')) as unknown);
    const message = (parsed as { errors?: Array<{ message?: unknown }> } | null)?.errors?.[0]?.message;
    if (typeof message === 'string' && message.trim() !== '') return message.trim().slice(0, MAX_MESSAGE_CHARS);
  } catch {
    // not JSON, or the body failed: the status says enough
  }
  return fallback;
}

/** A manifest's own `mediaType` field, for upstreams that send no Content-Type. */
export function sniffMediaType(bytes: Buffer): string | undefined {
  try {
    const mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown } | null)?.mediaType;
    return typeof mediaType === 'string' && mediaType !== '' ? mediaType : undefined;
  } catch {
    return undefined;
  }
}
