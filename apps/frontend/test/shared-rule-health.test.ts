import { Redis } from 'ioredis';
import type { RuleHealthSnapshot } from '@pullthrough/pull-through';
import type { RedisServer } from '@pullthrough/test-support';
import { uniquePrefix } from '@pullthrough/test-support';
import { admin, blobPath, eventually, manifestPath, pull, sha256 } from './fault-helpers.js';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

// Two frontends in-process sharing one Redis (one key prefix): rule health and its counts are the
// same whichever frontend an operator asks; with Redis down or hung each shows its own, and pulls go on.
const RULE = 'shared-health';
let redis: RedisServer;
let upstream: Upstream;
let a: Cache;
let b: Cache;

type Health = RuleHealthSnapshot & { scope: string; name: string };

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  // Neither the config nor layers are fetched ahead: each blob a pull asks for is one miss it counts.
  const shared = { PULLTHROUGH_QUEUE_PREFIX: uniquePrefix('shared'), PULLTHROUGH_HYDRATION_DELAY_MS: '600000', PULLTHROUGH_PREFETCH_CONFIG: 'false', PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: '0' };
  [a, b] = await Promise.all([startCache(redis, [upstream.proxy.host], shared), startCache(redis, [upstream.proxy.host], shared)]);
  for (const cache of [a, b]) {
    expect((await putRule(cache, { name: RULE, sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'sh/*' })).status).toBe(201);
  }
}, 120_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await upstream?.stop();
  await redis?.stop();
});

async function pullImage(cache: Cache, name: 'small' | 'docker' | 'artifact'): Promise<void> {
  const f = upstream.fixtures[name];
  const repo = `sh/${f.repository.replace(/^fixtures\//, '')}`;
  const m = await pull(cache, manifestPath(repo, f.tag));
  expect(m.status).toBe(200);
  expect(sha256(m.body)).toBe(f.digest);
  for (const blob of f.blobs) {
    const res = await pull(cache, blobPath(repo, blob.digest));
    expect(res.status).toBe(200);
    expect(sha256(res.body)).toBe(blob.digest);
  }
}

const healthOf = (cache: Cache) => admin<Health>(cache, `/api/v1/cache-rules/${RULE}/health`);
const countsOf = (h: RuleHealthSnapshot) => ({ hits: h.recent.hits, misses: h.recent.misses, stale: h.recent.stale, errors: h.recent.errors });
/** What a frontend's own process recorded (its local view). */
const ownCounts = (cache: Cache) => countsOf(cache.frontend.ruleHealth.local.health(RULE));
const sum = (...c: ReturnType<typeof countsOf>[]) => c.reduce((s, x) => ({ hits: s.hits + x.hits, misses: s.misses + x.misses, stale: s.stale + x.stale, errors: s.errors + x.errors }));

test('pulls served by A show in B health within the flush interval, and the other way round; both answer the same, scope shared', async () => {
  await pullImage(a, 'small');
  const byA = ownCounts(a);
  expect(byA.misses).toBeGreaterThanOrEqual(1 + upstream.fixtures.small.blobs.length);
  await eventually('B shows A pulls', async () => (await healthOf(b)).recent.misses === byA.misses, 3000);
  const onB = await healthOf(b);
  expect(onB).toMatchObject({ name: RULE, scope: 'shared', state: 'healthy', recent: { windowSeconds: 900, ...byA } });
  expect(Date.parse(onB.lastSuccess!)).toBeGreaterThan(Date.now() - 60_000);

  await pullImage(b, 'small'); // B has its own storage: misses there too
  const both = sum(ownCounts(a), ownCounts(b));
  await eventually('A shows B pulls', async () => (await healthOf(a)).recent.misses === both.misses, 3000);
  expect(countsOf(await healthOf(a))).toEqual(both);
  const summary = await admin<{ scope: string; states: Record<string, number>; cacheRules: Health[] }>(b, '/api/v1/health/cache-rules');
  expect(summary.scope).toBe('shared');
  expect(summary.states).toEqual({ healthy: 1, degraded: 0, failing: 0, unknown: 0 });
  expect(summary.cacheRules.map((r) => [r.name, r.scope, countsOf(r)])).toEqual([[RULE, 'shared', both]]);
}, 30_000);

