import { BufferPool } from './buffer-pool.js';
import { SlabPool, SlabReads } from './slab-pool.js';

/** A slab pool with a buffer pool of its own (the default one is the process's, shared by every test here). */
const slabPool = (slabSize = 1024, maxFree = 1024) => new SlabPool(slabSize, new BufferPool(maxFree * slabSize));

describe('SlabPool', () => {
  it('take gives slabSize buffers, each its own memory', () => {
    const pool = slabPool(4096);
    const a = pool.take();
    const b = pool.take();
    expect(a).toBeInstanceOf(Buffer);
    expect(a.length).toBe(4096);
    expect(b.length).toBe(4096);
    expect(a.buffer).not.toBe(b.buffer);
    expect(pool.slabSize).toBe(4096);
    expect(pool.made).toBe(2);
    expect(pool.reused).toBe(0);
    expect(pool.freeSlabs).toBe(0);
  });

  it('refuses a slab size that is not an integer of at least 1024', () => {
    expect(() => new SlabPool(1023)).toThrow(RangeError);
    expect(() => new SlabPool(2048.5)).toThrow(RangeError);
    expect(() => new SlabPool(1024)).not.toThrow();
  });

  it('a slab held only by its read is reused after drop (made/reused counters)', () => {
    const pool = slabPool();
    const a = pool.take();
    pool.drop(a);
    expect(pool.freeSlabs).toBe(1);
    const again = pool.take();
    expect(again).toBe(a);
    expect(pool.made).toBe(1);
    expect(pool.reused).toBe(1);
    expect(pool.freeSlabs).toBe(0);
  });

  it('a slab with lent views is not reused until every view is released and the read hold dropped', () => {
    const pool = slabPool();
    const slab = pool.take();
    const v1 = slab.subarray(0, 10);
    const v2 = slab.subarray(10, 20);
    pool.lend(v1, slab);
    pool.lend(v2, slab);
    expect(pool.isHeld(v1)).toBe(true);
    expect(pool.isHeld(v2)).toBe(true);

    pool.drop(slab);
    expect(pool.freeSlabs).toBe(0);
    const other1 = pool.take();
    expect(other1).not.toBe(slab);
    expect(pool.made).toBe(2);

    pool.release(v1);
    expect(pool.isHeld(v1)).toBe(false);
    expect(pool.freeSlabs).toBe(0);
    const other2 = pool.take();
    expect(other2).not.toBe(slab);
    expect(pool.made).toBe(3);

    // Out of the pool: the lent slab and the two taken since.
    expect(pool.held).toBe(3);
    pool.release(v2);
    expect(pool.held).toBe(2);
    expect(pool.freeSlabs).toBe(1);
    expect(pool.take()).toBe(slab);
    expect(pool.made).toBe(3);
    expect(pool.reused).toBe(1);
    expect(pool.held).toBe(3);
    pool.drop(other1);
    pool.drop(other2);
    expect(pool.held).toBe(1);
  });

  it('the read hold alone keeps the slab out of the pool when every view was released first', () => {
    const pool = slabPool();
    const slab = pool.take();
    const v = slab.subarray(0, 100);
    pool.lend(v, slab);
    pool.release(v);
    expect(pool.freeSlabs).toBe(0);
    expect(pool.take()).not.toBe(slab);
    pool.drop(slab);
    expect(pool.freeSlabs).toBe(1);
    expect(pool.take()).toBe(slab);
  });

  it('retain adds a holder: the view needs one more release', () => {
    const pool = slabPool();
    const slab = pool.take();
    const v = slab.subarray(0, 5);
    pool.lend(v, slab);
    pool.drop(slab);
    pool.retain(v);
    pool.release(v);
    expect(pool.isHeld(v)).toBe(true);
    expect(pool.freeSlabs).toBe(0);
    pool.release(v);
    expect(pool.isHeld(v)).toBe(false);
    expect(pool.freeSlabs).toBe(1);
  });

  it('releasing a view more often than held throws (and does not free the slab early)', () => {
    const pool = slabPool();
    const slab = pool.take();
    const v = slab.subarray(0, 5);
    pool.lend(v, slab);
    pool.release(v);
    expect(() => pool.release(v)).toThrow(/not held/);
    // The read's own hold is intact: still not free.
    expect(pool.freeSlabs).toBe(0);
    pool.drop(slab);
    expect(pool.freeSlabs).toBe(1);
    expect(() => pool.drop(slab)).toThrow();
    expect(pool.freeSlabs).toBe(1);
  });

  it('retain of a released view throws', () => {
    const pool = slabPool();
    const slab = pool.take();
    const v = slab.subarray(0, 5);
    pool.lend(v, slab);
    pool.release(v);
    expect(() => pool.retain(v)).toThrow(/not held/);
  });

  it('dropping the read hold twice throws even while a view of the slab is still lent', () => {
    const pool = slabPool();
    const slab = pool.take();
    const v = slab.subarray(0, 5);
    pool.lend(v, slab);
    pool.drop(slab);
    // The read's hold was already ended: a second drop is releasing more often than held.
    expect(() => pool.drop(slab)).toThrow();
    // Whatever happened, the lent view's slab must not be handed out again while it is held.
    expect(pool.isHeld(v)).toBe(true);
    expect(pool.freeSlabs).toBe(0);
    expect(pool.take()).not.toBe(slab);
  });

  it('releasing a view after its slab was reused by another take throws (stale lease)', () => {
    const pool = slabPool();
    const slab = pool.take();
    const v = slab.subarray(0, 5);
    pool.lend(v, slab);
    pool.release(v);
    pool.drop(slab);
    const again = pool.take();
    expect(again).toBe(slab);
    expect(() => pool.release(v)).toThrow();
    expect(() => pool.retain(v)).toThrow();
    // The new read's hold was not touched by the stale release: a fresh view of it works normally.
    const fresh = again.subarray(0, 5);
    pool.lend(fresh, again);
    pool.drop(again);
    expect(pool.freeSlabs).toBe(0);
    pool.release(fresh);
    expect(pool.freeSlabs).toBe(1);
  });

  it('lend of a view outside the slab throws', () => {
    const pool = slabPool();
    const slab = pool.take();
    const other = pool.take();
    expect(() => pool.lend(Buffer.alloc(5), slab)).toThrow(/outside/);
    expect(() => pool.lend(other.subarray(0, 5), slab)).toThrow(/outside/);
    expect(() => pool.lend(new Uint8Array(5), slab)).toThrow(/outside/);
    // A slab that was never taken from this pool.
    const foreign = Buffer.allocUnsafeSlow(1024);
    expect(() => pool.lend(foreign.subarray(0, 5), foreign)).toThrow(/outside/);
    // A slab whose hold already ended.
    pool.drop(other);
    expect(() => pool.lend(other.subarray(0, 5), other)).toThrow();
    // Nothing of that reached the counts: the slab is still held once, by its read.
    pool.drop(slab);
    expect(pool.freeSlabs).toBe(2);
  });

  it('lending the same view twice throws', () => {
    const pool = slabPool();
    const slab = pool.take();
    const v = slab.subarray(0, 5);
    pool.lend(v, slab);
    expect(() => pool.lend(v, slab)).toThrow(/already lent/);
  });

  it('isHeld is false for a view that was never lent', () => {
    const pool = slabPool();
    const slab = pool.take();
    expect(pool.isHeld(slab.subarray(0, 1))).toBe(false);
    expect(pool.isHeld(Buffer.alloc(1))).toBe(false);
  });

  it('the pool it was given bounds its free slabs in memory: the memory of the others goes back, and they are filled again when taken', () => {
    const pool = slabPool(1024, 2);
    const slabs = [pool.take(), pool.take(), pool.take(), pool.take()];
    for (const s of slabs) pool.drop(s);
    expect(pool.freeSlabs).toBe(2);
    expect(slabs.filter((s) => s.length === 0)).toHaveLength(2);
    const again = [pool.take(), pool.take()];
    expect(pool.reused).toBe(2);
    expect(pool.freeSlabs).toBe(0);
    const refilled = pool.take();
    expect(refilled.length).toBe(1024);
    expect(slabs).toContain(refilled);
    expect(again.every((s) => s.length === 1024)).toBe(true);
    expect(pool.made).toBe(4);
    expect(pool.reused).toBe(3);
  });

  it('a pool that keeps nothing idle gives every dropped slab\'s memory back', () => {
    const pool = slabPool(1024, 0);
    const slab = pool.take();
    pool.drop(slab);
    expect(pool.freeSlabs).toBe(0);
    expect(slab.length).toBe(0);
    expect(pool.take()).toBe(slab);
    expect(slab.length).toBe(1024);
    expect(pool.made).toBe(1);
  });

  it('counts made and reused over many reads with views released in order', () => {
    const pool = slabPool();
    for (let i = 0; i < 100; i++) {
      const slab = pool.take();
      const views = [slab.subarray(0, 100), slab.subarray(100, 1024)];
      for (const v of views) pool.lend(v, slab);
      pool.drop(slab);
      for (const v of views) pool.release(v);
    }
    expect(pool.made).toBe(1);
    expect(pool.reused).toBe(99);
  });
});

describe('SlabReads', () => {
  it("a socket's reads share a slab while enough of it is left; the cursor holds the current one until the socket closes", () => {
    const pool = slabPool(64 * 1024);
    const reads = new SlabReads(pool, 16 * 1024);
    const a = reads.next();
    reads.filled(a, 40 * 1024);
    const b = reads.next();
    // The second read goes into the same slab after the first's bytes (24 KiB left): a tail holds no slab of its own.
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset - a.byteOffset).toBe(40 * 1024);
    expect(pool.held).toBe(1);
    reads.filled(b, 10 * 1024);
    const c = reads.next(); // 14 KiB left: a new slab
    expect(c.buffer).not.toBe(a.buffer);
    expect(pool.held).toBe(2);
    pool.drop(a);
    pool.drop(b);
    expect(pool.held).toBe(1); // the first slab's reads are done and the cursor moved on
    pool.drop(c);
    expect(pool.held).toBe(1); // the cursor still holds the slab it reads into
    reads.close();
    expect(pool.held).toBe(0);
    expect(pool.freeSlabs).toBe(2);
    expect(pool.made).toBe(2);
  });
});
