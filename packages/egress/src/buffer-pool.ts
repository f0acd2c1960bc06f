/**
 * A buffer whose memory can be given back to the kernel at once and taken again: the whole of a resizable
 * ArrayBuffer whose maximum is its size. Shrinking the ArrayBuffer to nothing returns its pages (resident
 * memory drops at once, without waiting for a garbage collection); growing it again maps fresh zeroed pages.
 * Its memory is V8's own mapping, not the C allocator's, so freeing it leaves no holes in the malloc heap.
 * A view of it has length 0 while it is shrunk: a read into it fails and a write of it sends nothing, so
 * memory given back is never read or overwritten through an old view (a holder that released too early
 * sends a short body instead of another response's bytes).
 */
export function releasableBuffer(size: number): Buffer {
  if (!Number.isInteger(size) || size <= 0) throw new RangeError(`buffer size ${size} is not a positive integer`);
  return Buffer.from(new ResizableArrayBuffer(size, { maxByteLength: size }), 0, size);
}

/** ES2024's resizable ArrayBuffer (node 20 has it; this project's TypeScript lib is ES2023). */
interface ResizableMemory extends ArrayBuffer {
  readonly resizable: boolean;
  readonly maxByteLength: number;
  resize(length: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ResizableMemory;

const memoryOf = (buffer: Buffer): ResizableMemory => buffer.buffer as ResizableMemory;

/** The list kept under `size` in `lists`, made by `make` the first time. */
function listOf<L>(lists: Map<number, L>, size: number, make: () => L): L {
  let list = lists.get(size);
  if (!list) {
    list = make();
    lists.set(size, list);
  }
  return list;
}

/** The size of `buffer` when it is a whole releasable buffer (releasableBuffer), in memory or not; else undefined. */
function releasableSize(buffer: Buffer): number | undefined {
  const memory = memoryOf(buffer);
  return memory.resizable === true && buffer.byteOffset === 0 && (buffer.length === 0 || buffer.length === memory.maxByteLength) ? memory.maxByteLength : undefined;
}

export interface BufferPoolOptions {
  /** Idle bytes kept in memory once no buffer was acquired for `idleMs` (the rest go back to the kernel). Default 0. */
  keepIdleBytes?: number;
  /** How long without an acquire before idle memory beyond `keepIdleBytes` is given back. Default 1000 ms. */
  idleMs?: number;
  /** Buffers kept (per size) without memory for reuse, so a later acquire maps pages into one instead of making a new one. Default 256. */
  maxEmpty?: number;
  /** How long a buffer must have been idle before new memory of another size takes its place (acquire). Default 100 ms. */
  tradeAfterMs?: number;
  /**
   * Buffers smaller than this are plain ones (`Buffer.allocUnsafeSlow`): kept idle the same way, but
   * beyond the limits left to the garbage collector instead of given back. Default 0 (all releasable).
   */
  releasableFrom?: number;
}

/** Idle buffers of one size, the most recently released last, each with when it was released (performance.now(): not moved by the wall clock). */
class IdleList {
  readonly buffers: Buffer[] = [];
  readonly since: number[] = [];

  push(buffer: Buffer, now: number): void {
    this.buffers.push(buffer);
    this.since.push(now);
  }

  /** The most recently released. */
  pop(): Buffer | undefined {
    this.since.pop();
    return this.buffers.pop();
  }

  /** The longest idle, if it was released at or before `before`. */
  shiftIfSince(before: number): Buffer | undefined {
    if (this.buffers.length === 0 || (this.since[0] as number) > before) return undefined;
    this.since.shift();
    return this.buffers.shift();
  }
}

/**
 * Idle buffers by size, for reuse. A server that allocates a fresh buffer per read pays for the
 * allocation, the kernel's page faults on fresh memory and the garbage collector for every MiB it
 * sends; reusing a few buffers per response pays for none of these. Buffers of `releasableFrom` bytes
 * or more are releasable (`releasableBuffer`): at most `maxIdleBytes` are kept idle in memory, and a buffer released beyond
 * that gives its memory back to the kernel at once; once no buffer was acquired for `idleMs`, every
 * idle buffer beyond `keepIdleBytes` gives its memory back too. So a burst's buffers (a herd's reads,
 * a miss's chunks the store had not written yet) do not stay resident after it, nor wait for a full
 * garbage collection to be freed. A buffer whose memory went back is kept empty (up to `maxEmpty` per
 * size) and filled with fresh pages when acquired again. Smaller buffers are plain ones, left to the
 * collector where a releasable one would give its memory back.
 *
 * Release a buffer only once nothing refers to its memory (a write has completed): its next holder
 * overwrites it, or its memory is unmapped.
 */
export class BufferPool {
  private readonly idle = new Map<number, IdleList>();
  private readonly empty = new Map<number, Buffer[]>();
  private idleBytes = 0;
  private acquiresSinceCheck = 0;
  private idleCheck: NodeJS.Timeout | undefined;
  private readonly keepIdleBytes: number;
  private readonly idleMs: number;
  private readonly maxEmpty: number;
  private readonly tradeAfterMs: number;
  private readonly releasableFrom: number;
  /** Buffers made, acquires served by an idle buffer, by an empty one (fresh pages), and buffers whose memory was given back. */
  made = 0;
  reused = 0;
  refilled = 0;
  emptied = 0;

  constructor(
    readonly maxIdleBytes: number,
    options: BufferPoolOptions = {},
  ) {
    this.keepIdleBytes = Math.min(options.keepIdleBytes ?? 0, maxIdleBytes);
    this.idleMs = options.idleMs ?? 1000;
    this.maxEmpty = options.maxEmpty ?? 256;
    this.tradeAfterMs = options.tradeAfterMs ?? 100;
    this.releasableFrom = options.releasableFrom ?? 0;
  }

  /**
   * A buffer of exactly `size` bytes (old content, or zeros: the caller overwrites it): an idle one of that
   * size, else new memory. Before taking new memory the pool gives back at least as much releasable
   * memory of other sizes that has been idle for `tradeAfterMs` (the longest idle of each size first): the memory one burst
   * left idle (an upstream fetch's socket slabs) is what the next burst of another size (reads of the
   * stored blob for the clients that waited for its commit) takes, instead of both being resident at
   * once. Buffers idle for less are left alone: reads of two sizes that go on side by side (a cold
   * pull's socket slabs, and stored blobs sent meanwhile) would otherwise give back and map each
   * other's pages over and over.
   */
  acquire(size: number): Buffer {
    this.acquiresSinceCheck++;
    const buffer = this.idle.get(size)?.pop();
    if (buffer) {
      this.idleBytes -= size;
      this.reused++;
      return buffer;
    }
    this.giveBackOtherSizes(size, performance.now() - this.tradeAfterMs);
    const empty = this.empty.get(size)?.pop();
    if (empty) {
      memoryOf(empty).resize(size);
      this.refilled++;
      return empty;
    }
    this.made++;
    return size >= this.releasableFrom ? releasableBuffer(size) : Buffer.allocUnsafeSlow(size);
  }

  /** Idle bytes in memory of buffers of `size` bytes. */
  idleBytesOf(size: number): number {
    return (this.idle.get(size)?.buffers.length ?? 0) * size;
  }

  /** Give a buffer back once nothing refers to its memory any more (a write has completed). */
  release(buffer: Buffer): void {
    if (buffer.length === 0) throw new Error('BufferPool: release of an empty buffer (its memory was given back already)');
    if (this.idleBytes + buffer.length > this.maxIdleBytes) {
      this.giveBack(buffer);
      return;
    }
    listOf(this.idle, buffer.length, () => new IdleList()).push(buffer, performance.now());
    this.idleBytes += buffer.length;
    if (this.idleBytes > this.keepIdleBytes && !this.idleCheck) this.watchIdle();
  }

  /** Bytes held idle in memory now. */
  get idleSize(): number {
    return this.idleBytes;
  }

  /** Give back idle buffers released at or before `before` (of sizes other than the one asked for, none of which is idle) until `bytes` went back or none is left. */
  private giveBackOtherSizes(bytes: number, before: number): void {
    let freed = 0;
    for (const [size, list] of this.idle) {
      if (size < this.releasableFrom) continue;
      while (freed < bytes) {
        const buffer = list.shiftIfSince(before);
        if (!buffer) break;
        freed += size;
        this.giveBackIdle(buffer, size);
      }
      if (freed >= bytes) return;
    }
  }

  /** Give `buffer`'s memory back to the kernel and keep it empty for reuse (another buffer is left to the collector). */
  private giveBack(buffer: Buffer): void {
    const size = releasableSize(buffer);
    if (size === undefined || buffer.length === 0) return;
    memoryOf(buffer).resize(0);
    this.emptied++;
    const list = listOf(this.empty, size, () => []);
    if (list.length < this.maxEmpty) list.push(buffer);
  }

  /** `giveBack` for a buffer just taken off an idle list of `size`. */
  private giveBackIdle(buffer: Buffer, size: number): void {
    this.idleBytes -= size;
    this.giveBack(buffer);
  }

  /**
   * Every `idleMs` while more than `keepIdleBytes` are idle: releasable buffers idle for `idleMs` or more
   * give their memory back (the longest idle first), even while other buffers are taken (a cold pull's
   * slabs keep the pool busy, but not the store's blocks a herd left idle); when nothing at all was
   * acquired since the last look, every idle buffer beyond `keepIdleBytes` goes (largest first; plain
   * ones to the collector). Stops once no more than `keepIdleBytes` are idle.
   */
  private watchIdle(): void {
    this.acquiresSinceCheck = 0;
    this.idleCheck = setInterval(() => {
      const quiet = this.acquiresSinceCheck === 0;
      this.acquiresSinceCheck = 0;
      const before = quiet ? Number.POSITIVE_INFINITY : performance.now() - this.idleMs;
      for (const size of [...this.idle.keys()].sort((a, b) => b - a)) {
        if (!quiet && size < this.releasableFrom) continue;
        const list = this.idle.get(size) as IdleList;
        while (this.idleBytes > this.keepIdleBytes) {
          const buffer = quiet ? list.pop() : list.shiftIfSince(before);
          if (!buffer) break;
          this.giveBackIdle(buffer, size);
        }
      }
      if (this.idleBytes <= this.keepIdleBytes) {
        clearInterval(this.idleCheck);
        this.idleCheck = undefined;
      }
    }, this.idleMs);
    this.idleCheck.unref();
  }
}

/** Bytes of idle buffers the process pool keeps in memory while buffers are acquired, and once none was for its idle time. */
const PROCESS_POOL_IDLE_BYTES = 64 * 1024 * 1024;
const PROCESS_POOL_KEEP_IDLE_BYTES = 1024 * 1024;
/**
 * Buffers under 128 KiB (the upstream reader's 64 KiB slabs, the smallest reads of stored blobs) are plain: V8 11
 * makes a Buffer view of a resizable ArrayBuffer in about 300 ns against 50 for a plain one, and a cold miss makes
 * several views of every 64 KiB it reads (each chunk, each client's slice): with releasable slabs the frontend spent
 * 0.88-0.96 CPU s on a cold 60-layer pull against 0.74-0.80 (`bench/profile-cold.js --layers`, 5 pairs). Reads of
 * stored blobs come in blocks of 64 KiB (a herd of more than 64 streams, plain then) to 4 MiB, with a view or two per block.
 */
const PROCESS_POOL_RELEASABLE_FROM = 128 * 1024;
let processPool: BufferPool | undefined;

/**
 * The process's pool of read buffers: the upstream blob reader's socket slabs (SlabPool) and the
 * filesystem store's reads of stored blobs take their memory from it, so the store's blocks that a
 * burst of reads left idle give their memory back when the slabs of the next cold fetch need memory
 * (BufferPool.acquire), and the store reads a block into the slabs a fetch left idle when they can hold
 * it (SharedReads). Up to 64 MiB stay idle while buffers are taken (a cold miss's chunks come back a
 * MiB at a time once the store wrote them, and are read into again at once), 1 MiB once none was taken
 * for a second (the store's releasable blocks give their memory back then; idle slabs, and the store's
 * blocks read into them, are left to the collector).
 */
export function processBufferPool(): BufferPool {
  processPool ??= new BufferPool(PROCESS_POOL_IDLE_BYTES, { keepIdleBytes: PROCESS_POOL_KEEP_IDLE_BYTES, maxEmpty: 1024, releasableFrom: PROCESS_POOL_RELEASABLE_FROM });
  return processPool;
}
