/**
 * Read sizes for object streams that share a memory budget. Each open stream holds about two
 * reads (one read ahead, one queued on the client socket), so big reads are cheap for a few
 * streams and costly for many: 20 clients x 3 parallel blobs with 1 MiB reads took a frontend
 * to 240-290 MiB RSS in `npm run bench`'s herd. Each read of a stream gets the largest power-of-two
 * size (between `min` and `max`) such that every stream open at that moment could hold one read of
 * that size within `budget`: one warm pull streams in `max` reads, a herd in smaller ones, and a
 * stream opened first reads smaller once more streams open (until 2026-12-05 a stream kept the size
 * it opened with: the first clients of a herd that waited for a commit read 4 MiB at a time while
 * the later ones read 128 KiB).
 */
export interface ReadSizerOptions {
  /** Bytes of reads that the streams open at once share. */
  budget: number;
  /** Smallest read size. */
  min: number;
  /** Largest read size. */
  max: number;
}

export class ReadSizer {
  private open = 0;
  private readonly budget: number;
  private readonly min: number;
  private readonly max: number;

  constructor({ budget, min, max }: ReadSizerOptions) {
    if (!(min > 0 && min <= max)) throw new RangeError('ReadSizer: need 0 < min <= max');
    this.budget = budget;
    this.min = min;
    this.max = max;
  }

  /** A stream opening now: its read size now (`size`) and at each later read (`current()`); call `release` once, when it closes. */
  acquire(): { size: number; current: () => number; release: () => void } {
    this.open++;
    let released = false;
    return {
      size: this.sizeNow(),
      current: () => this.sizeNow(),
      release: () => {
        if (released) return;
        released = true;
        this.open--;
      },
    };
  }

  private sizeNow(): number {
    let size = this.max;
    while (size > this.min && size * Math.max(1, this.open) > this.budget) size /= 2;
    return Math.max(this.min, Math.floor(size));
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.open;
  }
}

/**
 * 8 MiB of reads across open streams; 4 MiB at most (one or two streams: a warm 512 MiB pull took about a
 * quarter less CPU than with 1 MiB reads, sixteenth session), 64 KiB at least.
 */
export const DEFAULT_READ_SIZER: ReadSizerOptions = { budget: 8 * 1024 * 1024, min: 64 * 1024, max: 4 * 1024 * 1024 };
