import { BufferPool, processBufferPool, releasableBuffer } from './buffer-pool.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KiB = 1024;

describe('releasableBuffer', () => {
  it('is the whole of a resizable ArrayBuffer of its size', () => {
    const b = releasableBuffer(4 * KiB);
    expect(Buffer.isBuffer(b)).toBe(true);
    expect(b.length).toBe(4 * KiB);
    expect(b.byteOffset).toBe(0);
    const memory = b.buffer as ArrayBuffer & { resizable: boolean; maxByteLength: number };
    expect(memory.resizable).toBe(true);
    expect(memory.maxByteLength).toBe(4 * KiB);
  });

  it('refuses a size that is not a positive integer', () => {
    for (const size of [0, -1, 1.5, Number.NaN]) expect(() => releasableBuffer(size)).toThrow(RangeError);
  });
});

describe('BufferPool', () => {
  it('gives a released buffer to the next acquire of its size, the last released first', () => {
    const pool = new BufferPool(64 * KiB);
    const a = pool.acquire(4 * KiB);
    const b = pool.acquire(4 * KiB);
    expect(a).not.toBe(b);
    pool.release(a);
    pool.release(b);
    expect(pool.idleSize).toBe(8 * KiB);
    expect(pool.idleBytesOf(4 * KiB)).toBe(8 * KiB);
    expect(pool.acquire(4 * KiB)).toBe(b);
    expect(pool.acquire(4 * KiB)).toBe(a);
    expect(pool.made).toBe(2);
    expect(pool.reused).toBe(2);
    expect(pool.idleSize).toBe(0);
  });

  it('gives the memory of a buffer released beyond maxIdleBytes back at once: it and every view of it are empty', () => {
    const pool = new BufferPool(4 * KiB);
    const kept = pool.acquire(4 * KiB);
    const over = pool.acquire(4 * KiB);
    over.fill(7);
    const view = over.subarray(10, 20);
    pool.release(kept);
    pool.release(over);
    expect(kept.length).toBe(4 * KiB);
    expect(over.length).toBe(0);
    expect(over.buffer.byteLength).toBe(0);
    expect(view.length).toBe(0);
    expect(() => Buffer.concat([view])).toThrow(/detached|out of bounds/);
    expect(pool.emptied).toBe(1);
    expect(pool.idleSize).toBe(4 * KiB);
  });

  it('fills an emptied buffer with fresh (zeroed) pages when it is acquired again; its old views see them', () => {
    const pool = new BufferPool(0);
    const b = pool.acquire(4 * KiB);
    b.fill(9);
    const view = b.subarray(0, 8);
    pool.release(b);
    expect(b.length).toBe(0);
    const again = pool.acquire(4 * KiB);
    expect(again).toBe(b);
    expect(again.length).toBe(4 * KiB);
    expect(again.every((byte) => byte === 0)).toBe(true);
    expect(view.length).toBe(8);
    expect(pool.refilled).toBe(1);
    expect(pool.made).toBe(1);
  });

  it('keeps at most maxEmpty emptied buffers of a size', () => {
    const pool = new BufferPool(0, { maxEmpty: 1 });
    const a = pool.acquire(KiB);
    const b = pool.acquire(KiB);
    pool.release(a);
    pool.release(b);
    expect(pool.acquire(KiB)).toBe(a);
    const fresh = pool.acquire(KiB);
    expect(fresh).not.toBe(b);
    expect(pool.made).toBe(3);
  });

  it('before taking new memory, gives back at least as much idle memory of other sizes, longest idle first', () => {
    const pool = new BufferPool(64 * KiB, { tradeAfterMs: 0 });
    const small = [pool.acquire(KiB), pool.acquire(KiB), pool.acquire(KiB)];
    for (const b of small) pool.release(b);
    const big = pool.acquire(2 * KiB);
    expect(big.length).toBe(2 * KiB);
    expect(small.map((b) => b.length)).toEqual([0, 0, KiB]);
    expect(pool.idleSize).toBe(KiB);
    // An idle buffer of the size asked for is taken without giving anything back.
    pool.release(big);
    expect(pool.acquire(2 * KiB)).toBe(big);
    expect(small[2]?.length).toBe(KiB);
  });

  it('leaves idle buffers of other sizes alone until they have been idle for tradeAfterMs', async () => {
    const pool = new BufferPool(64 * KiB, { tradeAfterMs: 80 });
    const small = [pool.acquire(KiB), pool.acquire(KiB)];
    for (const b of small) pool.release(b);
    pool.acquire(2 * KiB);
    expect(small.map((b) => b.length)).toEqual([KiB, KiB]);
    await sleep(150);
    pool.acquire(2 * KiB);
    expect(small.map((b) => b.length)).toEqual([0, 0]);
    expect(pool.idleSize).toBe(0);
  });

  it('keeps a buffer it did not make while there is room, and leaves it to the collector beyond (its memory untouched)', () => {
    const pool = new BufferPool(KiB);
    const plain = Buffer.alloc(KiB, 1);
    const other = Buffer.alloc(KiB, 2);
    pool.release(plain);
    pool.release(other);
    expect(other.length).toBe(KiB);
    expect(other[0]).toBe(2);
    expect(pool.idleSize).toBe(KiB);
    expect(pool.acquire(KiB)).toBe(plain);
    expect(pool.acquire(KiB)).not.toBe(other);
  });

  it('refuses to take back a buffer whose memory it already gave back', () => {
    const pool = new BufferPool(0);
    const b = pool.acquire(KiB);
    pool.release(b);
    expect(() => pool.release(b)).toThrow(/empty buffer/);
  });

  it('keeps idle plain buffers while acquires go on, and lets all beyond keepIdleBytes go (largest first) once none came for idleMs', async () => {
    const pool = new BufferPool(64 * KiB, { keepIdleBytes: 2 * KiB, idleMs: 60, releasableFrom: 64 * KiB });
    const smalls = [pool.acquire(KiB), pool.acquire(KiB)];
    const bigs = [pool.acquire(8 * KiB), pool.acquire(8 * KiB)];
    for (const b of [...smalls, ...bigs]) pool.release(b);
    expect(pool.idleSize).toBe(18 * KiB);
    for (let i = 0; i < 3; i++) {
      await sleep(40);
      pool.release(pool.acquire(KiB));
    }
    expect(pool.idleSize).toBe(18 * KiB);
    await sleep(200);
    expect(pool.idleSize).toBe(2 * KiB);
    expect(pool.idleBytesOf(8 * KiB)).toBe(0);
    // Plain buffers are left to the collector, their memory untouched.
    expect(bigs.map((b) => b.length)).toEqual([8 * KiB, 8 * KiB]);
    expect(pool.acquire(KiB)).toBe(smalls[1]);
  });

  it('gives back releasable buffers idle for idleMs even while other buffers are taken all along', async () => {
    const pool = new BufferPool(64 * KiB, { keepIdleBytes: 0, idleMs: 60, releasableFrom: 4 * KiB });
    const bigs = [pool.acquire(8 * KiB), pool.acquire(8 * KiB)];
    for (const b of bigs) pool.release(b);
    for (let i = 0; i < 10; i++) {
      await sleep(20);
      pool.release(pool.acquire(KiB)); // a plain buffer taken and given back all the time
    }
    expect(bigs.map((b) => b.length)).toEqual([0, 0]);
    expect(pool.idleBytesOf(8 * KiB)).toBe(0);
    expect(pool.idleBytesOf(KiB)).toBe(KiB);
  });
});

