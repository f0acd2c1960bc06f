import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { BufferPool } from '@pullthrough/egress';
import { bytesBetween, SharedReads, type BlockPiece } from './shared-reads.js';

export interface FileReadStreamOptions {
  /** First byte to read. */
  start: number;
  /** Last byte to read (inclusive). */
  end: number;
  /** Bytes per read (as a Readable), and of the pooled blocks it is sent in unless `readSize` says otherwise. */
  chunkSize: number;
  /** The size of the next pooled block, asked at each one (ReadSizer: smaller while more streams are open). Default: `chunkSize`. */
  readSize?: () => number;
  pool: BufferPool;
  /** Called once when the stream closes (its file handle is closed). */
  onClose?: () => void;
  /** Share reads with other responses sending the same file (`file`: its identity, `fileSize`: its length). */
  shared?: { reads: SharedReads; file: string; fileSize: number };
}

/** Ranges smaller than this are read into a buffer of their own (a manifest or config), not a pooled block. */
const SMALLEST_POOLED = 64 * 1024;

/** The read size, or the power of two at or above a smaller range (its block is not much larger than it); 0 below SMALLEST_POOLED. */
export function blockSizeFor(span: number, readSize: number): number {
  if (span < Math.min(SMALLEST_POOLED, readSize)) return 0;
  let size = readSize;
  while (size / 2 >= span && size / 2 >= SMALLEST_POOLED) size /= 2;
  return size;
}

/**
 * Write `parts` to `dest` in order (corked when there are several: one `writev` to a socket); resolves when
 * `dest` has flushed the last (its write callback), rejects on a write error.
 */
const writeParts = (dest: Writable, parts: Buffer[]): Promise<void> =>
  new Promise((resolve, reject) => {
    const last = parts.length - 1;
    if (last < 0) return resolve();
    if (last > 0) dest.cork();
    try {
      parts.forEach((part, i) => dest.write(part, (err) => (err ? reject(err) : i === last && resolve())));
    } finally {
      if (last > 0) dest.uncork();
    }
  });


/**
 * A byte range of an open file. Read as a Readable, every read gets a fresh buffer (the consumer
 * owns what it is pushed). Sent with `writeTo`, it holds at most two pooled blocks at a time, each
 * given back only after the destination's write callback says it was flushed: no allocation, page
 * faults or garbage per MiB served; with `shared`, a block another response holds is sent again
 * instead of read again (SharedReads).
 */
export class FileReadStream extends Readable {
  private position: number;
  private remaining: number;
  /** The range's length (block sizes follow it: blockSizeFor). */
  private readonly span: number;
  /** The size of the last pooled block sent (0 before the first). */
  private lastBlock = 0;
  private claimed = false;
  private ownBlocks: FileReadStreamOptions['shared'];