test('Redis killed: each frontend shows its own view (scope local), pulls are still served, and counts are shared again when Redis is back', async () => {
  const before = { a: ownCounts(a), b: ownCounts(b) };
  await redis.kill();
  try {
    await eventually('A health is local', async () => (await healthOf(a)).scope === 'local', 5000);
    await pullImage(a, 'small'); // local hits
    await pullImage(a, 'docker'); // a miss streamed from the upstream
    const onA = await healthOf(a);
    expect(onA).toMatchObject({ scope: 'local', state: 'healthy' });
    expect(countsOf(onA)).toEqual(ownCounts(a));
    expect(countsOf(await healthOf(b))).toEqual(before.b);
    expect((await admin<{ scope: string }>(b, '/api/v1/health/cache-rules')).scope).toBe('local');
  } finally {
    await redis.restart(); // empty: what was shared before is gone
  }
  const duringOutage = { hits: ownCounts(a).hits - before.a.hits, misses: ownCounts(a).misses - before.a.misses, stale: 0, errors: 0 };
  expect(duringOutage.hits).toBeGreaterThanOrEqual(1 + upstream.fixtures.small.blobs.length);
  expect(duringOutage.misses).toBeGreaterThanOrEqual(1 + upstream.fixtures.docker.blobs.length);
  await eventually('B shows what A served during the outage', async () => {
    const h = await healthOf(b);
    return h.scope === 'shared' && h.recent.hits === duringOutage.hits;
  }, 10_000);
  expect(countsOf(await healthOf(b))).toEqual(duringOutage);
}, 60_000);

test('Redis hung: cached pulls and health answers come back before the pause ends (health local); the counts arrive once it ends', async () => {
  await eventually('both shared', async () => (await healthOf(a)).scope === 'shared' && (await healthOf(b)).scope === 'shared', 10_000);
  const before = countsOf(await healthOf(b));
  const pauseMs = 6000;
  const control = new Redis(redis.url);
  try {
    await control.call('CLIENT', 'PAUSE', String(pauseMs), 'ALL');
  } finally {
    control.disconnect();
  }
  const pausedAt = Date.now();
  await pullImage(a, 'small');
  await pullImage(a, 'docker');
  const onA = await healthOf(a);
  expect(Date.now() - pausedAt).toBeLessThan(pauseMs); // every pull and the health read answered while Redis was still paused
  expect(onA.scope).toBe('local');
  const served = 2 + upstream.fixtures.small.blobs.length + upstream.fixtures.docker.blobs.length;
  await eventually('B shows the hits served during the pause', async () => (await healthOf(b)).recent.hits === before.hits + served, 15_000);
  expect(countsOf(await healthOf(b))).toEqual({ ...before, hits: before.hits + served });
}, 60_000);

test('a deleted rule leaves no shared health behind: re-created under its name, it starts afresh on both frontends', async () => {
  await pullImage(a, 'small');
  await eventually('B shows the pulls', async () => (await healthOf(b)).recent.misses > 0, 3000);
  // Each in-process frontend here keeps its rules in its own storage: the rule goes on both, and comes back on both.
  for (const cache of [a, b]) {
    const removed = await fetch(`${cache.adminUrl}/api/v1/cache-rules/${RULE}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(removed.status).toBe(204);
  }
  for (const cache of [a, b]) {
    expect((await putRule(cache, { name: RULE, sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'sh/*' })).status).toBe(201);
  }
  for (const cache of [a, b]) {
    const health = await healthOf(cache);
    expect({ scope: health.scope, state: health.state, lastSuccess: health.lastSuccess, lastFailure: health.lastFailure, ...countsOf(health) }).toEqual({
      scope: 'shared', state: 'unknown', lastSuccess: undefined, lastFailure: undefined, hits: 0, misses: 0, stale: 0, errors: 0,
    });
  }
}, 60_000);
