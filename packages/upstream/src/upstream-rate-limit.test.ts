import { parseRateLimitHeader, UpstreamRateLimit } from './upstream-rate-limit.js';

describe('parseRateLimitHeader', () => {
  it.each([
    ['100;w=21600', { value: 100, windowSeconds: 21600 }],
    ['76;w=21600', { value: 76, windowSeconds: 21600 }],
    ['100', { value: 100 }],
    [' 100 ; w=60 , 200;w=3600', { value: 100, windowSeconds: 60 }],
    ['abc', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%p', (input, expected) => {
    expect(parseRateLimitHeader(input)).toEqual(expected);
  });
});

describe('UpstreamRateLimit', () => {
  it('keeps the last Docker Hub headers and computes headroom', () => {
    let now = 1_000_000;
    const rl = new UpstreamRateLimit(() => now);
    expect(rl.current()).toEqual({});
    rl.observe({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '25;w=21600' }, 200);
    expect(rl.current()).toEqual({ limit: 100, remaining: 25, windowSeconds: 21600, headroom: 0.25, observedAt: new Date(now).toISOString() });
    now += 1000;
    rl.observe({ 'content-type': 'x' }, 200);
    expect(rl.current().remaining).toBe(25);
  });

  it('remembers a Retry-After of a 429 or 503 until it passes', () => {
    let now = 1_000_000;
    const rl = new UpstreamRateLimit(() => now);
    rl.observe({ 'retry-after': '5' }, 200);
    expect(rl.current().retryAfterUntil).toBeUndefined();
    rl.observe({ 'retry-after': '5' }, 429);
    expect(rl.current().retryAfterUntil).toBe(new Date(now + 5000).toISOString());
    now += 5001;
    expect(rl.current().retryAfterUntil).toBeUndefined();
  });
});
