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
    expect(lag.stats).toEqual({ queuedBytes: 0, overflows: 1, completions: { ranged: 1, full: 1, failed: 1 }, completionBytes: 45 });
  });

  it('refuses limits that cannot hold one miss', () => {
    expect(() => new WriteLag({ perMissBytes: 0, totalBytes: 10 })).toThrow(RangeError);
    expect(() => new WriteLag({ perMissBytes: 20, totalBytes: 10 })).toThrow(RangeError);
  });
});