  constructor(
    private readonly handle: FileHandle,
    private readonly options: FileReadStreamOptions,
  ) {
    super({ highWaterMark: options.chunkSize });
    this.position = options.start;
    this.remaining = Math.max(0, options.end - options.start + 1);
    this.span = this.remaining;
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
    let onClose!: () => void;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => {
        // 'close' also follows a normal 'finish'; only an early close is a failure.
        if (!dest.writableFinished) reject(new Error('destination closed before the object was sent'));
      };
    });
    closed.catch(() => undefined);
    dest.once('close', onClose);
    try {
      await this.sendPieces((parts) => ({ flushed: writeParts(dest, parts) }), closed);
      // Ended before the file is closed: a client that has every byte may hang up at once.
      dest.end();
      await Promise.race([finished(dest), closed]);
    } finally {
      dest.off('close', onClose);
      await this.closeFile();
    }
  }

  /** Close the file (destroy the stream) and wait for it. */
  async closeFile(): Promise<void> {
    if (!this.closed) await new Promise((resolve) => this.once('close', resolve).destroy());
  }

  /**
   * Hand every byte to `send`, piece by piece (the caller closes the file after). A piece is one or more
   * parts, in order (a block read into several pooled buffers: SharedReads). `send` gives each piece to its
   * destination and says when the destination is through with its memory (`flushed`; rejects on a
   * write error), or gives undefined to stop. At most two pieces are out at once: the next is read
   * only once the older one was flushed. Resolves true once every piece was flushed, false when `send`
   * stopped; rejects when a read, a write or `gone` fails first. A piece whose flush never came is
   * never pooled again. Only for a stream that has not been read as a Readable.
   */
  async sendPieces(send: (parts: Buffer[]) => Promise<{ flushed: Promise<void> } | undefined> | { flushed: Promise<void> }, gone: Promise<never>): Promise<boolean> {
    if (this.claimed || this.destroyed) throw new Error('FileReadStream: the stream is already being read');
    this.claimed = true;
    const out = new Set<BlockPiece>();
    const flushes: Array<Promise<void>> = [];
    let complete = false;
    try {
      while (this.remaining > 0) {
        if (flushes.length === 2) await Promise.race([flushes.shift(), gone]);
        const piece = this.nextPiece();
        out.add(piece);
        const sent = await send(await Promise.race([piece.bytes, gone]));
        if (!sent) return false;
        const flushed = sent.flushed.then(() => {
          out.delete(piece);
          piece.release(true);
        });
        flushed.catch(() => undefined); // observed by the race above or below
        flushes.push(flushed);
      }
      await Promise.race([Promise.all(flushes), gone]);
      complete = true;
      return true;
    } finally {
      if (!complete) for (const piece of out) piece.release(false);
    }
  }

  /**
   * The next bytes to send, and advance. A range of 64 KiB or more goes in pooled blocks aligned to
   * the block size (the read size now, or the power of two at or above a smaller range), shared with
   * other responses sending the same file (SharedReads); a smaller one is read whole into a buffer of
   * its own. A piece runs to the end of its block; a bigger block size is taken only where the position is
   * aligned to it.
   */
  private nextPiece(): BlockPiece {
    const { chunkSize } = this.options;
    const from = this.position;
    let block = blockSizeFor(this.span, this.options.readSize?.() ?? chunkSize);
    // A bigger size than the last block's waits until the position is aligned to it: the block around
    // `from` would otherwise be read from its start, bytes this stream already sent.
    while (this.lastBlock > 0 && block > this.lastBlock && from % block !== 0) block /= 2;
    this.lastBlock = block;
    if (block === 0) {
      const buffer = Buffer.allocUnsafe(Math.min(chunkSize, this.remaining));
      return { bytes: this.readInto(buffer).then((n) => [buffer.subarray(0, n)]), release: () => undefined };
    }
    const to = Math.min(from - (from % block) + block, from + this.remaining);
    this.position = to;
    this.remaining -= to - from;
    const read = (parts: Buffer[], offset: number) => this.readFully(parts, offset);
    // Without a shared registry, blocks of its own, still pooled; the file ends where the range does.
    const shared = this.options.shared ?? (this.ownBlocks ??= { reads: new SharedReads(this.options.pool, block), file: '', fileSize: this.options.end + 1 });
    return shared.reads.take(shared.file, shared.fileSize, block, from, to, read);
  }

  /** Fill `parts` in order from file offset `offset` (several: one `readv` each time); a file that ends first is an error. */
  private async readFully(parts: Buffer[], offset: number): Promise<void> {
    for (let left = parts; left.length > 0; ) {
      const first = left[0] as Buffer;
      const { bytesRead } = left.length === 1 ? await this.handle.read(first, 0, first.length, offset) : await this.handle.readv(left, offset);
      if (bytesRead === 0) throw new Error(`object ended ${left.reduce((n, part) => n + part.length, 0)} bytes before its expected end`);
      offset += bytesRead;
      left = bytesBetween(left, bytesRead, Number.POSITIVE_INFINITY);
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
