import { RuleHealthTracker, withBreakerState } from './rule-health-tracker.js';

describe('RuleHealthTracker', () => {
  let t = 1_000_000;
  const tracker = () => new RuleHealthTracker({ windowMs: 60_000, buckets: 6, now: () => t });

  test('unknown until something happens, healthy after successes', () => {
    const h = tracker();
    expect(h.health('dockerhub')).toEqual({ state: 'unknown', recent: { windowSeconds: 60, hits: 0, misses: 0, stale: 0, errors: 0 } });
    h.served('dockerhub', 'miss');
    h.served('dockerhub', 'hit');
    h.served('dockerhub', 'revalidated');
    expect(h.health('dockerhub')).toMatchObject({ state: 'healthy', lastSuccess: new Date(t).toISOString(), recent: { hits: 2, misses: 1, errors: 0 } });
  });

  test('a failure after the last success is failing; a later success makes it degraded; the window expires the errors', () => {
    const h = tracker();
    h.served('quay-rule', 'miss');
    t += 1000;
    h.failed('quay-rule', 'credential-lookup', 'secret https://v/secrets/pw cannot be read: the vault forbids access (403)');
    const failing = h.health('quay-rule');
    expect(failing.state).toBe('failing');
    expect(failing.lastFailure).toEqual({ category: 'credential-lookup', message: expect.stringContaining('403'), time: new Date(t).toISOString() });
    t += 1000;
    h.served('quay-rule', 'hit');
    expect(h.health('quay-rule')).toMatchObject({ state: 'degraded', recent: { hits: 1, misses: 1, errors: 1 } });
    t += 61_000 + 10_000;
    h.served('quay-rule', 'hit');
    expect(h.health('quay-rule')).toMatchObject({ state: 'healthy', recent: { hits: 1, misses: 0, errors: 0 }, lastFailure: { category: 'credential-lookup' } });
  });

  test('an old failure outside the window is not failing; rules are independent; forget drops a rule', () => {
    const h = tracker();
    h.failed('old-rule', 'upstream-unavailable', 'down');
    h.served('other-rule', 'stale');
    expect(h.health('other-rule').state).toBe('degraded');
    t += 120_000;
    expect(h.health('old-rule')).toMatchObject({ state: 'healthy', recent: { errors: 0 } });
    h.forget('old-rule');
    expect(h.health('old-rule').state).toBe('unknown');
  });

  test('lastServedBy names the registry that answered last, and whether it was a fallback', () => {
    const h = tracker();
    h.upstreamAnswered('mirrored', 'mirror.example', true);
    expect(h.health('mirrored')).toMatchObject({ state: 'unknown', lastServedBy: { upstream: 'mirror.example', fallback: true, time: new Date(t).toISOString() } });
    t += 1000;
    h.upstreamAnswered('mirrored', 'registry.example', false);
    h.served('mirrored', 'miss');
    expect(h.health('mirrored')).toMatchObject({ state: 'healthy', lastServedBy: { upstream: 'registry.example', fallback: false, time: new Date(t).toISOString() } });
    expect(h.health('other').lastServedBy).toBeUndefined();
  });

  test('an open or half-open breaker degrades a healthy rule but never hides failing', () => {
    expect(withBreakerState('healthy', 'open')).toBe('degraded');
    expect(withBreakerState('healthy', 'half-open')).toBe('degraded');
    expect(withBreakerState('healthy', 'closed')).toBe('healthy');
    expect(withBreakerState('failing', 'open')).toBe('failing');
  });
});

describe('RuleHealthTracker as a view', () => {
  test('read answers with this process view, scope local; failure messages are sanitized', async () => {
    const h = new RuleHealthTracker({ windowMs: 60_000 });
    h.failed('signed-rule', 'upstream-unavailable', 'redirect to https://blob.example/x?sig=secret-sig failed');
    const reading = await h.read();
    expect(reading.scope).toBe('local');
    expect(reading.health('signed-rule')).toMatchObject({ state: 'failing', lastFailure: { message: 'redirect to https://blob.example/x failed' }, recent: { errors: 1 } });
  });

  test('series: every bucket of the window, oldest first, with its counts; old buckets drop out', async () => {
    let t = 6_000_000; // bucket-aligned (10 s buckets)
    const h = new RuleHealthTracker({ windowMs: 60_000, buckets: 6, now: () => t });
    h.served('chart-rule', 'miss');
    t += 10_000;
    h.served('chart-rule', 'hit');
    h.served('chart-rule', 'stale');
    h.failed('chart-rule', 'upstream-unavailable', 'down');
    const s = await h.series('chart-rule');
    // Six buckets span the window, plus the oldest one it still covers in part.
    expect([s.scope, s.windowSeconds, s.bucketSeconds, s.buckets.length]).toEqual(['local', 60, 10, 7]);
    expect(s.buckets.at(-1)).toEqual({ start: new Date(t).toISOString(), hits: 1, misses: 0, stale: 1, errors: 1 });
    expect(s.buckets.at(-2)).toEqual({ start: new Date(t - 10_000).toISOString(), hits: 0, misses: 1, stale: 0, errors: 0 });
    expect(s.buckets.slice(0, -2).every((b) => b.hits + b.misses + b.errors === 0)).toBe(true);
    t += 70_000;
    expect((await h.series('chart-rule')).buckets.reduce((n, b) => n + b.hits + b.misses + b.errors, 0)).toBe(0);
    expect((await h.series('never-pulled')).buckets).toHaveLength(7);
  });
});