describe('BufferPool releasableFrom', () => {
  const resizable = (b: Buffer) => (b.buffer as ArrayBuffer & { resizable?: boolean }).resizable === true;

  it('makes plain buffers below it: kept idle alike, left to the collector beyond the limit, never traded for another size', () => {
    const pool = new BufferPool(2 * KiB, { releasableFrom: 4 * KiB, tradeAfterMs: 0 });
    const small = [pool.acquire(KiB), pool.acquire(KiB), pool.acquire(KiB)];
    expect(small.some(resizable)).toBe(false);
    for (const b of small) pool.release(b);
    expect(pool.idleSize).toBe(2 * KiB);
    expect(small.map((b) => b.length)).toEqual([KiB, KiB, KiB]);
    const big = pool.acquire(4 * KiB);
    expect(resizable(big)).toBe(true);
    expect(pool.idleBytesOf(KiB)).toBe(2 * KiB);
    expect(pool.acquire(KiB)).toBe(small[1]);
  });

  it('gives back releasable buffers of other sizes when plain ones need new memory', () => {
    const pool = new BufferPool(64 * KiB, { releasableFrom: 4 * KiB, tradeAfterMs: 0 });
    const big = pool.acquire(4 * KiB);
    pool.release(big);
    pool.acquire(KiB);
    expect(big.length).toBe(0);
    expect(pool.idleSize).toBe(0);
  });
});

describe('processBufferPool', () => {
  it('is one pool for the whole process: plain 64 KiB buffers (socket slabs), releasable ones from 128 KiB (reads of stored blobs)', () => {
    const pool = processBufferPool();
    expect(processBufferPool()).toBe(pool);
    const slab = pool.acquire(64 * KiB);
    const block = pool.acquire(128 * KiB);
    expect((slab.buffer as ArrayBuffer & { resizable?: boolean }).resizable).toBeFalsy();
    expect((block.buffer as ArrayBuffer & { resizable?: boolean }).resizable).toBe(true);
    pool.release(slab);
    pool.release(block);
  });
});
