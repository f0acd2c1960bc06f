import type { RedisServer } from '@pullthrough/test-support';
import { uniquePrefix } from '@pullthrough/test-support';
import type { UpstreamStatus } from '@pullthrough/upstream';
import { admin, blobPath, eventually, manifestPath, pull, sha256, sleep, type Pulled } from './fault-helpers.js';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

// Three frontends in-process sharing one Redis (one key prefix) and one upstream behind the counting
// proxy: one replica's breaker open or Retry-After hold holds them all.
let redis: RedisServer;
let upstream: Upstream;
let caches: Cache[] = [];

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
}, 120_000);
afterEach(async () => {
  upstream.proxy.setFault(null);
  await Promise.all(caches.splice(0).map((c) => c.stop()));
});
afterAll(async () => {
  await upstream?.stop();
  await redis?.stop();
});

/** Three frontends with one shared prefix (their own data dirs), each with the `faulty-up` rule. */
async function threeFrontends(env: Record<string, string>): Promise<Cache[]> {
  const shared = { PULLTHROUGH_QUEUE_PREFIX: uniquePrefix('shared'), PULLTHROUGH_HYDRATION_DELAY_MS: '600000', ...env };
  caches = await Promise.all([0, 1, 2].map(() => startCache(redis, [upstream.proxy.host], shared)));
  for (const cache of caches) {
    const res = await putRule(cache, { name: 'faulty-up', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'up/*' });
    expect([200, 201]).toContain(res.status);
  }
  upstream.proxy.reset();
  return caches;
}

async function breakerOf(cache: Cache): Promise<UpstreamStatus | undefined> {
  const { upstreams } = await admin<{ upstreams: UpstreamStatus[] }>(cache, '/api/v1/upstreams');
  return upstreams.find((u) => u.upstream === upstream.proxy.host);
}

const stateOf = async (cache: Cache) => (await breakerOf(cache))?.state ?? 'closed';

