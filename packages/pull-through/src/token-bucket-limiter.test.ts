import { TokenBucketLimiter } from './token-bucket-limiter.js';

describe('TokenBucketLimiter', () => {
  test('a client gets its burst at once, then the rate; Retry-After says when the next token comes', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ ratePerSecond: 0.5, burst: 3, now: () => now });
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([undefined, undefined, undefined]);
    expect(limiter.take('a')).toBe(2); // one token every 2 s
    now = 1_000;
    expect(limiter.take('a')).toBe(1);
    now = 2_000;
    expect(limiter.take('a')).toBeUndefined();
    expect(limiter.take('a')).toBe(2);
  });

  test('clients are limited separately', () => {
    const limiter = new TokenBucketLimiter({ ratePerSecond: 1, burst: 1, now: () => 0 });
    expect(limiter.take('a')).toBeUndefined();
    expect(limiter.take('a')).toBe(1);
    expect(limiter.take('b')).toBeUndefined();
  });

  test('tracks at most maxClients (least recently seen forgotten first); a refilled bucket is as good as new', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ ratePerSecond: 1, burst: 2, maxClients: 4, now: () => now });
    for (let i = 0; i < 100; i++) limiter.take(`client-${i}`);
    expect(limiter.size).toBe(4);
    limiter.take('busy');
    limiter.take('busy');
    expect(limiter.take('busy')).toBe(1);
    now = 2_001; // two tokens at 1/s: full again
    expect([limiter.take('busy'), limiter.take('busy'), limiter.take('busy')]).toEqual([undefined, undefined, 1]);
  });

  test('refuses a rate or burst that would block everyone', () => {
    expect(() => new TokenBucketLimiter({ ratePerSecond: 0, burst: 5 })).toThrow(/positive rate/);
    expect(() => new TokenBucketLimiter({ ratePerSecond: 1, burst: 0 })).toThrow(/burst/);
  });
});
