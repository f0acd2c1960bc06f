/**
 * Idle read buffers by size, for reuse. A server that allocates a fresh buffer per read pays for
 * the allocation, the kernel's page faults on fresh memory and the garbage collector for every
 * MiB it sends; reusing a few buffers per response pays for none of these. At most `maxIdleBytes`
 * are kept idle; beyond that a released buffer is left to the garbage collector.
 */
export class BufferPool {
  private readonly idle = new Map<number, Buffer[]>();
  private idleBytes = 0;

  constructor(readonly maxIdleBytes: number) {}

  /** A buffer of exactly `size` bytes (old content: the caller overwrites it). */
  acquire(size: number): Buffer {
    const list = this.idle.get(size);
    const buffer = list?.pop();
    if (buffer) {
      this.idleBytes -= size;
      return buffer;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** Give a buffer back once nothing refers to its memory any more (a write has completed). */
  release(buffer: Buffer): void {
    if (this.idleBytes + buffer.length > this.maxIdleBytes) return;
    let list = this.idle.get(buffer.length);
    if (!list) {
      list = [];
      this.idle.set(buffer.length, list);
    }
    list.push(buffer);
    this.idleBytes += buffer.length;
  }

  /** Bytes held idle now. */
  get idleSize(): number {
    return this.idleBytes;
  }
}
