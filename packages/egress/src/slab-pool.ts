import { processBufferPool, type BufferPool } from './buffer-pool.js';

/** One slab taken from the pool: its holders (the read that filled it, and every lent view's holders). */
interface Hold {
  readonly slab: Buffer;
  refs: number;
}

/** One view lent out of a slab: how many holders it has, and the slab's hold. */
interface Lease {
  readonly hold: Hold;
  refs: number;
}

/** Which pool lent a view (views of any pool in this process). */
const lenders = new WeakMap<Uint8Array, SlabPool>();

/**
 * For a holder that keeps a chunk beyond the call that gave it (a write queue, a client's buffer): when
 * the chunk is a view lent by a SlabPool, count the holder in and return true; it must call
 * `releaseLent` once it is done with the bytes (or never: then the slab is left to the collector).
 * False for any other buffer (nothing to release). A lent view must still be held by whoever passes
 * it on: one whose every holder already released it throws (its bytes may be overwritten already).
 */
export function retainLent(view: Uint8Array): boolean {
  const pool = lenders.get(view);
  if (!pool) return false;
  pool.retain(view);
  return true;
}

/** Whether `view` was lent by a slab pool (its consumer holds it until it releases it). */
export function isLent(view: Uint8Array): boolean {
  return lenders.has(view);
}

/** End a hold `retainLent` counted in (or a consumer's own hold of a lent view). */
export function releaseLent(view: Uint8Array): void {
  const pool = lenders.get(view);
  if (!pool) throw new Error('releaseLent: the view was not lent by a slab pool');
  pool.release(view);
}

/**
 * Fixed-size buffers for socket reads (`net`/`tls` `onread`), reused once every holder of every view
 * into one has given it back. A socket that reads into these allocates nothing per read: node would
 * otherwise make a new backing store per read (64 KiB, or a 16 KiB TLS record), which V8 counts as
 * external memory until a garbage collection frees it, and which starts full collections on a heap
 * as small as ours (README, Performance: full garbage collections during a cold miss).
 *
 * Ownership: `take()` gives a slab held once (by the read it is for), `takeTail(slab, offset)` the
 * unused rest of a held slab for the next read (held once too: SlabReads packs a socket's reads that
 * way, so a 16 KiB TLS record does not pin a 64 KiB slab of its own); `lend(view, read)` registers a
 * view into a read with one holder; `retain(view)` adds a holder of that view; `release(view)` ends
 * one; `drop(read)` ends the read's own hold. Once nothing holds a slab it is free for the next read.
 * A view nobody releases keeps its slab out of the pool: it is then garbage collected like any
 * buffer (the pool makes a new slab), never overwritten. Releasing more often than held throws.
 */
export class SlabPool {
  /** By each slab's own memory (every slab has an ArrayBuffer of its own). */
  private readonly holds = new WeakMap<ArrayBufferLike, Hold>();
  /** Buffers handed out for a read (`take`, `takeTail`) whose hold was not dropped yet. */
  private readonly reads = new WeakSet<Uint8Array>();
  private readonly leases = new WeakMap<Uint8Array, Lease>();

  /** Slabs made since the start (new buffers), and reads that took a free one (kept in memory, or given back and filled with fresh pages again). */
  made = 0;
  reused = 0;
  /** Slabs taken and not given back yet: read into, or held by their views' holders (until collected, if never given back). */
  private out = 0;
  /** Counts a slab never given back out once the collector has freed it (its Hold is the unregister token). */
  private readonly collected = new FinalizationRegistry<number>(() => this.out--);

  /**
   * `slabSize`: bytes per read; `free`: where free slabs wait for the next read (by default the
   * process's pool, shared with the store's reads of stored blobs: processBufferPool). Reads in bursts
   * (a store that writes a MiB at a time, clients that drain at their own pace) hold hundreds of slabs
   * at once: the pool keeps them for the next burst instead of making new ones, and lets them go when
   * the reads stop (the process's pool: plain buffers, left to the collector; a pool whose buffers of the
   * slab size are releasable gives their memory back to the kernel instead).
   */
  constructor(
    readonly slabSize = 64 * 1024,
    private readonly free: BufferPool = processBufferPool(),
  ) {
    if (!Number.isInteger(slabSize) || slabSize < 1024) throw new RangeError(`slab size ${slabSize} is not an integer of at least 1024`);
  }

  /** Free slabs kept in memory for the next reads (in a shared pool: every free buffer of the slab size). */
  get freeSlabs(): number {
    return this.free.idleBytesOf(this.slabSize) / this.slabSize;
  }

  /**
   * Slabs out of the pool now: being read into, or held by a view's holder (a write queue, a client's buffer). A
   * slab never given back (a view nobody releases) counts until the collector has freed it.
   */
  get held(): number {
    return this.out;
  }

