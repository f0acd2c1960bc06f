import { isLent, releaseLent, retainLent } from '@pullthrough/egress';

/** A read loop is done with a chunk the upstream reader lent it (a no-op for any other buffer): its own hold ends. */
export function endOwnHold(chunk: Buffer): void {
  if (isLent(chunk)) releaseLent(chunk);
}

/**
 * A client's slices (queued or held) of upstream chunks lent by a slab pool, each with the chunk it is a
 * slice of: the chunk is held (retainLent) from `take` until the slice's write is done (`written`) or the
 * slice is dropped (`drop`). Slices of other buffers are not tracked (nothing to give back).
 */
export class LentSlices {
  private readonly chunks = new Map<Buffer, Buffer>();

  /** `slice` of `chunk` is kept: hold the chunk if it was lent. */
  take(slice: Buffer, chunk: Buffer): void {
    if (retainLent(chunk)) this.chunks.set(slice, chunk);
  }

  /**
   * `slice` is about to be written: the callback that gives its chunk back once the write is done, when
   * the destination's callback means its bytes were taken (`direct`: an HTTP response's comes once its
   * socket has them). Otherwise (our own stream, whose reader may still hold them) the chunk stays held
   * and its slab is left to the collector.
   */
  written(slice: Buffer, direct: boolean): (() => void) | undefined {
    const chunk = this.chunks.get(slice);
    this.chunks.delete(slice);
    return chunk && direct ? () => releaseLent(chunk) : undefined;
  }

  /** A slice that will not be written: its chunk's hold ends. */
  drop(slice: Buffer): void {
    const chunk = this.chunks.get(slice);
    if (!chunk) return;
    this.chunks.delete(slice);
    releaseLent(chunk);
  }
}