/** A refusal that never reached the upstream: the OCI error names the upstream and says when to retry. */
function expectRefused(res: Pulled, code: 'UNAVAILABLE' | 'TOOMANYREQUESTS'): void {
  expect(res.status).toBe(code === 'UNAVAILABLE' ? 503 : 429);
  expect(res.error).toMatchObject({ code, message: `circuit breaker for upstream ${upstream.proxy.host} is open` });
  expect(res.error!.detail).toMatchObject({ upstream: expect.stringMatching(/^[^/]+\/fixtures\//), rule: 'faulty-up' });
  expect(String(res.error!.detail!.upstream).startsWith(`${upstream.proxy.host}/`)).toBe(true);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
}

describe('breakers shared across three frontends through Redis', () => {
  test('a 503 storm on A opens the breaker on B and C: their misses fail fast with no upstream request; one probe per reset window for all; its success closes it everywhere', async () => {
    const resetMs = 3000;
    const [a, b, c] = await threeFrontends({ PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: '3', PULLTHROUGH_BREAKER_RESET_TIMEOUT_MS: String(resetMs) });
    upstream.proxy.setFault({ status: 503 });
    for (let i = 0; i < 10 && (await stateOf(a!)) !== 'open'; i++) expect((await pull(a!, manifestPath('up/small', 'v1'))).status).toBe(503);
    expect(await stateOf(a!)).toBe('open');
    const openedAt = Date.now();
    await eventually('B and C see the breaker open', async () => (await stateOf(b!)) === 'open' && (await stateOf(c!)) === 'open', 2000);
    const onB = await breakerOf(b!);
    expect(onB).toMatchObject({ state: 'open', retryAfterSeconds: expect.any(Number) });
    expect(Math.abs(Date.parse(onB!.openUntil!) - Date.parse((await breakerOf(a!))!.openUntil!))).toBeLessThan(50);

    const seen = upstream.proxy.count();
    for (const cache of [b!, c!, b!, c!]) expectRefused(await pull(cache, manifestPath('up/multilayer', 'v1')), 'UNAVAILABLE');
    for (const blob of upstream.fixtures.small.blobs) expectRefused(await pull(c!, blobPath('up/small', blob.digest)), 'UNAVAILABLE');
    expect(upstream.proxy.count()).toBe(seen);
    const health = await admin<{ state: string; breaker: { state: string } }>(b!, '/api/v1/cache-rules/faulty-up/health');
    expect(health.breaker.state).toBe('open');
    expect(health.state).toBe('failing'); // B's own refused misses count against the rule

    // After the reset window, all three try at once: exactly one trial call reaches the (still failing)
    // upstream, and its failure holds every replica for another window.
    await sleep(Math.max(0, openedAt + resetMs + 200 - Date.now()));
    upstream.proxy.reset();
    const trial = await Promise.all([a!, b!, c!].map((cache) => pull(cache, manifestPath('up/multilayer', 'v1'))));
    expect(trial.map((r) => r.status)).toEqual([503, 503, 503]);
    expect(upstream.proxy.count()).toBe(1);
    await eventually('every replica open again', async () => (await Promise.all([a!, b!, c!].map(stateOf))).every((s) => s === 'open'), 2000);
    const reopenedAt = Date.now();
    for (const cache of [a!, b!, c!]) expectRefused(await pull(cache, manifestPath('up/multilayer', 'v1')), 'UNAVAILABLE');
    expect(upstream.proxy.count()).toBe(1);

    // The upstream recovers: after the next window one replica's trial call closes the breaker everywhere.
    upstream.proxy.setFault(null);
    await sleep(Math.max(0, reopenedAt + resetMs + 200 - Date.now()));
    upstream.proxy.reset();
    const probes = await Promise.all([a!, b!, c!].map((cache) => pull(cache, manifestPath('up/small', upstream.fixtures.small.digest))));
    expect(probes.filter((r) => r.status === 200)).toHaveLength(1);
    expect(upstream.proxy.requests.filter((r) => r.kind === 'manifest')).toHaveLength(1);
    await eventually('every replica closed', async () => (await Promise.all([a!, b!, c!].map(stateOf))).every((s) => s === 'closed'), 2000);
    for (const cache of [a!, b!, c!]) {
      const res = await pull(cache, manifestPath('up/small', 'v1'));
      expect(res.status).toBe(200);
      expect(sha256(res.body)).toBe(upstream.fixtures.small.digest);
    }
  }, 60_000);

  test('a 429 with Retry-After: 4 seen by A holds B and C until then (TOOMANYREQUESTS), then they pull again', async () => {
    const [a, b, c] = await threeFrontends({ PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: '20' });
    let throttled = false;
    upstream.proxy.setFault(() => {
      if (throttled) return null;
      throttled = true;
      return { status: 429, headers: { 'Retry-After': '4', 'RateLimit-Limit': '100;w=21600', 'RateLimit-Remaining': '0;w=21600' } };
    });
    const first = await pull(a!, manifestPath('up/small', 'v1'));
    const at = Date.now();
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('4');
    await eventually('B and C see the hold', async () => (await stateOf(b!)) === 'open' && (await stateOf(c!)) === 'open', 2000);
    // The rate-limit view A saw is the same on B and C.
    const onA = (await breakerOf(a!))!.rateLimit;
    expect(onA).toMatchObject({ limit: 100, remaining: 0, headroom: 0, retryAfterUntil: expect.any(String) });
    for (const cache of [b!, c!]) expect((await breakerOf(cache))!.rateLimit).toEqual(onA);
    while (Date.now() - at < 3500) {
      for (const cache of [b!, c!]) expectRefused(await pull(cache, manifestPath('up/small', 'v1')), 'TOOMANYREQUESTS');
      await sleep(250);
    }
    expect(upstream.proxy.count()).toBe(1);
    await sleep(Math.max(0, 4300 - (Date.now() - at)));
    // One replica makes the trial call; once it closed the breaker everywhere, the others pull too.
    await eventually(
      'B and C pull after the hold',
      async () => (await pull(b!, manifestPath('up/small', 'v1'))).status === 200 && (await pull(c!, manifestPath('up/small', 'v1'))).status === 200,
      5000,
    );
    expect(await stateOf(a!)).toBe('closed');
  }, 60_000);

  test('Redis down: each frontend falls back to its own breaker, local content is served, no request hangs; sharing resumes when it returns', async () => {
    const [a, b] = await threeFrontends({ PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: '3', PULLTHROUGH_BREAKER_RESET_TIMEOUT_MS: '60000' });
    // B holds the small image locally.
    expect((await pull(b!, manifestPath('up/small', upstream.fixtures.small.digest))).status).toBe(200);
    for (const blob of upstream.fixtures.small.blobs) expect((await pull(b!, blobPath('up/small', blob.digest))).status).toBe(200);
    await redis.kill();
    try {
      upstream.proxy.setFault({ status: 503 });
      const started = Date.now();
      for (let i = 0; i < 10 && (await stateOf(a!)) !== 'open'; i++) expect((await pull(a!, manifestPath('up/multilayer', 'v1'))).status).toBe(503);
      expect(await stateOf(a!)).toBe('open');
      await sleep(300);
      // B never heard of A's breaker: its own is closed, and its miss still reaches the upstream (503).
      expect(await stateOf(b!)).toBe('closed');
      const seen = upstream.proxy.count();
      const miss = await pull(b!, manifestPath('up/multilayer', 'v1'));
      expect(miss.status).toBe(503);
      expect(miss.error!.detail!.reason).not.toBe('circuit breaker open');
      expect(upstream.proxy.count()).toBe(seen + 1);
      // Local content by digest is served without the upstream or Redis.
      const local = await pull(b!, manifestPath('up/small', upstream.fixtures.small.digest));
      expect(local.status).toBe(200);
      for (const blob of upstream.fixtures.small.blobs) {
        const res = await pull(b!, blobPath('up/small', blob.digest));
        expect(res.status).toBe(200);
        expect(sha256(res.body)).toBe(blob.digest);
      }
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await redis.restart();
    }
    // Redis is back (empty): the next open is shared again.
    const [, , c] = caches;
    await sleep(2500); // the frontends reconnect (their retry delay is at most 2 s)
    for (let i = 0; i < 10 && (await stateOf(b!)) !== 'open'; i++) expect((await pull(b!, manifestPath('up/multilayer', 'v1'))).status).toBe(503);
    await eventually('C sees B open', async () => (await stateOf(c!)) === 'open', 3000);
    const seen = upstream.proxy.count();
    expectRefused(await pull(c!, manifestPath('up/multilayer', 'v1')), 'UNAVAILABLE');
    expect(upstream.proxy.count()).toBe(seen);
  }, 60_000);
});
