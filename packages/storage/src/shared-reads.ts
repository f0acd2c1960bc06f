import type { BufferPool } from '@pullthrough/egress';

/** Fills `parts` in order from the file offset `offset` (rejects on a failed read or an early end). */
export type PartsRead = (parts: Buffer[], offset: number) => Promise<void>;

/** A block of a stored file read into pooled memory, shared by every response that sends it meanwhile. */
interface Block {
  readonly key: string;
  /** Its memory: one buffer of the block's size, or several of the pool's idle small buffers (SharedReads). */
  readonly buffers: Buffer[];
  /** Bytes in the block (its memory may be longer: the file's last block). */
  readonly length: number;
  /** The block's bytes (views of `buffers`, `length` bytes in all), once read. */
  readonly bytes: Promise<Buffer[]>;
  /** Responses holding it: it goes back to the pool when the last lets go. */
  refs: number;
  /** A holder's write did not complete: the destination may still refer to the memory, so it is never pooled again. */
  spoiled: boolean;
  /** The read has finished (or failed). */
  settled: boolean;
}

/** One response's hold on bytes of a block (in order, one or more parts); `release(true)` once its write completed, `release(false)` if it did not. */
export interface BlockPiece {
  readonly bytes: Promise<Buffer[]>;
  release(written: boolean): void;
}

/** Bytes `from`..`to` - 1 of `parts` taken as one run of bytes, as views. */
export function bytesBetween(parts: Buffer[], from: number, to: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const part of parts) {
    const start = Math.max(from - at, 0);
    const end = Math.min(to - at, part.length);
    if (start < end) out.push(start === 0 && end === part.length ? part : part.subarray(start, end));
    at += part.length;
    if (at >= to) break;
  }
  return out;
}

/** Part size: the pool's buffers of this size (the upstream reader's 64 KiB slabs) are the ones a block may be read into. */
export const SHARED_READ_PART = 64 * 1024;
/**
 * The most parts a block is read into (4 MiB of 64 KiB parts, the read sizer's largest read by default): a block
 * goes out as that many writes, corked (one `writev`). In bench herd rounds a cap of 16 (1 MiB) left the
 * frontend's peak about 5 MiB higher (the first streams to open at a commit read 2 and 4 MiB blocks).
 */
const MAX_PARTS = 64;

/**
 * Reads of stored files shared by the responses that send them at the same time. Files are read in
 * blocks aligned to their read size (a power of two), so responses sending the same file in step (a herd
 * of clients that waited for the same blob's commit, then all read it) find the block another one is
 * still holding and send the same memory instead of reading it again into buffers of their own: the
 * memory they hold together stays near one response's two reads instead of two reads each. A response
 * with a smaller read size uses a larger block covering its bytes. Blocks are pooled; a block whose
 * write did not complete for some holder is left to the garbage collector.
 *
 * A block bigger than `partSize` (up to MAX_PARTS of them) is read (one `readv`) into the pool's idle buffers
 * of `partSize` when enough of them are idle to hold its bytes, instead of a buffer of its own size: mostly the
 * upstream reader's slabs, idle the moment a fetch ends, which is when the clients that waited for its commit
 * start reading the stored blob; new memory for their blocks would be resident beside the idle slabs. Those
 * buffers are plain (the slabs': *Memory* in the README), so unlike a releasable block's a buffer pooled again
 * too early would be overwritten, not emptied: a block goes back only once every holder's write completed.
 */
export class SharedReads {
  private readonly blocks = new Map<string, Block>();
  /** Blocks a response took from another one instead of reading them itself. */
  shared = 0;

  /** Blocks read into the pool's idle buffers of `partSize`. */
  inParts = 0;

  constructor(
    private readonly pool: BufferPool,
    /** The largest block size looked up (the read sizer's largest read). */
    private readonly maxBlock: number,
    private readonly partSize = SHARED_READ_PART,
  ) {}

  /**
   * Bytes `from`..`to` - 1 of the file `file` (`fileSize` bytes), within one block of `blockSize`
   * (a power of two, `from` and `to` - 1 in the same block): from a block someone holds, or read by
   * `read` (which fills the block's memory from a file offset, or rejects).
   */
  take(
    file: string,
    fileSize: number,
    blockSize: number,
    from: number,
    to: number,
    read: PartsRead,
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
      bytes: from === offset && to - offset === held.length ? held.bytes : held.bytes.then((parts) => bytesBetween(parts, from - offset, to - offset)),
      release: (written) => {
        if (released) return;
        released = true;
        if (!written) held.spoiled = true;
        if (--held.refs > 0) return;
        if (this.blocks.get(held.key) === held) this.blocks.delete(held.key);
        if (held.spoiled) return;
        // At once when the read is done (the next read of this response takes it straight back).
        const pool = () => held.buffers.forEach((buffer) => this.pool.release(buffer));
        if (held.settled) pool();
        else held.bytes.then(pool, pool);
      },
    };
  }

  private read(key: string, size: number, length: number, offset: number, read: PartsRead): Block {
    const buffers = this.memoryFor(size, length);
    const views = bytesBetween(buffers, 0, length);
    const bytes = read(views, offset).then(
      () => ((block.settled = true), views),
      (err: unknown) => {
        block.settled = true;
        // A failed read is never shared: the next response tries again.
        if (this.blocks.get(key) === block) this.blocks.delete(key);
        throw err;
      },
    );
    bytes.catch(() => undefined); // its holders see the error
    const block: Block = { key, buffers, length, bytes, refs: 0, spoiled: false, settled: false };
    this.blocks.set(key, block);
    return block;
  }

  /**
   * A block's memory (`length` bytes of a block of `size`): idle buffers of `partSize` when they can hold
   * all of it and the block is at most `MAX_PARTS` of them, else one buffer of `size`.
   */
  private memoryFor(size: number, length: number): Buffer[] {
    const { partSize, pool } = this;
    const parts = Math.ceil(length / partSize);
    if (size <= partSize || size > MAX_PARTS * partSize || pool.idleBytesOf(partSize) < parts * partSize) return [pool.acquire(size)];
    this.inParts++;
    return Array.from({ length: parts }, () => pool.acquire(partSize));
  }

  /** Blocks held now. */
  get held(): number {
    return this.blocks.size;
  }
}
