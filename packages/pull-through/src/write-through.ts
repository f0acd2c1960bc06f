import type { Hash } from 'node:crypto';
import { releaseLent, retainLent } from '@pullthrough/egress';
import { DigestMismatchError, digestAlgorithm } from '@pullthrough/oci';
import type { BlobWriter } from '@pullthrough/storage';
import { drained } from './stream-drained.js';
import { ReceivePace } from './receive-pace.js';
import type { WriteLag } from './write-lag.js';

/**
 * Feeds one miss's upstream body to its store writer (BlobWriter, which hashes every byte as it is
 * written) without making the upstream read wait for a store that keeps up while a live client reads
 * the miss: what the storage has not taken yet waits in memory, bounded by the WriteLag (per miss and
 * in all). When the lag is full, the store's pace decides (`keepsPace`): if over the miss so far the
 * storage's rate was at least `minStoreShare` of the receive rate, the read waits for it (a lag wait)
 * until this miss's queue is down to half its lag (and the total has that room again); a wait in
 * which the store takes no byte for `stallMs` ends in an overflow after all. Otherwise, or then, the
 * writer is fed no more from receive offset R (a lag overflow): it keeps its bytes up to R and its
 * hash state at R, and the receive side goes on hashing a copy of that state (Hash.copy()) so the
 * clients' copy is still verified as a whole; the store's rest is fetched again from R
 * (completeStoreTail) and hashed on by the writer, whose commit checks the whole digest. With no
 * live client the read waits for the writer as before.
 */
export class WriteThrough {
  /** Bytes handed to the writer that the storage has not taken yet (counted in the WriteLag). */
  private queued = 0;
  private received = 0;
  /** Bytes the storage has taken (write callbacks). */
  private stored = 0;
  /** The last take() asked the read to wait for the store although a client reads live. */
  private liveWait = false;
  private released = false;
  private overflow: { at: number; hash: Hash } | undefined;
  /**
   * Buffers written to the writer, each with the chunk lent by a slab pool it is (or is a part of), which is held
   * for the writer (retainLent) and given back once the writer is done with the buffer.
   */
  private readonly heldForWriter = new WeakMap<Buffer, Buffer>();

  constructor(
    private readonly writer: BlobWriter,
    private readonly lag: WriteLag,
    /** Whether a client reads the miss live now (then the read must not wait for the storage). */
    private readonly liveClients: () => boolean,
    /** The read's own pace (shared with the client waits: their time is not the upstream's either): what `keepsPace` judges. */
    private readonly pace: ReceivePace = new ReceivePace(),
  ) {
    // A writer that says when it is done with a chunk's memory lets a pooled chunk's slab be read into
    // again; with any other writer a pooled chunk stays held (its slab is left to the collector).
    writer.onChunkDone((written) => {
      const lent = this.heldForWriter.get(written);
      if (!lent) return;
      this.heldForWriter.delete(written);
      releaseLent(lent);
    });
  }

  /**
   * `written` is about to go to the writer (take(), or the store's rest: completeStoreTail): when it is `chunk`
   * lent by a slab pool, or a part of it, the chunk is held for the writer until it is done with `written`.
   */
  holdForWriter(written: Buffer, chunk: Buffer = written): void {
    if (retainLent(chunk)) this.heldForWriter.set(written, chunk);
  }

  /** Where the writer stopped being fed (its bytes end there), once the lag overflowed. */
  get overflowAt(): number | undefined {
    return this.overflow?.at;
  }

  /**
   * The next chunk of the body: hashed (and checked against the expected size) now, before any
   * client sees it, and queued for the writer unless the lag overflowed. True when the read should
   * wait for the writer (`room()`) before the next chunk: when no client reads live, or when the
   * lag is full and the store keeps pace (a lag wait).
   */
  take(chunk: Buffer): boolean {
    const offset = this.received;
    if (this.overflow) {
      this.count(chunk.length);
      this.overflow.hash.update(chunk);
      this.checkSize();
      return false;
    }
    const live = this.liveClients();
    let wait = !live;
    if (live && !this.lag.reserve(chunk.length, this.queued)) {
      if (!this.keepsPace()) {
        this.overflowFrom(offset);
        this.count(chunk.length);
        this.overflow!.hash.update(chunk);
        this.checkSize();
        return false;
      }
      // The store keeps pace: this chunk goes to it anyway (over the lag by one chunk) and the read waits.
      this.lag.countWait();
      wait = true;
      this.liveWait = true;
    }
    this.count(chunk.length);
    if (wait) this.lag.take(chunk.length);
    this.queued += chunk.length;
    this.holdForWriter(chunk);
    const room = this.writer.write(chunk, () => this.taken(chunk.length));
    this.checkWriter();
    return this.liveWait || (!room && !live);
  }

  /**
   * Wait until the writer has room again (or failed: throws its error). After a lag wait's take():
   * until this miss's queue is down to half its lag and the total has that room too, or until the
   * store took no byte for `stallMs` (then the miss overflows here). While this miss has nothing
   * queued (only the total is full), any store taking bytes counts as progress: they share the room.
   */
  room(): Promise<void> {
    return this.pace.waiting(() => this.waitForStore());
  }

  private async waitForStore(): Promise<void> {
    if (!this.liveWait) {
      if (!this.writer.destroyed) await drained(this.writer);
      this.checkWriter();
      return;
    }
    this.liveWait = false;
    const half = this.lag.limits.perMissBytes / 2;
    let progressAt = Date.now();
    let stored = this.stored;
    while (!this.lag.fits(half, this.queued)) {
      const woken = await this.lag.released(Math.max(1, progressAt + this.lag.stallMs - Date.now()));
      this.checkWriter();
      if (this.stored > stored || (woken && this.queued === 0)) {
        stored = this.stored;
        progressAt = Date.now();
      } else if (Date.now() - progressAt >= this.lag.stallMs) {
        this.overflowFrom(this.received);
        return;
      }
    }
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

  /**
   * Whether the store kept pace over the miss so far: its rate (bytes taken per ms since the first
   * byte, waits included: it works meanwhile) is at least `minStoreShare` of the receive rate (bytes
   * received per ms in which the read did not wait for the store: the upstream's own pace). The
   * whole miss, not the last moment: a store's pace is bursty (in the bench it took no byte for about
   * 100 ms while 20 MiB came in), and while the read waits both go at the store's pace. 1 never
   * waits (overflow as soon as the lag is full). (ReceivePace: the time the read waited for a live
   * client is not the upstream's either.)
   */
  private keepsPace(): boolean {
    const { minStoreShare } = this.lag;
    if (minStoreShare >= 1) return false;
    if (this.received === 0) return true;
    return this.pace.share(this.stored, this.pace.since ?? Date.now()) >= minStoreShare;
  }

  /** `bytes` more came from the upstream (this miss's offset, and the read's pace). */
  private count(bytes: number): void {
    this.received += bytes;
    this.pace.add(bytes);
  }

  /** Feed the writer no more: it ends at `at`, the received bytes from there are hashed on a copy of its state. */
  private overflowFrom(at: number): void {
    this.overflow = { at, hash: this.writer.hashState() };
    this.lag.countOverflow();
  }

  /** The storage took `bytes` (a write's callback; also called with an error when the writer is destroyed). */
  private taken(bytes: number): void {
    if (this.released) return;
    this.stored += bytes;
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