  /** A slab for one read, held once by the caller (end it with `drop`). */
  take(): Buffer {
    const made = this.free.made;
    const slab = this.free.acquire(this.slabSize);
    if (this.free.made === made) this.reused++;
    else this.made++;
    const hold = { slab, refs: 1 };
    this.holds.set(slab.buffer, hold);
    this.reads.add(slab);
    this.out++;
    this.collected.register(slab, 1, hold);
    return slab;
  }

  /** The bytes of `slab` (held by the caller) from `offset` on, for another read: held once, like `take`'s. */
  takeTail(slab: Buffer, offset: number): Buffer {
    const hold = this.holds.get(slab.buffer);
    if (!hold || hold.refs <= 0 || hold.slab !== slab) throw new Error('SlabPool: takeTail of a slab that is not held');
    if (!Number.isInteger(offset) || offset < 0 || offset >= slab.length) throw new RangeError(`takeTail: offset ${offset} outside the slab`);
    hold.refs++;
    const tail = slab.subarray(offset);
    this.reads.add(tail);
    return tail;
  }

  /** End the hold `take()` or `takeTail()` gave for `read`. */
  drop(read: Buffer): void {
    const hold = this.holds.get(read.buffer);
    if (!hold || !this.reads.delete(read)) throw new Error('SlabPool: drop of a read that was not taken, or dropped twice');
    this.unhold(hold);
  }

  /** Register `view` (a fresh view into `read`, which the caller holds) with one holder. */
  lend(view: Uint8Array, read: Buffer): void {
    const hold = this.holds.get(read.buffer);
    if (!hold || hold.refs <= 0 || !this.reads.has(read) || view.buffer !== read.buffer) throw new Error('SlabPool: lend of a view outside a held read');
    if (this.leases.has(view)) throw new Error('SlabPool: the view is already lent');
    hold.refs++;
    this.leases.set(view, { hold, refs: 1 });
    lenders.set(view, this);
  }

  /** Whether `view` was lent by this pool and is still held. */
  isHeld(view: Uint8Array): boolean {
    return (this.leases.get(view)?.refs ?? 0) > 0;
  }

  /** One more holder of a lent view (each holder releases it once). */
  retain(view: Uint8Array): void {
    const lease = this.leaseOf(view, 'retain');
    lease.refs++;
    lease.hold.refs++;
  }

  /** One holder of a lent view is done with its bytes. */
  release(view: Uint8Array): void {
    const lease = this.leaseOf(view, 'release');
    lease.refs--;
    this.unhold(lease.hold);
  }

  private leaseOf(view: Uint8Array, what: string): Lease {
    const lease = this.leases.get(view);
    if (!lease || lease.refs <= 0) throw new Error(`SlabPool: ${what} of a view that is not held`);
    return lease;
  }

  private unhold(hold: Hold): void {
    if (hold.refs <= 0) throw new Error('SlabPool: a slab released more often than held');
    if (--hold.refs > 0) return;
    this.holds.delete(hold.slab.buffer);
    this.out--;
    this.collected.unregister(hold);
    this.free.release(hold.slab);
  }
}

/**
 * One socket's reads into a pool's slabs, packed: each read gets the unused rest of the current slab
 * while at least `minRead` bytes are left, then a new slab. (A TLS socket reads one record of at most
 * 16 KiB at a time, a slow upstream a few KiB: one slab per read would pin 64 KiB for each.) The reads
 * hold their slab like any read; the cursor holds its current slab too, so a slab whose reads were all
 * given back is not read into by another socket while this one still has its rest to read into.
 */
export class SlabReads {
  private current: Buffer | undefined;
  private used = 0;

  constructor(
    private readonly pool: SlabPool,
    private readonly minRead = 16 * 1024,
  ) {}

  /** The buffer for the next read (node's `onread.buffer`), held for that read (end it with `pool.drop`). */
  next(): Buffer {
    if (!this.current || this.current.length - this.used < this.minRead) {
      if (this.current) this.pool.drop(this.current);
      this.current = this.pool.take();
      this.used = 0;
    }
    return this.pool.takeTail(this.current, this.used);
  }

  /** The socket is closed (no read comes any more): the cursor's hold of its current slab ends. */
  close(): void {
    if (this.current) this.pool.drop(this.current);
    this.current = undefined;
  }

  /** The read into `read` (from `next`) got `n` bytes: the next read starts after them. */
  filled(read: Buffer, n: number): void {
    if (this.current && read.buffer === this.current.buffer) this.used = Math.max(this.used, read.byteOffset - this.current.byteOffset + n);
  }
}
