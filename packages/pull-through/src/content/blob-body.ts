import type { Readable, Writable } from 'node:stream';
import { sendStream } from '@pullthrough/storage';
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
