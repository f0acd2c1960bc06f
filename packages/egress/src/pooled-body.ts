import { Readable } from 'node:stream';
import type { SlabPool } from './slab-pool.js';

/** Chunks a PooledBody buffers ahead of its reader (object mode: each a slab view of up to a slab). */
export const POOLED_BODY_READ_AHEAD_CHUNKS = 16;

/**
 * A response body whose chunks are views into pooled read slabs (SlabPool). Each chunk is lent to
 * the reader: call `release(chunk)` once its bytes are no longer needed anywhere (every write of it
 * done), and `retain(chunk)` first for each further holder. A chunk never released is garbage
 * collected like any buffer; releasing one that is still held elsewhere lets its bytes be overwritten.
 * Object mode, so a read never concatenates chunks (which would copy them out of their slabs).
 */
export class PooledBody extends Readable {
  constructor(
    private readonly pool: SlabPool,
    private readonly control: { resume(): void; abort(err: Error | null): void },
  ) {
    super({ objectMode: true, highWaterMark: POOLED_BODY_READ_AHEAD_CHUNKS });
    // A body can fail before its reader attached (in the read that delivered its head): the reader still
    // sees the error (iteration rejects, `errored`), and a body nobody reads must not crash the process.
    this.on('error', () => undefined);
  }

  /** Called by the reader: a fresh view, lent to this body's consumer. */
  offer(view: Buffer): boolean {
    return this.push(view);
  }

  retain(chunk: Buffer): void {
    this.pool.retain(chunk);
  }

  release(chunk: Buffer): void {
    this.pool.release(chunk);
  }

  override _read(): void {
    this.control.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.control.abort(err);
    callback(err);
  }

  /** Read and drop the body (releasing each chunk); past `limit` bytes it is destroyed instead (leaving the loop does). */
  async dump(options: { limit?: number } = {}): Promise<void> {
    const limit = options.limit ?? 128 * 1024;
    let seen = 0;
    for await (const chunk of this as AsyncIterable<Buffer>) {
      seen += chunk.length;
      this.release(chunk);
      if (seen > limit) return;
    }
  }

  /** The whole body as text (releasing each chunk). */
  async text(): Promise<string> {
    const parts: Buffer[] = [];
    for await (const chunk of this as AsyncIterable<Buffer>) {
      parts.push(Buffer.from(chunk));
      this.release(chunk);
    }
    return Buffer.concat(parts).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}
