import type { BufferPool } from '@pullthrough/egress';

/** A block of a stored file read into a pooled buffer, shared by every response that sends it meanwhile. */
interface Block {
  readonly key: string;
  readonly buffer: Buffer;
  /** Bytes in the block (its buffer may be longer: the file's last block). */
  readonly length: number;
  /** The block's bytes (a view of `buffer`), once read. */
  readonly bytes: Promise<Buffer>;
  /** Responses holding it: it goes back to the pool when the last lets go. */
  refs: number;
  /** A holder's write did not complete: the destination may still refer to the memory, so it is never pooled again. */
  spoiled: boolean;
  /** The read has finished (or failed). */
  settled: boolean;
}

/** One response's hold on bytes of a block; `release(true)` once its write completed, `release(false)` if it did not. */
export interface BlockPiece {
  readonly bytes: Promise<Buffer>;
  release(written: boolean): void;
}

/**
 * Reads of stored files shared by the responses that send them at the same time. Files are read in
 * blocks aligned to their read size (a power of two), so responses sending the same file in step (a herd
 * of clients that waited for the same blob's commit, then all read it) find the block another one is
 * still holding and send the same memory instead of reading it again into buffers of their own: the
 * memory they hold together stays near one response's two reads instead of two reads each. A response
 * with a smaller read size uses a larger block covering its bytes. Blocks are pooled; a block whose
 * write did not complete for some holder is left to the garbage collector.
 */
export class SharedReads {
  private readonly blocks = new Map<string, Block>();
  /** Blocks a response took from another one instead of reading them itself. */
  shared = 0;

  constructor(
    private readonly pool: BufferPool,
    /** The largest block size looked up (the read sizer's largest read). */
    private readonly maxBlock: number,
  ) {}

  /**
   * Bytes `from`..`to` - 1 of the file `file` (`fileSize` bytes), within one block of `blockSize`
   * (a power of two, `from` and `to` - 1 in the same block): from a block someone holds, or read by
   * `read` (which fills a buffer from a file offset, or rejects).
   */
  take(
    file: string,
    fileSize: number,
    blockSize: number,
    from: number,
    to: number,
    read: (buffer: Buffer, offset: number) => Promise<void>,
  ): BlockPiece {
    let block: Block | undefined;
    let start = 0;
    for (let size = blockSize; size <= this.maxBlock && !block; size *= 2) {
      start = from - (from % size);
      block = this.blocks.get(`${file}:${size}:${start}`);
    }
    if (block) this.shared++;
    else {
      start = from - (from % blockSize);
      block = this.read(`${file}:${blockSize}:${start}`, blockSize, Math.min(blockSize, fileSize - start), start, read);
    }
    block.refs++;
    const held = block;
    const offset = start;
    let released = false;
    return {
      bytes: from === offset && to - offset === held.length ? held.bytes : held.bytes.then((b) => b.subarray(from - offset, to - offset)),
      release: (written) => {
        if (released) return;
        released = true;
        if (!written) held.spoiled = true;
        if (--held.refs > 0) return;
        if (this.blocks.get(held.key) === held) this.blocks.delete(held.key);
        if (held.spoiled) return;
        // At once when the read is done (the next read of this response takes it straight back).
        if (held.settled) this.pool.release(held.buffer);
        else held.bytes.then(() => this.pool.release(held.buffer), () => this.pool.release(held.buffer));
      },
    };
  }

  private read(key: string, size: number, length: number, offset: number, read: (buffer: Buffer, offset: number) => Promise<void>): Block {
    const buffer = this.pool.acquire(size);
    const view = buffer.subarray(0, length);
    const bytes = read(view, offset).then(
      () => ((block.settled = true), view),
      (err: unknown) => {
        block.settled = true;
        // A failed read is never shared: the next response tries again.
        if (this.blocks.get(key) === block) this.blocks.delete(key);
        throw err;
      },
    );
    bytes.catch(() => undefined); // its holders see the error
    const block: Block = { key, buffer, length, bytes, refs: 0, spoiled: false, settled: false };
    this.blocks.set(key, block);
    return block;
  }

  /** Blocks held now. */
  get held(): number {
    return this.blocks.size;
  }
}
