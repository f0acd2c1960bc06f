import type { Writable } from 'node:stream';
import type { ClientBuffers } from './client-buffers.js';
import { InFlightWrites } from './in-flight-writes.js';
import type { LentSlices } from './lent-slices.js';
import { liveFlushes } from './next-turn.js';

/**
 * A live tap's slices on their way to its client, counted in its buffer the whole way: queued, then handed
 * to the destination without a wait for 'drain' (InFlightWrites) until each write completes. The slices of
 * the chunks one turn of the event loop brings go out together at the turn's end (NextTurn), in one corked
 * write: one writev and one syscall for each client, not one per chunk (in a herd, where the upstream
 * sockets' reads come many to a poll phase, that took the frontend's CPU from 650 to 510 ms). Once half the
 * client's buffer is taken it goes out at once.
 */
export class LiveQueue {
  private readonly slices: Buffer[] = [];
  private queued = 0;
  private readonly inFlight: InFlightWrites;
  private readonly batchBytes: number;

  constructor(
    private readonly buffers: ClientBuffers,
    private readonly lent: LentSlices,
    stallTimeoutMs: number,
    /** A write of `length` bytes completed. */
    onLanded: (length: number) => void,
    /** No write completed for the stall timeout while some were in flight. */
    onStall: () => void,
  ) {
    this.batchBytes = buffers.limits.perClientBytes / 2;
    this.inFlight = new InFlightWrites(buffers, stallTimeoutMs, onLanded, onStall);
  }

  /** Bytes queued, or handed to the destination and not written yet. */
  get pending(): number {
    return this.queued + this.inFlight.bytes;
  }

  /** Bytes handed to the destination and not written yet. */
  get inFlightBytes(): number {
    return this.inFlight.bytes;
  }

  add(slice: Buffer): void {
    this.slices.push(slice);
    this.queued += slice.length;
  }

  /**
   * A live chunk's slice was added: `flush` at the end of this turn of the event loop, or now once the client's
   * buffer is half taken (queued, in flight, and `held`: a slice its tap holds back). So waiting for the turn
   * never takes a client to the end of its buffer (where it would fall behind) that writing at once would not.
   */
  flushWith(flush: () => void, held: number): void {
    if (this.pending + held >= this.batchBytes) flush();
    else liveFlushes.soon(flush);
  }

  /**
   * Hand every queued slice to `out`, corked into one write (`direct`: an HTTP response, whose write callback
   * comes once its socket has the bytes: a lent chunk is given back then). False when `out` was destroyed first.
   */
  handAll(out: Writable, direct: boolean): boolean {
    const corked = this.slices.length > 1;
    if (corked) out.cork();
    try {
      while (this.slices.length > 0) {
        if (out.destroyed) return false;
        const slice = this.slices.shift()!;
        this.queued -= slice.length;
        this.inFlight.send(out, slice, this.lent.written(slice, direct));
      }
      return true;
    } finally {
      if (corked) out.uncork();
    }
  }

  /** The queued slices will not be written: released, their lent chunks given back. */
  clear(): void {
    this.buffers.release(this.queued);
    for (const slice of this.slices) this.lent.drop(slice);
    this.slices.length = 0;
    this.queued = 0;
  }

  /** The tap closed: the queued slices and those in flight are released now (a gone client's writes may never complete). */
  close(): void {
    this.clear();
    this.inFlight.drop();
  }

  /** Every write completed, or the tap settled: no more stall watch. */
  stop(): void {
    this.inFlight.stop();
  }
}
