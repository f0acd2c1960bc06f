/** One slab taken from the pool: its holders (the read that filled it, and every lent view's holders). */
interface Hold {
  readonly slab: Buffer;
  refs: number;
  /** The read's own hold (from `take`) is not yet dropped. */
  read: boolean;
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
 * Ownership: `take()` gives a slab held once (by the read it is for); `lend(view)` registers a view
 * into it with one holder; `retain(view)` adds a holder of that view; `release(view)` ends one;
 * `drop(slab)` ends the read's own hold. Once nothing holds a slab it is free for the next read.
 * A view nobody releases keeps its slab out of the pool: it is then garbage collected like any
 * buffer (the pool makes a new slab), never overwritten. Releasing more often than held throws.
 */
export class SlabPool {
  private readonly free: Buffer[] = [];
  /** Takes since the idle check last ran, and the check's timer (running while more than `keepIdle` slabs are free). */
  private takesSinceCheck = 0;
  private idleCheck: NodeJS.Timeout | undefined;
  private readonly holds = new WeakMap<Buffer, Hold>();
  private readonly leases = new WeakMap<Uint8Array, Lease>();
  /** Slabs made since the start, and reads that reused a free one. */
  made = 0;
  reused = 0;

  /**
   * `slabSize`: bytes per read; `maxFree`: free slabs kept while reads go on (more are left to the
   * collector); `keepIdle`: free slabs kept once no read took one for `idleMs` (the rest are left to the
   * collector then). Reads in bursts (a store that writes a MiB at a time, clients that drain at their
   * own pace) hold hundreds of slabs at once: the free list keeps them for the next burst instead of
   * making new ones, and gives them up when the reads stop.
   */
  constructor(
    readonly slabSize = 64 * 1024,
    private readonly maxFree = 1024,
    private readonly keepIdle = 16,
    private readonly idleMs = 2000,
  ) {
    if (!Number.isInteger(slabSize) || slabSize < 1024) throw new RangeError(`slab size ${slabSize} is not an integer of at least 1024`);
  }

  /** Free slabs kept for the next reads. */
  get freeSlabs(): number {
    return this.free.length;
  }

  /** A slab for one read, held once by the caller (end it with `drop`). */
  take(): Buffer {
    this.takesSinceCheck++;
    let slab = this.free.pop();
    if (slab) this.reused++;
    else {
      slab = Buffer.allocUnsafeSlow(this.slabSize);
      this.made++;
    }
    this.holds.set(slab, { slab, refs: 1, read: true });
    return slab;
  }

  /** End the hold `take()` gave. */
  drop(slab: Buffer): void {
    const hold = this.holds.get(slab);
    if (!hold || !hold.read) throw new Error('SlabPool: drop of a slab that was not taken, or dropped twice');
    hold.read = false;
    this.unhold(hold);
  }

  /** Register `view` (a fresh view into `slab`, which the caller holds) with one holder. */
  lend(view: Uint8Array, slab: Buffer): void {
    const hold = this.holds.get(slab);
    if (!hold || hold.refs <= 0 || view.buffer !== slab.buffer) throw new Error('SlabPool: lend of a view outside a held slab');
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
    this.holds.delete(hold.slab);
    if (this.free.length >= this.maxFree) return;
    this.free.push(hold.slab);
    if (this.free.length > this.keepIdle && !this.idleCheck) this.watchIdle();
  }

  /** Every `idleMs`: when no read took a slab since the last look, keep only `keepIdle` free slabs and stop looking. */
  private watchIdle(): void {
    this.takesSinceCheck = 0;
    this.idleCheck = setInterval(() => {
      if (this.takesSinceCheck > 0) {
        this.takesSinceCheck = 0;
        return;
      }
      this.free.length = Math.min(this.free.length, this.keepIdle);
      clearInterval(this.idleCheck);
      this.idleCheck = undefined;
    }, this.idleMs);
    this.idleCheck.unref();
  }
}
