import type { Writable } from 'node:stream';
import type { ClientBuffers } from './client-buffers.js';

/**
 * A live tap's bytes handed to its destination whose writes have not completed yet (its socket still buffers
 * them). They stay reserved in the client buffers until each write completes, so what a socket holds is bounded
 * by the client's buffer. One stall watch for them all (not a timer per write): a destination that completes no
 * write for `stallTimeoutMs` while some are in flight is reported (`onStall`). Once `drop`ped (the tap closed),
 * their bytes are released at once and later completions are ignored: a gone client's writes may never complete.
 */
export class InFlightWrites {
  /** Bytes handed over and not written yet. */
  bytes = 0;
  private progressAt = 0;
  private watch: NodeJS.Timeout | undefined;
  private dropped = false;

  constructor(
    private readonly buffers: ClientBuffers,
    private readonly stallTimeoutMs: number,
    /** A write of `length` bytes completed. */
    private readonly onLanded: (length: number) => void,
    private readonly onStall: () => void,
  ) {}

  /** Write `slice` (reserved in the buffers) to `out` without waiting for 'drain'; `giveBack` once its write completed. */
  send(out: Writable, slice: Buffer, giveBack: (() => void) | undefined): void {
    const length = slice.length;
    if (this.bytes === 0) this.progressAt = Date.now();
    this.bytes += length;
    out.write(slice, () => {
      giveBack?.();
      this.landed(length);
    });
    this.watchStall();
  }

  /** No more watching (every write completed, or the tap settled). */
  stop(): void {
    clearTimeout(this.watch);
    this.watch = undefined;
  }

  /** The tap closed: what is in flight is released now, once. */
  drop(): void {
    this.dropped = true;
    this.buffers.release(this.bytes);
    this.bytes = 0;
    this.stop();
  }

  private landed(length: number): void {
    if (this.dropped) return;
    this.bytes -= length;
    this.buffers.release(length);
    this.progressAt = Date.now();
    this.onLanded(length);
  }

  private watchStall(): void {
    if (this.watch || this.stallTimeoutMs <= 0) return;
    this.watch = setTimeout(() => {
      this.watch = undefined;
      if (this.bytes === 0 || this.dropped) return;
      if (Date.now() - this.progressAt < this.stallTimeoutMs) return void this.watchStall();
      this.onStall();
    }, Math.max(1, this.stallTimeoutMs - (Date.now() - this.progressAt)));
    this.watch.unref();
  }
}
