import type { PassThrough, Writable } from 'node:stream';

/** Resolves true on 'drain'; false on 'close' or when `timeoutMs` (> 0) passes first. */
export const drained = (stream: Writable, timeoutMs = 0): Promise<boolean> =>
  new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (value: boolean) => () => {
      clearTimeout(timer);
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      resolve(value);
    };
    const onDrain = finish(true);
    const onClose = finish(false);
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    if (timeoutMs > 0) timer = setTimeout(finish(false), timeoutMs);
  });

/**
 * One client reading bytes `start`..`end` (inclusive; Infinity: to the end) of a blob while it
 * arrives from the upstream. A tap whose range reaches the blob's last byte is `verified`: it holds
 * its latest slice back until the whole blob's digest is verified, so a corrupt blob never looks
 * complete. A tap that ends earlier gets every byte of its range as soon as it arrives and ends
 * there: nothing about a range can be verified before the whole blob is (see the README).
 */
export class LiveTap {
  private alive = true;
  private held: Buffer | undefined;

  constructor(
    readonly sink: PassThrough,
    readonly start: number,
    readonly end: number,
    private readonly verified: boolean,
    private readonly stallTimeoutMs: number,
  ) {}

  /** The chunk at blob offset `offset` has arrived: pass on the part inside the range. */
  async offer(chunk: Buffer, offset: number): Promise<void> {
    const from = Math.max(this.start, offset);
    const to = Math.min(this.end + 1, offset + chunk.length);
    if (!this.alive || to <= from) return;
    const slice = chunk.subarray(from - offset, to - offset);
    if (this.verified) {
      const previous = this.held;
      this.held = slice;
      if (previous) await this.write(previous);
      return;
    }
    await this.write(slice);
    if (to === this.end + 1 && this.alive) {
      this.alive = false;
      this.sink.end();
    }
  }

  /** The digest matched: the held slice goes out and the tap ends. */
  async complete(): Promise<void> {
    if (this.held) await this.write(this.held);
    this.held = undefined;
    if (this.alive) this.sink.end();
    this.alive = false;
  }

  /** The fetch failed: cut the client off (an ended range keeps what it got). */
  fail(err: Error): void {
    this.alive = false;
    if (!this.sink.writableEnded) this.sink.destroy(err);
  }

  private async write(slice: Buffer): Promise<void> {
    if (!this.alive) return;
    if (this.sink.destroyed) {
      this.alive = false;
      return;
    }
    if (!this.sink.write(slice) && !(await drained(this.sink, this.stallTimeoutMs))) {
      // Gone, or stalled: stop feeding it (the fetch goes on for the store and for callers waiting on it).
      this.alive = false;
      this.sink.destroy(new Error(`client stalled: no room for more bytes within ${this.stallTimeoutMs} ms`));
    }
  }
}
