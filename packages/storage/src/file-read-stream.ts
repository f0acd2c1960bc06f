import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { BufferPool } from './buffer-pool.js';

export interface FileReadStreamOptions {
  /** First byte to read. */
  start: number;
  /** Last byte to read (inclusive). */
  end: number;
  /** Bytes per read. */
  chunkSize: number;
  pool: BufferPool;
  /** Called once when the stream closes (its file handle is closed). */
  onClose?: () => void;
}

/** Resolves when `dest` has flushed `chunk` (its write callback), rejects on a write error. */
const writeChunk = (dest: Writable, chunk: Buffer): Promise<void> =>
  new Promise((resolve, reject) => {
    dest.write(chunk, (err) => (err ? reject(err) : resolve()));
  });

/**
 * A byte range of an open file. Read as a Readable, every read gets a fresh buffer (the consumer
 * owns what it is pushed). Sent with `writeTo`, it reuses two pooled buffers, each read into again
 * only after the destination's write callback says it was flushed: no allocation, page faults or
 * garbage per MiB served, and at most two reads held per response.
 */
export class FileReadStream extends Readable {
  private position: number;
  private remaining: number;
  private claimed = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly options: FileReadStreamOptions,
  ) {
    super({ highWaterMark: options.chunkSize });
    this.position = options.start;
    this.remaining = Math.max(0, options.end - options.start + 1);
  }

  override _read(): void {
    this.claimed = true;
    if (this.remaining === 0) {
      this.push(null);
      return;
    }
    const buffer = Buffer.allocUnsafeSlow(Math.min(this.options.chunkSize, this.remaining));
    this.readInto(buffer).then(
      (bytes) => this.push(bytes === buffer.length ? buffer : buffer.subarray(0, bytes)),
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.handle.close().then(
      () => this.afterClose(callback, error),
      () => this.afterClose(callback, error),
    );
  }

  /**
   * Send every byte to `dest` and end it; resolves once `dest` has finished. Rejects (and leaves
   * `dest` to the caller) when a read fails or `dest` errors or closes first. Only for a stream
   * that has not been read as a Readable.
   */
  async writeTo(dest: Writable): Promise<void> {
    if (this.claimed || this.destroyed) throw new Error('FileReadStream.writeTo: the stream is already being read');
    this.claimed = true;
    let onClose!: () => void;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => {
        // 'close' also follows a normal 'finish'; only an early close is a failure.
        if (!dest.writableFinished) reject(new Error('destination closed before the object was sent'));
      };
    });
    closed.catch(() => undefined);
    dest.once('close', onClose);
    // Full-size read buffers come from (and go back to) the pool; an object smaller than one read
    // gets a buffer of its own size, not worth pooling.
    const size = Math.max(1, Math.min(this.options.chunkSize, this.remaining));
    const pooled = size === this.options.chunkSize;
    const buffer = () => (pooled ? this.options.pool.acquire(size) : Buffer.allocUnsafe(size));
    const buffers = [buffer(), this.remaining > size ? buffer() : Buffer.alloc(0)];
    const writes: Array<Promise<void> | undefined> = [undefined, undefined];
    let sent = false;
    try {
      for (let i = 0; this.remaining > 0; i ^= 1) {
        // Buffer i is free again once its previous write was flushed.
        await Promise.race([writes[i], closed]);
        const target = buffers[i]!;
        const bytes = await this.readInto(target, Math.min(size, this.remaining));
        const write = writeChunk(dest, bytes === target.length ? target : target.subarray(0, bytes));
        write.catch(() => undefined); // observed by the race above or below
        writes[i] = write;
      }
      await Promise.race([Promise.all(writes), closed]);
      sent = true;
      dest.end();
      await Promise.race([finished(dest), closed]);
    } finally {
      dest.off('close', onClose);
      // A buffer whose write did not complete may still be referenced by dest: leave it to the GC.
      if (sent && pooled) for (const b of buffers) if (b.length === size) this.options.pool.release(b);
      if (!this.closed) await new Promise((resolve) => this.once('close', resolve).destroy());
    }
  }

  /** Read at the current position into `buffer` (up to `length` bytes) and advance. */
  private async readInto(buffer: Buffer, length = buffer.length): Promise<number> {
    const { bytesRead } = await this.handle.read(buffer, 0, length, this.position);
    if (bytesRead === 0) throw new Error(`object ended ${this.remaining} bytes before its expected end`);
    this.position += bytesRead;
    this.remaining -= bytesRead;
    return bytesRead;
  }

  private afterClose(callback: (error?: Error | null) => void, error: Error | null): void {
    this.options.onClose?.();
    callback(error);
  }
}

/**
 * Send a stream to `dest` and end it: pooled when it is a FileReadStream, else `pipeline`. An Azure
 * blob's stream (the SDK's resumable HTTP body) takes `pipeline`: it already reads into fresh socket
 * buffers, `dest`'s backpressure pauses the download, and a `dest` that closes early destroys it,
 * which aborts the HTTP request.
 */
export async function sendStream(stream: Readable, dest: Writable): Promise<void> {
  if (stream instanceof FileReadStream) return stream.writeTo(dest);
  return pipeline(stream, dest);
}
