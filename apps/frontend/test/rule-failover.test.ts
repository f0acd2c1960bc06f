import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { HYDRATION_QUEUE, hydrationJobId } from '@pullthrough/hydration-jobs';
import type { RedisServer } from '@pullthrough/test-support';
import { admin, blobPath, manifestPath, metric, pull, sha256, sleep } from './fault-helpers.js';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

// Upstream failover: two real docker-registry upstreams with the same fixtures; the rule's source
// registry is the first, its fallback the second. Each has its own breaker in the cache.

let redis: RedisServer;
let primary: Upstream;
let mirror: Upstream;
let cache: Cache;
let connection: Redis;
let queue: Queue;

const RESET_MS = 1500;

beforeAll(async () => {
  redis = await startRedis();
  [primary, mirror] = await Promise.all([startUpstream(), startUpstream()]);
  cache = await startCache(redis, [primary.proxy.host, mirror.proxy.host], {
    PULLTHROUGH_HYDRATION_DELAY_MS: '600000',
    PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: '2',
    PULLTHROUGH_BREAKER_RESET_TIMEOUT_MS: String(RESET_MS),
  });
  const res = await putRule(cache, { name: 'failover-up', sourceRepository: `${primary.proxy.host}/fixtures/*`, targetRepository: 'fo/*', fallbackRegistries: [mirror.proxy.host] });
  expect(res.status).toBe(201);
  connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  queue = new Queue(HYDRATION_QUEUE, { connection, prefix: cache.queuePrefix });
}, 180_000);

afterAll(async () => {
  await queue?.close();
  connection?.disconnect();
  await cache?.stop();
  await Promise.all([primary?.stop(), mirror?.stop()]);
  await redis?.stop();
});

beforeEach(() => {
  primary.proxy.reset();
  mirror.proxy.reset();
});

/** Pull an image by tag (manifest, then every blob), checking every digest against the fixture. */
async function pullImage(name: 'small' | 'multiLayer' | 'artifact' | 'docker', repository: string): Promise<void> {
  const f = primary.fixtures[name];
  const m = await pull(cache, manifestPath(repository, f.tag));
  expect(m.status).toBe(200);
  expect(sha256(m.body)).toBe(f.digest);
  for (const blob of f.blobs) {
    const b = await pull(cache, blobPath(repository, blob.digest));
    expect(b.status).toBe(200);
    expect(sha256(b.body)).toBe(blob.digest);
  }
}

test('the mirrors hold the same content', () => {
  for (const name of ['small', 'multiLayer', 'artifact'] as const) expect(mirror.fixtures[name].digest).toBe(primary.fixtures[name].digest);
});

test('a healthy source registry serves; the fallback is not asked', async () => {
  await pullImage('small', 'fo/small');
  expect(primary.proxy.count({ kind: 'manifest', method: 'GET', reference: 'v1' })).toBe(1);
  expect(mirror.proxy.requests).toEqual([]);
});

test('with the source registry refusing connections, the fallback serves the pull, and the hydration job names it', async () => {
  await primary.proxy.refuseConnections();
  try {
    await pullImage('multiLayer', 'fo/multilayer');
  } finally {
    await primary.proxy.acceptConnections();
  }
  const f = mirror.fixtures.multiLayer;
  expect(mirror.proxy.count({ kind: 'manifest', method: 'GET', reference: 'v1' })).toBe(1);
  for (const blob of f.blobs) expect(mirror.proxy.count({ kind: 'blob', method: 'GET', reference: blob.digest })).toBe(1);
  expect(primary.proxy.requests).toEqual([]);

  const job = await queue.getJob(hydrationJobId('fo/multilayer', f.digest));
  expect(job?.data).toMatchObject({ ruleName: 'failover-up', upstreamRegistry: mirror.proxy.host, upstreamRepository: 'fixtures/multilayer', tag: 'v1' });

  const health = await admin<{ lastServedBy?: { upstream: string; fallback: boolean }; lastFailure?: { category: string; message: string }; fallbacks?: Array<{ upstream: string }> }>(
    cache,
    '/api/v1/cache-rules/failover-up/health',
  );
  expect(health.lastServedBy).toMatchObject({ upstream: mirror.proxy.host, fallback: true });
  expect(health.lastFailure?.category).toBe('upstream-unavailable');
  expect(health.lastFailure?.message).toContain(`(upstream ${primary.proxy.host}; trying fallback ${mirror.proxy.host})`);
  expect(health.fallbacks?.map((x) => x.upstream)).toEqual([mirror.proxy.host]);
  expect(await metric(cache, `pullthrough_rule_upstream_answers_total{rule="failover-up",upstream="${mirror.proxy.host}",fallback="true"}`)).toBeGreaterThanOrEqual(1 + f.blobs.length);
});

test('a 503 from the source registry fails over too; a 404 is an answer and does not', async () => {
  primary.proxy.setFault({ status: 503 });
  try {
    await pullImage('artifact', 'fo/artifact');
    expect(mirror.proxy.count({ kind: 'manifest', method: 'GET', reference: 'v1' })).toBe(1);
  } finally {
    primary.proxy.setFault(null);
  }
  // Let the source's breaker (opened by the 503s) close again: its probe succeeds.
  await sleep(RESET_MS + 200);
  mirror.proxy.reset();
  const missing = await pull(cache, manifestPath('fo/small', 'no-such-tag'));
  expect(missing.status).toBe(404);
  expect(missing.error?.code).toBe('MANIFEST_UNKNOWN');
  expect(primary.proxy.count({ kind: 'manifest', reference: 'no-such-tag' })).toBe(1);
  expect(mirror.proxy.requests).toEqual([]);
});

test('with the source registry healthy again, it serves again', async () => {
  await sleep(RESET_MS + 200);
  await pullImage('docker', 'fo/docker');
  expect(primary.proxy.count({ kind: 'manifest', method: 'GET', reference: 'v1' })).toBe(1);
  expect(mirror.proxy.requests).toEqual([]);
  const health = await admin<{ lastServedBy?: { upstream: string; fallback: boolean } }>(cache, '/api/v1/cache-rules/failover-up/health');
  expect(health.lastServedBy).toMatchObject({ upstream: primary.proxy.host, fallback: false });
});

test('with every registry down, the pull fails with the registries tried named', async () => {
  await Promise.all([primary.proxy.refuseConnections(), mirror.proxy.refuseConnections()]);
  try {
    const res = await pull(cache, manifestPath('fo/small', primary.fixtures.small.digest.replace(/.$/, (c) => (c === '0' ? '1' : '0'))));
    expect(res.status).toBe(503);
    expect(res.error?.detail).toMatchObject({ rule: 'failover-up', upstreamsTried: [primary.proxy.host, mirror.proxy.host] });
  } finally {
    await Promise.all([primary.proxy.acceptConnections(), mirror.proxy.acceptConnections()]);
  }
});
