import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { HYDRATION_QUEUE, hydrationJobId } from '@pullthrough/hydration-jobs';
import type { RedisServer } from '@pullthrough/test-support';
import { blobPath, eventually, manifestPath, metric, pull, sha256 } from './fault-helpers.js';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HYDRATION_DELAY_MS: '600000' });
  expect((await putRule(cache, { name: 'redis-outage', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'ro/*' })).status).toBe(201);
}, 120_000);
afterAll(async () => {
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
});

async function pullImage(name: 'small' | 'docker' | 'artifact'): Promise<void> {
  const f = upstream.fixtures[name];
  const repo = `ro/${f.repository.replace(/^fixtures\//, '')}`;
  const m = await pull(cache, manifestPath(repo, f.tag));
  expect(m.status).toBe(200);
  expect(sha256(m.body)).toBe(f.digest);
  for (const blob of f.blobs) {
    const b = await pull(cache, blobPath(repo, blob.digest));
    expect(b.status).toBe(200);
    expect(sha256(b.body)).toBe(blob.digest);
  }
}

test('Redis stopped mid-test: local hits and streamed misses keep working; after it returns, deferred and new hydration jobs are enqueued', async () => {
  await pullImage('small');
  await cache.frontend.enqueuer.settle();
  expect(cache.frontend.enqueuer.stats).toMatchObject({ enqueued: 1, failed: 0 });
  expect(await metric(cache, 'pullthrough_redis_up')).toBe(1);

  await redis.kill();
  await eventually('redis down seen', async () => (await metric(cache, 'pullthrough_redis_up')) === 0);
  await pullImage('small'); // local hit
  await pullImage('docker'); // streamed miss, its enqueue skipped
  await cache.frontend.enqueuer.settle();
  expect(cache.frontend.enqueuer.stats).toMatchObject({ enqueued: 1, failed: 1, deferred: 1 });
  expect(await metric(cache, 'pullthrough_hydration_enqueue_total{outcome="skipped"}')).toBe(1);
  expect(await metric(cache, 'pullthrough_hydration_enqueue_deferred')).toBe(1);

  await redis.restart(); // same port, empty (no persistence)
  await eventually('redis reconnect', async () => (await metric(cache, 'pullthrough_redis_up')) === 1);
  await eventually('deferred job enqueued', () => cache.frontend.enqueuer.stats.deferred === 0 && cache.frontend.enqueuer.stats.enqueued === 2);
  await pullImage('artifact'); // a new miss enqueues again
  await cache.frontend.enqueuer.settle();
  expect(cache.frontend.enqueuer.stats).toMatchObject({ enqueued: 3, failed: 1, deferred: 0 });

  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue(HYDRATION_QUEUE, { connection, prefix: cache.queuePrefix });
  try {
    for (const name of ['docker', 'artifact'] as const) {
      const f = upstream.fixtures[name];
      const job = await queue.getJob(hydrationJobId(`ro/${f.repository.replace(/^fixtures\//, '')}`, f.digest));
      expect(job?.data).toMatchObject({ ruleName: 'redis-outage', digest: f.digest });
    }
  } finally {
    await queue.close();
    connection.disconnect();
  }
}, 60_000);
