import type { SharedBreakerBoard, SharedHold, SharedRateLimit } from './shared-breaker-board.js';
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

describe('UpstreamRateLimit shared through a board', () => {
  /** The rate-limit half of a board, in memory: what one replica announced, what the others read. */
  function memoryBoard() {
    const announced: SharedRateLimit[] = [];
    let hold: SharedHold | undefined;
    const board: SharedBreakerBoard = {
      hold: () => hold,
      upstreams: () => [],
      announceOpen: () => undefined,
      announceClosed: () => undefined,
      claimProbe: () => Promise.resolve(true),
      onClosed: () => undefined,
      rateLimit: () => announced.at(-1),
      announceRateLimit: (_upstream, view) => void announced.push(view),
    };
    return { board, announced, setHold: (h: SharedHold) => (hold = h) };
  }

  it('shares changes (at most once a second unless none remain); another replica shows the newest view and a 429 hold', () => {
    let now = 1_000_000;
    const { board, announced, setHold } = memoryBoard();
    const a = new UpstreamRateLimit(() => now);
    const b = new UpstreamRateLimit(() => now);
    a.shareThrough('hub.example', board);
    b.shareThrough('hub.example', board);
    a.observe({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '25;w=21600' }, 200);
    expect(announced).toEqual([{ limit: 100, remaining: 25, windowSeconds: 21600, observedAt: now }]);
    expect(b.current()).toEqual({ limit: 100, remaining: 25, windowSeconds: 21600, headroom: 0.25, observedAt: new Date(now).toISOString() });
    now += 200;
    a.observe({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '24;w=21600' }, 200);
    expect(announced).toHaveLength(1); // within the second
    a.observe({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '0;w=21600' }, 200);
    expect(announced.at(-1)).toMatchObject({ remaining: 0, observedAt: now }); // none left: at once
    expect(b.current()).toMatchObject({ remaining: 0, headroom: 0 });
    // b's own newer observation wins over the shared one.
    now += 1500;
    b.observe({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '100;w=21600' }, 200);
    expect(announced.at(-1)).toMatchObject({ remaining: 100, observedAt: now });
    expect(b.current()).toMatchObject({ remaining: 100, headroom: 1 });
    setHold({ until: now + 4000, throttled: true });
    expect(b.current().retryAfterUntil).toBe(new Date(now + 4000).toISOString());
    setHold({ until: now + 4000, throttled: false });
    expect(b.current().retryAfterUntil).toBeUndefined();
  });
});
