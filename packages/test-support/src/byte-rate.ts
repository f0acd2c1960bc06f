import { Transform } from 'node:stream';

/** Slices a body is cut into before it takes its turn on the link: small enough for concurrent bodies to interleave. */
const SLICE_BYTES = 16 * 1024;

/**
 * One link's bandwidth shared by every body that passes through it (a bandwidth-limited path, not a
 * per-connection cap): bytes go out in FIFO turns on a virtual clock, so N concurrent bodies each get
 * about 1/N of `bytesPerSecond` and the total never exceeds it. 0 or less: no limit.
 */
export class ByteRate {
  private clock = 0;

  constructor(public bytesPerSecond: number) {}

  /** Resolves once `bytes` have had their time on the link (at once when there is no limit). */
  async take(bytes: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    const now = Date.now();
    this.clock = Math.max(now, this.clock) + (bytes * 1000) / this.bytesPerSecond;
    const wait = this.clock - now;
    if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  /** A pass-through stream whose output leaves at this link's pace. */
  throttle(): Transform {
    const rate = this;
    return new Transform({
      transform(this: Transform, chunk: Buffer, _encoding, callback) {
        if (rate.bytesPerSecond <= 0) return callback(null, chunk);
        const send = async (): Promise<void> => {
          for (let i = 0; i < chunk.length; i += SLICE_BYTES) {
            const slice = chunk.subarray(i, i + SLICE_BYTES);
            await rate.take(slice.length);
            this.push(slice);
          }
        };
        send().then(() => callback(), callback);
      },
    });
  }
}
