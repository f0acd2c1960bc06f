import { ReceivePace } from './receive-pace.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ReceivePace', () => {
  it('is 1 before any byte came, and the share of the bytes within the first millisecond', () => {
    const pace = new ReceivePace();
    expect(pace.share(0, Date.now())).toBe(1);
    pace.add(1000);
    // Taken in the same millisecond as received: the share is by bytes (or by rate, when a millisecond passed).
    expect(pace.share(500, pace.since!)).toBeCloseTo(0.5, 1);
  });

  it('does not count the time the read waited as the upstream\'s; overlapping waits count once', async () => {
    const pace = new ReceivePace();
    pace.add(1000);
    // Two waits of the read at once (the store and a client): 200 ms of waiting, not 400.
    await Promise.all([pace.waiting(() => sleep(200)), pace.waiting(() => sleep(200))]);
    await sleep(200);
    // About 400 ms since the first byte, about 200 of them free: a client that took every byte over
    // the whole time kept about half the upstream's own rate.
    const share = pace.share(1000, pace.since!);
    expect(share).toBeGreaterThan(0.3);
    expect(share).toBeLessThan(0.7);
  });

  it('judges a late client over its own time only, never before the first byte', async () => {
    const pace = new ReceivePace();
    const before = Date.now() - 10_000;
    pace.add(1000);
    await sleep(100);
    const joinedAt = Date.now();
    await sleep(100);
    // Half the bytes in the half of the time it was there: the upstream's rate.
    expect(pace.share(500, joinedAt)).toBeGreaterThan(0.7);
    // A start before the first byte counts from the first byte.
    expect(pace.share(1000, before)).toBeCloseTo(pace.share(1000, pace.since!), 1);
  });
});
