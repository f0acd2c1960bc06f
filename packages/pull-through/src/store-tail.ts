import type { Readable } from 'node:stream';
import { BlobUnknownError, UpstreamUnavailableError, type Digest } from '@pullthrough/oci';
import type { BlobWriter } from '@pullthrough/storage';
import { endOwnHold } from './lent-slices.js';
import { drained } from './stream-drained.js';
import { unwrapAnswer } from './upstream-answers.js';
import { withFailover } from './upstream-failover.js';
import type { UpstreamTarget } from './upstream-target.js';
import type { WriteLag } from './write-lag.js';

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

/**
 * Complete a store write that stopped at `from` (a write lag overflow, WriteThrough) with ONE GET of
 * `Range: bytes=<from>-` through the target's upstreams (same client, credentials, breakers and
 * failover as the fetch). The writer's hash is at `from`: every byte written now continues it, and
 * the caller's commit checks the whole digest, so nothing unverified is stored. A 206 must carry the
 * Content-Range `bytes <from>-<size-1>/<size>`, else it fails (nothing is committed; a later pull or
 * the hydration fetches the blob again). An upstream that ignores Range answers 200 with the whole
 * blob: its first `from` bytes (already written) are skipped, the rest is written. The read waits
 * for the writer: no client reads these bytes.
 *
 * A chunk lent by the upstream reader's slab pool is held for the writer (`holdForWriter`: given back once the
 * writer is done with what was written of it, the whole chunk or the part after a 200's skipped bytes) and this
 * loop's own hold ends after the write.
 */
export async function completeStoreTail(
  target: UpstreamTarget,
  digest: Digest,
  writer: BlobWriter,
  from: number,
  size: number | undefined,
  lag: WriteLag,
  holdForWriter: (written: Buffer, chunk: Buffer) => void,
): Promise<void> {
  let fetched = 0;
  let body: Readable | undefined;
  try {
    const served = await withFailover(target, (t) => t.client.getBlob(t.upstreamRepository, digest, { start: from }));
    const value = unwrapAnswer(served.value, served.via, `blob ${digest}`, BlobUnknownError);
    body = value.body;
    body.on('error', () => undefined);
    const headers = served.value.kind === 'ok' ? served.value.headers : {};
    let skip = 0;
    if (value.status === 206) checkContentRange(headers['content-range'], from, size, served.via);
    else if (value.status === 200) skip = from;
    else throw tailError(served.via, `the completion GET answered ${value.status}`);
    if (body.errored) throw body.errored;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      fetched += chunk.length;
      let part = chunk;
      if (skip > 0) {
        const dropped = Math.min(skip, part.length);
        skip -= dropped;
        part = part.subarray(dropped);
        if (part.length === 0) {
          endOwnHold(chunk);
          continue;
        }
      }
      holdForWriter(part, chunk);
      const room = writer.write(part);
      endOwnHold(chunk);
      if (!room && !writer.destroyed) await drained(writer);
      if (writer.destroyed) throw writer.errored ?? new Error('blob writer closed before the blob was complete');
    }
    if (skip > 0) throw tailError(served.via, `the completion GET ended after ${fetched} bytes, before byte ${from}`);
    lag.countCompletion(value.status === 206 ? 'ranged' : 'full', fetched);
  } catch (err) {
    body?.destroy();
    lag.countCompletion('failed', fetched);
    throw err;
  }
}

function checkContentRange(header: string | undefined, from: number, size: number | undefined, via: UpstreamTarget): void {
  const match = CONTENT_RANGE.exec(header ?? '');
  const [start, end, total] = match ? [Number(match[1]), Number(match[2]), match[3] === '*' ? undefined : Number(match[3])] : [];
  const right = match !== null && start === from && (size === undefined || (end === size - 1 && total === size));
  if (!right) throw tailError(via, `the completion GET from byte ${from} answered 206 with Content-Range ${JSON.stringify(header ?? null)}`);
}

function tailError(via: UpstreamTarget, reason: string): UpstreamUnavailableError {
  return new UpstreamUnavailableError(`upstream ${via.upstreamRegistry}: ${reason}`, { detail: { upstream: via.upstreamRegistry, reason } });
}
