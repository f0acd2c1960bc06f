import { PassThrough, type Readable, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { sendReadBack, type ReadBack } from './read-back.js';
import { sendStored } from './stored-pieces.js';
import type { ClientBuffers } from './client-buffers.js';
import { drained } from './stream-drained.js';
import { LentSlices } from './lent-slices.js';
import { Wakeups } from './wakeups.js';
import { LiveQueue } from './live-queue.js';

/** Opens bytes `start`..`end` (inclusive) of the committed blob. */
export type StoredBlobOpener = (start: number, end: number) => Promise<Readable>;

/**
 * live: takes bytes as they arrive; ending: has every byte it will get queued; behind: fell behind
 * its buffer and waits for the commit; resuming: reads the rest from the stored blob; closed.
 */
type TapMode = 'live' | 'ending' | 'behind' | 'resuming' | 'closed';

/**
 * One client reading bytes `start`..`end` (inclusive; Infinity: to the end) of a blob while it
 * arrives from the upstream. `offer` never waits: the bytes go into the tap's own bounded buffer
 * (ClientBuffers), and the tap writes them to the client as fast as the client takes them. A client
 * whose buffer is full falls behind: it gets no more live bytes, and once the blob is committed it
 * continues from the stored object at exactly the offset it had reached (same response); if the
 * fetch fails instead, it is cut. Unless the fetch should wait for it instead (`offer`'s `mayWait`,
 * judged by clientWaits): then it takes the chunk over its buffer and the read waits (`room()`) until
 * its buffer is down to half; a client that takes no byte for the buffers' `waitStallMs` meanwhile
 * falls behind after all. A client that takes no bytes for the stall timeout while it has some
 * waiting is cut off (only it).
 *
 * A tap whose range reaches the blob's last byte is `verified`: it holds its latest slice back until
 * the whole blob's digest is verified, so a corrupt blob never looks complete. A tap that ends
 * earlier gets every byte of its range as soon as it arrives and ends there: nothing about a range
 * can be verified before the whole blob is (see the README).
 *
 * Where the bytes go is decided by the first caller: `sendTo(dest)` writes them to `dest` (an HTTP
 * response) directly, with no stream in between; `stream` is a Readable of them (a PassThrough) for
 * anything else. Until then they wait in the tap's buffer.
 */
export class LiveTap {
  private mode: TapMode = 'live';
  /** Live slices queued or handed to the destination, counted in the tap's buffer until written. */
  private readonly queue: LiveQueue;
  /** Every byte is handed over and the destination ended: the tap settles once the last in-flight write completes. */
  private ended = false;
  /** A verified tap's latest slice, held until the digest is verified (counted in its buffer). */
  private held: Buffer | undefined;
  /** Blob offset of the next byte the tap has not taken in yet (queued or held). */
  private next: number;
  /** While true a write to the client (or a read from the store) is under way and owns the sink. */
  private writing = false;
  private stored: { open: StoredBlobOpener; size: number } | undefined;
  /** Bytes handed to the client so far (its pace: see `handed`), and when the tap started (ms). */
  private written = 0;
  readonly startedAt = Date.now();
  /** Wakes a `room()` wait when the buffer or the mode changed, or the client took bytes. */
  private readonly wakeups = new Wakeups();
  /** Where the bytes go (set by `sendTo` or `stream`); a direct destination is ended but never destroyed here. */
  private out: Writable | undefined;
  private piped: PassThrough | undefined;
  /** For `sendTo`: settles once the tap closed (rejects with the error that cut it, or when the client went away). */
  private settle: ((err?: Error) => void) | undefined;
  /** Runs while bytes wait for a destination (awaitClient). */
  private unattached: NodeJS.Timeout | undefined;
  /** Why the tap was closed before its end (the client went away, the fetch failed, it stalled). */
  private failure: Error | undefined;
  /** The first bytes to read back from the store before the live ones (chase). */
  private readBack: ReadBack | undefined;
  /** Reading back, not yet within reach of the fetch's position: takes no live bytes (chase). */
  private chasing = false;
  /** Slices of chunks lent by a slab pool: each chunk held until its slice is written or dropped. */
  private readonly lent = new LentSlices();

  constructor(
    readonly start: number,
    readonly end: number,
    private readonly verified: boolean,
    private readonly buffers: ClientBuffers,
    private readonly stallTimeoutMs: number,
  ) {
    this.next = start;
    this.queue = new LiveQueue(buffers, this.lent, stallTimeoutMs, (length) => this.landed(length), () => this.cutStalled());
  }

  /**
   * A tap made after the fetch went past its kept first bytes: it reads its bytes back from what the
   * store has written, taking no live bytes until it is within reach of the fetch (then live), or
   * behind when the fetch stops receiving first (sendReadBack). Call before any offer.
   */
  chase(readBack: Omit<ReadBack, 'from'>): void {
    this.readBack = { ...readBack, from: this.start };
    this.chasing = true;
  }

  /** Whether the tap fell behind its buffer (it waits for the stored blob). */
  get behind(): boolean {
    return this.mode === 'behind' || this.mode === 'resuming';
  }

  /** Whether the tap takes the bytes as they arrive (its client reads the upstream's pace now). */
  get live(): boolean {
    return this.mode === 'live' && !this.gone && !this.chasing;
  }

  /** The tap's bytes as a Readable (made on first use; then `sendTo` pipes it). */
  get stream(): Readable {
    if (!this.piped) {
      if (this.out) throw new Error('LiveTap.stream: the tap already writes to a destination');
      this.piped = new PassThrough({ highWaterMark: 64 * 1024 });
      // Until the caller pipes it, a failure must not become an unhandled 'error' event.
      this.piped.on('error', () => undefined);
      this.attach(this.piped);
      if (this.mode === 'closed') this.piped.destroy(this.failure);
      this.flush();
    }
    return this.piped;
  }

  /**
   * Send the tap's bytes to `dest` and end it; resolves once `dest` has finished. Rejects with the
   * error that cut the tap (the fetch failed, the client stalled) or when `dest` closed first, leaving
   * `dest` to the caller (who can still answer with an error when nothing was sent).
   */
  sendTo(dest: Writable): Promise<void> {
    if (this.piped) return pipeline(this.piped, dest);
    if (this.out) return Promise.reject(new Error('LiveTap.sendTo: the tap already writes to a destination'));
    if (this.mode === 'closed') return Promise.reject(this.failure ?? new Error('the blob fetch ended before its client was attached'));
    this.attach(dest);
    const closed = new Promise<void>((resolve, reject) => (this.settle = (err) => (err ? reject(err) : resolve())));
    this.flush();
    return closed.then(async () => {
      if (!dest.writableFinished) await finished(dest);
    });
  }

  /** The destination went away (a client that disconnected). */
  private get gone(): boolean {
    return this.out?.destroyed === true;
  }

  /** Bytes the tap has handed to its client (written to its stream) so far. */
  get handed(): number {
    return this.written;
  }

  /**
   * Whether the tap takes the bytes as they arrive, its range covers some of the `length` bytes at
   * blob offset `offset`, and it would take `bytes` more within its own buffer (a range that starts
   * further on, or ended before, keeps up with nothing here).
   */
  hasRoom(bytes: number, offset: number, length: number): boolean {
    return this.live && this.start < offset + length && this.end >= offset && this.holding + bytes <= this.buffers.limits.perClientBytes;
  }

  /**
   * The chunk at blob offset `offset` has arrived: take in the part inside the range. Never waits.
   * When the buffer is full the tap falls behind, unless `mayWait` (asked only then) says the read
   * should wait for it and the process's total has room: then it takes the part over its buffer and
   * returns true (a client wait): the read must not go on before `room()` resolves.
   */
  offer(chunk: Buffer, offset: number, mayWait?: (tap: LiveTap, bytes: number) => boolean): boolean {
    if (this.mode !== 'live' || this.chasing) return false;
    if (this.gone) {
      this.close();
      return false;
    }
    const from = Math.max(this.next, offset);
    const to = Math.min(this.end + 1, offset + chunk.length);
    if (to <= from) return false;
    const slice = chunk.subarray(from - offset, to - offset);
    let over = false;
    if (!this.buffers.reserve(slice.length, this.holding)) {
      if (!mayWait?.(this, slice.length) || !this.buffers.reserveOver(slice.length)) {
        this.fallBehind();
        return false;
      }
      over = true;
    }
    this.next = to;
    this.lent.take(slice, chunk);
    if (this.verified) {
      const previous = this.held;
      this.held = slice;
      if (previous) this.queue.add(previous);
    } else {
      // A range that ends before the blob does is complete with its last byte.
      if (to === this.end + 1) this.mode = 'ending';
      this.queue.add(slice);
    }
    this.queue.flushWith(this.flush, this.held?.length ?? 0);
    // A range that got its last byte with this slice takes no more: nothing to wait for.
    if (!over || this.mode !== 'live') return false;
    this.buffers.countWait();
    return true;
  }

  /**
   * After an offer that returned true: resolves once this tap's buffer is down to half (or all it has
   * left is a held slice), or it is live no more (ended, closed, cut off by the stall timeout). The
   * client falls behind after all when it takes no byte for `waitStallMs`, or when the wait has lasted
   * twice `waitStallMs` in all (a client that trickles a byte now and then holds the read no longer).
   */
  async room(): Promise<void> {
    const { waitStallMs } = this.buffers;
    const half = this.buffers.limits.perClientBytes / 2;
    let handed = this.written;
    const startedAt = Date.now();
    let progressAt = startedAt;
    while (this.live && this.queue.pending > 0 && this.holding > half) {
      const deadline = Math.min(progressAt + waitStallMs, startedAt + 2 * waitStallMs);
      await this.wakeups.next(Math.max(1, deadline - Date.now()));
      if (!this.live || this.queue.pending === 0 || this.holding <= half) return;
      const now = Date.now();
      if (this.written > handed) {
        handed = this.written;
        progressAt = now;
      }
      if (now - progressAt >= waitStallMs || now - startedAt >= 2 * waitStallMs) return this.fallBehind();
    }
  }

  /** The digest matched: the held slice goes out and the tap ends once its buffer is written. */
  complete(): void {
    if (this.mode !== 'live' || this.chasing) return;
    this.mode = 'ending';
    if (this.held) this.queue.add(this.held);
    this.held = undefined;
    this.flush();
  }

  /** The blob is committed: a tap that fell behind continues from the stored object. */
  committed(open: StoredBlobOpener, size: number): void {
    // Kept while reading back too: a read-back may still leave the tap behind.
    if (this.mode === 'closed' || this.mode === 'resuming') return;
    this.stored = { open, size };
    if (this.mode === 'behind') this.flush();
  }

  /** The fetch failed: cut the client off (a tap that has every byte it will get keeps them). */
  fail(err: Error): void {
    if (this.mode === 'ending' || this.mode === 'resuming' || this.mode === 'closed') return;
    this.close(err);
  }

  private get holding(): number {
    return this.queue.pending + (this.held?.length ?? 0);
  }

  private fallBehind(): void {
    // The held slice was never verified: it is read again from the stored blob.
    if (this.held) {
      this.buffers.release(this.held.length);
      this.next -= this.held.length;
      this.lent.drop(this.held);
      this.held = undefined;
    }
    this.mode = 'behind';
    this.buffers.countFellBehind();
    this.wakeups.wakeAll();
    this.flush();
  }

  /** Within reach of the fetch: the live bytes from `at` on; or behind (live bytes taken are dropped): the rest from the stored blob once committed. */
  private endChase(at: number, mode: 'live' | 'behind'): void {
    if (mode === 'behind') this.dropQueued();
    this.next = at;
    this.chasing = false;
    this.mode = mode;
  }

  /** Write what is queued while the client takes it; then end, or continue from the store (once there is a destination). */
  private readonly flush = (): void => {
    if (!this.out) return this.awaitClient();
    if (!this.writing) void this.writeQueued(this.out);
  };

  /** Bytes are waiting and nobody takes them yet: a client that never attaches is a stalled one (cut after the stall timeout). */
  private awaitClient(): void {
    if (this.unattached || this.stallTimeoutMs <= 0 || this.mode === 'closed') return;
    this.unattached = setTimeout(() => !this.out && this.mode !== 'closed' && this.cutStalled(), this.stallTimeoutMs);
    this.unattached.unref();
  }

  /** The bytes have a destination now. */
  private attach(out: Writable): void {
    this.out = out;
    clearTimeout(this.unattached);
    // A client that goes away with live bytes in flight: their writes may never complete (nor settle the tap).
    out.once('close', () => {
      if (this.queue.inFlightBytes > 0 || this.mode !== 'closed') this.close();
    });
  }

  private async writeQueued(out: Writable): Promise<void> {
    // Set and cleared synchronously around the loop: a flush while it runs is picked up by it.
    this.writing = true;
    try {
      const readBack = this.readBack;
      this.readBack = undefined;
      // A read-back buffer is read into again only with a direct destination (an HTTP response's write callback comes once its socket has the bytes).
      const sink = { closed: () => this.mode === 'closed', write: (slice: Buffer, sent: () => void) => this.write(out, slice, sent), close: (err?: Error) => this.close(err), join: (at: number) => this.endChase(at, 'live'), behind: (at: number) => this.endChase(at, 'behind') };
      if (readBack && !(await sendReadBack(out, out !== this.piped, readBack, sink))) return;
      if (!this.queue.handAll(out, out !== this.piped)) return this.close();
      if (this.mode === 'ending') this.finish(out);
      else if (this.mode === 'behind' && this.stored) await this.resume(out, this.stored.open, this.stored.size);
    } finally {
      this.writing = false;
    }
  }

  /** A live slice's write completed. */
  private landed(length: number): void {
    this.written += length;
    this.wakeups.wakeAll();
    if (this.ended && this.queue.inFlightBytes === 0) this.settled();
  }

  /**
   * Hand one slice that is not counted in the tap's buffer (read back, or from the stored blob) to the
   * client, waiting for 'drain' when it does not take it at once; false when it went away or stalled
   * (the tap is closed then). A slice of a lent chunk gives it back once written to a direct destination.
   */
  private async write(out: Writable, slice: Buffer, sent?: () => void): Promise<boolean> {
    const giveBack = this.lent.written(slice, out !== this.piped);
    const done = giveBack || sent ? () => (sent?.(), giveBack?.()) : undefined;
    if (out.write(slice, done) || (await drained(out, this.stallTimeoutMs))) {
      this.written += slice.length;
      this.wakeups.wakeAll();
      return true;
    }
    if (out.destroyed) this.close();
    else this.cutStalled();
    return false;
  }

  /** The client took no bytes for the stall timeout while some waited for it: it is cut off (only it). */
  private cutStalled(): void {
    this.buffers.countStalled();
    this.close(new Error(`client stalled: took no bytes for ${this.stallTimeoutMs} ms`));
  }

  private async resume(out: Writable, open: StoredBlobOpener, size: number): Promise<void> {
    this.mode = 'resuming';
    const last = Math.min(this.end, size - 1);
    let stream: Readable | undefined;
    try {
      if (this.next <= last && !out.destroyed) {
        stream = await open(this.next, last);
        const advance = (chunk: Buffer) => ((this.next += chunk.length), chunk);
        if (!(await sendStored(out, stream, out !== this.piped, (chunk, sent) => this.write(out, advance(chunk), sent)))) return this.close();
      }
      if (out.destroyed) return this.close();
      this.finish(out);
    } catch (err) {
      this.close(err as Error);
    } finally {
      stream?.destroy();
    }
  }

  /** Every byte is written: end the destination. */
  private finish(out: Writable): void {
    this.mode = 'closed';
    this.ended = true;
    out.end();
    if (this.queue.inFlightBytes === 0) this.settled();
  }

  private settled(): void {
    this.queue.stop();
    this.settle?.();
  }

  private dropQueued(): void {
    this.queue.clear();
    if (this.held) {
      this.buffers.release(this.held.length);
      this.lent.drop(this.held);
    }
    this.held = undefined;
  }

  private close(err?: Error): void {
    this.mode = 'closed';
    this.ended = false;
    this.dropQueued();
    // Writes that never complete (the client went away) release nothing: their bytes are released here, once.
    this.queue.close();
    this.failure ??= err;
    // Never attached: the read-back did not start and its reader is still open.
    void this.readBack?.reader.close().catch(() => undefined);
    this.readBack = undefined;
    this.wakeups.wakeAll();
    // A direct destination is the caller's (sendTo rejects); our own stream carries the error to its reader.
    if (this.settle) this.settle(err ?? new Error('the client went away before the blob was sent'));
    else if (err && this.piped && !this.piped.writableEnded) this.piped.destroy(err);
  }
}
