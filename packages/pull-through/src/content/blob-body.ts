import type { Readable, Writable } from 'node:stream';
import { sendStream } from '@pullthrough/storage';
import type { LiveBlob } from '../blob-flight.js';
import type { ByteRange } from '../byte-range.js';
import type { BlobBody, CacheStatus } from './repository-content.js';

export interface BlobBodyParts {
  size: number | undefined;
  cache: CacheStatus;
  stream: Readable;
  range?: ByteRange | undefined;
  done?: Promise<unknown> | undefined;
}

/**
 * A blob body over a stream: a stored blob's stream writes itself through pooled buffers (the
 * storage driver's own read stream), a live miss's stream is piped as its bytes arrive.
 */
export function blobBody(parts: BlobBodyParts): BlobBody {
  const { stream } = parts;
  return {
    size: parts.size,
    cache: parts.cache,
    stream,
    ...(parts.range ? { range: parts.range } : {}),
    ...(parts.done ? { done: parts.done } : {}),
    sendTo: (dest: Writable) => sendStream(stream, dest),
  };
}

/** A live miss's body: sent to the response by its tap directly; `stream` only when someone reads it as a stream. */
export function liveBlobBody(live: LiveBlob, cache: CacheStatus): BlobBody {
  return {
    size: live.size,
    cache,
    get stream() {
      return live.stream;
    },
    ...(live.range ? { range: live.range } : {}),
    done: live.done,
    sendTo: (dest: Writable) => live.sendTo(dest),
  };
}
