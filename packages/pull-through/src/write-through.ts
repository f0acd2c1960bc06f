import type { Hash } from 'node:crypto';
import { DigestMismatchError, digestAlgorithm } from '@pullthrough/oci';
import type { BlobWriter } from '@pullthrough/storage';
import { drained } from './live-tap.js';
import type { WriteLag } from './write-lag.js';

/**
 * Feeds one miss's upstream body to its store writer (BlobWriter, which hashes every byte as it is
 * written) without making the upstream read wait for the storage while a live client reads the miss:
 * what the storage has not taken yet waits in memory, bounded by the WriteLag (per miss and in all).
 * When the writer is further behind than that at receive offset R, it is fed no more (a lag
 * overflow): it keeps its bytes up to R and its hash state at R, and the receive side goes on hashing
 * a copy of that state (Hash.copy()) so the clients' copy is still verified as a whole; the store's
 * rest is fetched again from R (completeStoreTail) and hashed on by the writer, whose commit checks
 * the whole digest. With no live client the read waits for the writer as before (nobody is slowed).
 */
export class WriteThrough {
  /** Bytes handed to the writer that the storage has not taken yet (counted in the WriteLag). */
  private queued = 0;
  private received = 0;
  private released = false;
  private overflow: { at: number; hash: Hash } | undefined;

  constructor(
    private readonly writer: BlobWriter,
    private readonly lag: WriteLag,
    /** Whether a client reads the miss live now (then the read must not wait for the storage). */
    private readonly liveClients: () => boolean,
  ) {}

  /** Where the writer stopped being fed (its bytes end there), once the lag overflowed. */
  get overflowAt(): number | undefined {
    return this.overflow?.at;
  }

  /**
   * The next chunk of the body: hashed (and checked against the expected size) now, before any
   * client sees it, and queued for the writer unless the lag overflowed. True when the read should
   * wait for the writer (`room()`) before the next chunk: only when no client reads live.
   */
  take(chunk: Buffer): boolean {
    const offset = this.received;
    this.received += chunk.length;
    if (this.overflow) {
      this.overflow.hash.update(chunk);
      this.checkSize();
      return false;
    }
    const live = this.liveClients();
    if (live && !this.lag.reserve(chunk.length, this.queued)) {
      this.overflow = { at: offset, hash: this.writer.hashState() };
      this.lag.countOverflow();
      this.overflow.hash.update(chunk);
      this.checkSize();
      return false;
    }
    if (!live) this.lag.take(chunk.length);
    this.queued += chunk.length;
    const room = this.writer.write(chunk, () => this.taken(chunk.length));
    this.checkWriter();
    return !room && !live;
  }

  /** Wait until the writer has room again (or failed: throws its error). */
  async room(): Promise<void> {
    if (!this.writer.destroyed) await drained(this.writer);
    this.checkWriter();
  }

  /**
   * The body ended: throws DigestMismatchError when what was received is not the blob. Without an
   * overflow the writer's own hash covers every byte (and no byte may be written after this).
   */
  verifyReceived(): void {
    if (!this.overflow) {
      this.writer.verify();
      return;
    }
    const { digest, size } = this.writer.expected;
    const actual = `${digestAlgorithm(digest)}:${this.overflow.hash.digest('hex')}`;
    if (actual !== digest || (size !== undefined && size !== this.received)) {
      throw new DigestMismatchError('blob content does not match its digest', { detail: { expected: digest, actual, expectedSize: size ?? null, actualSize: this.received } });
    }
  }

  /** Give back what is still counted in the lag (the fetch is over: committed or aborted). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.lag.release(this.queued);
    this.queued = 0;
  }

  /** The storage took `bytes` (a write's callback; also called with an error when the writer is destroyed). */
  private taken(bytes: number): void {
    if (this.released) return;
    this.queued -= bytes;
    this.lag.release(bytes);
  }

  private checkWriter(): void {
    if (this.writer.destroyed) throw this.writer.errored ?? new Error('blob writer closed before the blob was complete');
  }

  private checkSize(): void {
    const { digest, size } = this.writer.expected;
    if (size !== undefined && this.received > size) {
      throw new DigestMismatchError('blob is larger than its expected size', { detail: { expected: digest, actual: null, expectedSize: size, actualSize: this.received } });
    }
  }
}
