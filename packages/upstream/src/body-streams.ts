import { PassThrough, type Readable } from 'node:stream';
import { transportError } from './upstream-errors.js';

/** Throw away a body we do not need, keeping the connection reusable when it is small. */
export async function discard(body: Readable & { dump?: (opts?: { limit: number }) => Promise<void> }): Promise<void> {
  try {
    if (typeof body.dump === 'function') await body.dump({ limit: 64 * 1024 });
    else abandon(body);
  } catch {
    // already failed or destroyed: nothing to keep
  }
}

/** Stop reading a body for good; the abort error undici then emits is expected, not a crash. */
export function abandon(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Read a whole body, or undefined (and the body destroyed) as soon as it exceeds `limit` bytes. */
export async function readBounded(body: Readable, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += buf.length;
    if (total > limit) {
      abandon(body);
      return undefined;
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Hand a streamed body to callers with domain errors: a stalled, reset or truncated body errors
 * the returned stream with UpstreamUnavailableError. Destroying the returned stream releases
 * the upstream body. Backpressure is preserved (pipe).
 */
export function guardBody(upstream: string, body: Readable): Readable {
  const out = new PassThrough();
  body.on('error', (err) => out.destroy(transportError(upstream, err)));
  out.on('close', () => {
    if (!body.destroyed) body.destroy();
  });
  body.pipe(out);
  return out;
}
