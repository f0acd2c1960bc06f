import { FailedLoginLimiter } from './failed-login-limiter.js';

describe('FailedLoginLimiter', () => {
  let now = 1_000_000;
  const limiter = (maxClients = 100) => new FailedLoginLimiter({ burst: 3, perMinute: 6, maxClients, now: () => now });

  it('lets a client fail `burst` times, then says how long to wait; other clients are not affected', () => {
    const l = limiter();
    for (let i = 0; i < 3; i++) {
      expect(l.retryAfterSeconds('a')).toBeUndefined();
      l.recordFailure('a');
    }
    // 6 per minute: one failure earned back every 10 s.
    expect(l.retryAfterSeconds('a')).toBe(10);
    expect(l.retryAfterSeconds('b')).toBeUndefined();
    now += 4_000;
    expect(l.retryAfterSeconds('a')).toBe(6);
    now += 6_000;
    expect(l.retryAfterSeconds('a')).toBeUndefined();
    l.recordFailure('a');
    expect(l.retryAfterSeconds('a')).toBe(10);
  });

  it('forgets a client once its bucket is full again, and keeps at most maxClients (least recently failed dropped)', () => {
    const l = limiter(2);
    l.recordFailure('a');
    now += 10_000;
    expect(l.retryAfterSeconds('a')).toBeUndefined();
    expect(l.size).toBe(0);
    for (const client of ['a', 'b', 'c']) for (let i = 0; i < 3; i++) l.recordFailure(client);
    expect(l.size).toBe(2);
    expect(l.retryAfterSeconds('a')).toBeUndefined();
    expect(l.retryAfterSeconds('b')).toBe(10);
    expect(l.retryAfterSeconds('c')).toBe(10);
  });

  it('refuses settings that would limit nothing or everything', () => {
    expect(() => new FailedLoginLimiter({ burst: 0, perMinute: 6, maxClients: 10 })).toThrow(/burst/);
    expect(() => new FailedLoginLimiter({ burst: 3, perMinute: 0, maxClients: 10 })).toThrow(/perMinute/);
  });
});
