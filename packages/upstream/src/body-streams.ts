import { Transform, type Readable } from 'node:stream';
import { transportError, upstreamUnavailable } from './upstream-errors.js';

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

/** Chunks a guarded body (guardBody) buffers on its reading side ahead of its reader. */
export const GUARD_READ_AHEAD_CHUNKS = 4;

export interface GuardOptions {
  /** The declared Content-Length: a body that ends with fewer bytes is truncated (an error). */
  expectedBytes?: number;
  /** Called once when the body fails (reset, idle timeout, truncation), e.g. to count it on the breaker. */
  onFailure?: (err: Error) => void;
  /** Called once when the body is done without an upstream failure (read to the end, or dropped by the reader). */
  onEnd?: () => void;
}

/**
 * Hand a streamed body to callers with domain errors: a stalled, reset or truncated body errors
 * the returned stream with UpstreamUnavailableError (and calls onFailure). Destroying the returned
 * stream releases the upstream body. Backpressure is preserved (pipe).
 */
export function guardBody(upstream: string, body: Readable, options: GuardOptions = {}): Readable {
  let received = 0;
  let failed = false;
  const fail = (err: Error) => {
    if (failed || out.destroyed) return;
    failed = true;
    options.onFailure?.(err);
    out.destroy(err);
  };
  // Object mode on the reading side: a read never concatenates chunks (a copy, and a pooled body's
  // chunks are lent slab views that their holders give back: see PooledBody).
  const out = new Transform({
    readableObjectMode: true,
    readableHighWaterMark: GUARD_READ_AHEAD_CHUNKS,
    transform(chunk: Buffer, _enc, callback) {
      received += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      const expected = options.expectedBytes;
      if (expected !== undefined && received < expected) {
        const err = upstreamUnavailable(upstream, `body truncated: ${received} of ${expected} bytes`);
        failed = true;
        options.onFailure?.(err);
        callback(err);
        return;
      }
      callback();
    },
  });
  body.on('error', (err) => fail(transportError(upstream, err)));
  out.on('close', () => {
    if (!failed) options.onEnd?.();
    if (!body.destroyed) body.destroy();
  });
  body.pipe(out);
  return out;
}
