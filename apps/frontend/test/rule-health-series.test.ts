import type { RedisServer } from '@pullthrough/test-support';
import { uniquePrefix } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

// GET /api/v1/cache-rules/{name}/health/series: the window bucket by bucket (what the console charts
// draw), read from the per-minute buckets in Redis that every frontend writes.
const RULE = 'series-rule';
let redis: RedisServer;
let upstream: Upstream;
let a: Cache;
let b: Cache;

interface Series {
  name: string;
  scope: string;
  windowSeconds: number;
  bucketSeconds: number;
  buckets: { start: string; hits: number; misses: number; stale: number; errors: number }[];
}

const get = (cache: Cache, path: string) => fetch(`${cache.adminUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
const seriesOf = async (cache: Cache) => (await (await get(cache, `/cache-rules/${RULE}/health/series`)).json()) as Series;
const total = (s: Series, k: 'hits' | 'misses' | 'stale' | 'errors') => s.buckets.reduce((n, x) => n + x[k], 0);

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  const shared = { PULLTHROUGH_QUEUE_PREFIX: uniquePrefix('series'), PULLTHROUGH_HYDRATION_DELAY_MS: '600000' };
  [a, b] = await Promise.all([startCache(redis, [upstream.proxy.host], shared), startCache(redis, [upstream.proxy.host], shared)]);
  for (const cache of [a, b]) expect((await putRule(cache, { name: RULE, sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'se/*' })).status).toBe(201);
}, 120_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await upstream?.stop();
  await redis?.stop();
});

test('pulls on one frontend show in the other frontend\'s series, per bucket, and the series adds up to the health counts', async () => {
  const manifest = () => fetch(`${a.dataUrl}/v2/se/small/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  for (let i = 0; i < 3; i++) {
    const res = await manifest();
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }
  // a's own series is at once complete (its unflushed counts are added); b sees them once a has flushed (about a second).
  const own = await seriesOf(a);
  expect([own.name, own.scope, own.bucketSeconds, own.windowSeconds]).toEqual([RULE, 'shared', 60, 900]);
  expect(own.buckets).toHaveLength(16);
  expect([total(own, 'misses'), total(own, 'hits')]).toEqual([1, 2]);
  const deadline = Date.now() + 10_000;
  let seen = await seriesOf(b);
  while (total(seen, 'hits') + total(seen, 'misses') < 3 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    seen = await seriesOf(b);
  }
  expect(seen.scope).toBe('shared');
  expect([total(seen, 'misses'), total(seen, 'hits')]).toEqual([1, 2]);
  // The counts sit in the current minute (or, across a minute boundary, the one before it).
  const busy = seen.buckets.filter((x) => x.hits + x.misses > 0);
  expect(busy.length).toBeGreaterThanOrEqual(1);
  expect(Date.now() - Date.parse(busy.at(-1)!.start)).toBeLessThan(2 * 60_000 + 10_000);
  // Oldest first, one bucket width apart.
  const starts = seen.buckets.map((x) => Date.parse(x.start));
  expect(starts.slice(1).map((s, i) => s - starts[i]!)).toEqual(new Array(15).fill(60_000));
  const health = (await (await get(b, `/cache-rules/${RULE}/health`)).json()) as { recent: { hits: number; misses: number } };
  expect([health.recent.hits, health.recent.misses]).toEqual([total(seen, 'hits'), total(seen, 'misses')]);
}, 60_000);

test('an unknown rule is a 404 problem; no token is a 401', async () => {
  const missing = await get(a, '/cache-rules/no-such-rule/health/series');
  expect(missing.status).toBe(404);
  expect(((await missing.json()) as { detail: string }).detail).toBe('cache rule "no-such-rule" does not exist');
  expect((await fetch(`${a.adminUrl}/api/v1/cache-rules/${RULE}/health/series`)).status).toBe(401);
});
