import { WriteLag } from './write-lag.js';

describe('WriteLag', () => {
  it('bounds each miss and all of them together; what waits for a writer with no live client is counted but not refused', () => {
    const lag = new WriteLag({ perMissBytes: 100, totalBytes: 150 });
    expect(lag.reserve(60, 0)).toBe(true);
    // Over one miss's lag.
    expect(lag.reserve(50, 60)).toBe(false);
    expect(lag.reserve(40, 60)).toBe(true);
    // Another miss: its own lag is free, the total is not.
    expect(lag.reserve(60, 0)).toBe(false);
    expect(lag.reserve(50, 0)).toBe(true);
    lag.take(500);
    expect(lag.stats.queuedBytes).toBe(650);
    lag.release(600);
    expect(lag.reserve(60, 0)).toBe(true);
    lag.release(1000);
    expect(lag.stats.queuedBytes).toBe(0);
  });

  it('counts overflows and completions by result', () => {
    const lag = new WriteLag();
    lag.countOverflow();
    lag.countCompletion('ranged', 10);
    lag.countCompletion('full', 30);
    lag.countCompletion('failed', 5);
    lag.countWait();
    lag.countWait();
    expect(lag.stats).toEqual({ queuedBytes: 0, overflows: 1, waits: 2, completions: { ranged: 1, full: 1, failed: 1 }, completionBytes: 45 });
  });

  it('refuses limits that cannot hold one miss', () => {
    expect(() => new WriteLag({ perMissBytes: 0, totalBytes: 10 })).toThrow(RangeError);
    expect(() => new WriteLag({ perMissBytes: 20, totalBytes: 10 })).toThrow(RangeError);
    expect(() => new WriteLag({ perMissBytes: 10, totalBytes: 10, minStoreShare: 1.5 })).toThrow(RangeError);
    expect(() => new WriteLag({ perMissBytes: 10, totalBytes: 10, minStoreShare: -1 })).toThrow(RangeError);
    expect(() => new WriteLag({ perMissBytes: 10, totalBytes: 10, stallMs: 0 })).toThrow(RangeError);
  });

  it('waits for a store by default when it kept half the receive rate, overflowing after 2 s without progress', () => {
    const lag = new WriteLag();
    expect(lag.minStoreShare).toBe(0.5);
    expect(lag.stallMs).toBe(2000);
  });

  it('tells whether more bytes fit without taking them, and wakes a waiting miss when any store takes bytes (or after its timeout)', async () => {
    const lag = new WriteLag({ perMissBytes: 100, totalBytes: 150, minStoreShare: 0, stallMs: 10 });
    expect(lag.reserve(100, 0)).toBe(true);
    expect(lag.fits(50, 0)).toBe(true);
    expect(lag.fits(51, 0)).toBe(false);
    expect(lag.fits(1, 100)).toBe(false);
    expect(lag.stats.queuedBytes).toBe(100);
    let woken: boolean | undefined;
    const waiting = lag.released(60_000).then((w) => (woken = w));
    await Promise.resolve();
    expect(woken).toBeUndefined();
    lag.release(60);
    await waiting;
    expect(woken).toBe(true);
    expect(lag.fits(50, 40)).toBe(true);
    const started = Date.now();
    await expect(lag.released(50)).resolves.toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
  });
});
