import { releaseLent, retainLent } from '@pullthrough/egress';
import type { ClientBuffers } from './client-buffers.js';
import type { LiveTap } from './live-tap.js';

/**
 * The first bytes of a running blob fetch, kept in memory while they fit the prefix size
 * (ClientBuffers.prefixBytes, at most one client buffer) and the process's total, so a client that
 * arrives after the fetch started can still read it live from byte 0. Once the fetch has passed that
 * size the prefix is dropped, and later callers wait for the commit and read the stored blob. Small
 * by default (2 MiB): a herd's clients arrive within milliseconds of each other, and every kept byte
 * is held until the fetch ends (with 8 MiB, five 8 MiB layers fetched at once held all 40 MiB).
 */
export class ReceivedPrefix {
  private chunks: Buffer[] | undefined = [];
  private bytes = 0;
  /** Kept chunks lent by a slab pool (retainLent): given back when the prefix is dropped. */
  private lent: Buffer[] = [];

  constructor(private readonly buffers: ClientBuffers) {}

  /** Whether every byte received so far is kept. */
  get available(): boolean {
    return this.chunks !== undefined;
  }

  /** Whether `bytes` more would still be kept (the prefix is kept and they fit its size). */
  keeps(bytes: number): boolean {
    return this.chunks !== undefined && this.bytes + bytes <= this.buffers.prefixBytes;
  }

  get size(): number {
    return this.bytes;
  }

  /** The next chunk of the body (in order): kept if it fits, else the whole prefix is dropped. */
  add(chunk: Buffer): void {
    if (!this.chunks) return;
    if (this.bytes + chunk.length > this.buffers.prefixBytes || !this.buffers.reserve(chunk.length, this.bytes)) return this.drop();
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (retainLent(chunk)) this.lent.push(chunk);
  }

  /** Offer every kept byte to a new tap, from offset 0 (the tap takes the part in its range). */
  replay(tap: LiveTap): void {
    let offset = 0;
    for (const chunk of this.chunks ?? []) {
      tap.offer(chunk, offset);
      offset += chunk.length;
    }
  }

  drop(): void {
    if (!this.chunks) return;
    this.buffers.release(this.bytes);
    this.chunks = undefined;
    this.bytes = 0;
    // Nobody is offered these any more; each tap that took one holds its own.
    for (const chunk of this.lent.splice(0)) releaseLent(chunk);
  }
}
