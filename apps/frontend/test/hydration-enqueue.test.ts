import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { HYDRATION_QUEUE, hydrationJobId } from '@pullthrough/hydration-jobs';
import type { RedisServer } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

let redis: RedisServer;
let upstream: Upstream;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream({ auth: 'basic' });
}, 60_000);
afterAll(async () => {
  await upstream?.stop();
  await redis?.stop();
});

describe('hydration enqueue on a manifest miss', () => {
  let cache: Cache;
  let connection: Redis;
  let queue: Queue;
  beforeAll(async () => {
    cache = await startCache(redis, [upstream.proxy.host], {}, { PULLTHROUGH_SECRET_UP_USER: upstream.registry.username!, PULLTHROUGH_SECRET_UP_PASS: upstream.registry.password! });
    // The credential set goes in through the rules file in production; here straight into the control area.
    await cache.frontend.registry.store.putControl('credential-sets', 'basic-login', {
      name: 'basic-login',
      loginServer: upstream.proxy.host,
      authCredentials: [{ name: 'c1', usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_USER', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_PASS' }],
    });
    expect((await putRule(cache, { name: 'enqueue-rule', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'hy/*', credentialSetName: 'basic-login', anonymousPull: true, platforms: 'all' })).status).toBe(201);
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(HYDRATION_QUEUE, { connection, prefix: cache.queuePrefix });
  });
  afterAll(async () => {
    await queue?.close();
    connection?.disconnect();
    await cache?.stop();
  });

  test('20 concurrent misses of one tag enqueue one job, keyed by repository + digest, carrying names and no secrets', async () => {
    const f = upstream.fixtures.multiPlatform;
    const responses = await Promise.all(Array.from({ length: 20 }, () => fetch(`${cache.dataUrl}/v2/hy/multiplatform/manifests/v1`, { headers: { accept: ACCEPT } })));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    await cache.frontend.enqueuer.settle();
    const counts = await queue.getJobCounts('delayed', 'waiting', 'active', 'completed', 'failed');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1);
    const job = await queue.getJob(hydrationJobId('hy/multiplatform', f.digest));
    expect(job?.data).toMatchObject({
      downstreamRepository: 'hy/multiplatform',
      ruleName: 'enqueue-rule',
      upstreamRegistry: upstream.proxy.host,
      upstreamRepository: 'fixtures/multiplatform',
      digest: f.digest,
      tag: 'v1',
      credentialSetName: 'basic-login',
      platforms: 'all',
    });
    const payload = JSON.stringify(job?.data);
    expect(payload).not.toContain(upstream.registry.password!);
    expect(payload).not.toContain(upstream.registry.username!);
    expect(cache.frontend.enqueuer.stats.failed).toBe(0);
    // The requests that shared the import all enqueue in one turn: one add reaches Redis, the others join it
    // (a request that came after the import found the manifest stored: a hit, nothing to enqueue).
    const misses = responses.filter((r) => r.headers.get('x-cache') === 'miss').length;
    expect(misses).toBeGreaterThanOrEqual(2);
    expect(cache.frontend.enqueuer.stats).toMatchObject({ enqueued: 1, joined: misses - 1 });
    expect(upstream.proxy.count({ kind: 'manifest', method: 'GET', status: 200 })).toBe(1);
    // The metric says so too.
    const metrics = await (await fetch(`${cache.adminUrl}/metrics`)).text();
    expect(metrics).toContain(`pullthrough_hydration_enqueue_total{outcome="joined"} ${misses - 1}`);
  });

  test('a child manifest pulled by digest gets its own job (platforms clients actually pulled)', async () => {
    const child = upstream.fixtures.multiPlatform.manifests![1]!;
    const res = await fetch(`${cache.dataUrl}/v2/hy/multiplatform/manifests/${child.digest}`, { headers: { accept: ACCEPT } });
    expect(res.status).toBe(200);
    await cache.frontend.enqueuer.settle();
    expect(await queue.getJob(hydrationJobId('hy/multiplatform', child.digest))).toBeDefined();
  });
});

describe('Redis down', () => {
  test('pulls of manifests and blobs still succeed; the skipped enqueue is counted, not surfaced', async () => {
    const anonymous = await startUpstream();
    const ownRedis = await startRedis();
    const cache = await startCache(ownRedis, [anonymous.proxy.host]);
    try {
      expect((await putRule(cache, { name: 'no-redis-rule', sourceRepository: `${anonymous.proxy.host}/fixtures/*`, targetRepository: 'nr/*' })).status).toBe(201);
      await ownRedis.stop();
      const f = anonymous.fixtures.small;
      const m = await fetch(`${cache.dataUrl}/v2/nr/small/manifests/v1`, { headers: { accept: ACCEPT } });
      expect(m.status).toBe(200);
      expect(m.headers.get('docker-content-digest')).toBe(f.digest);
      for (const blob of f.blobs) {
        const b = await fetch(`${cache.dataUrl}/v2/nr/small/blobs/${blob.digest}`);
        expect(b.status).toBe(200);
        expect((await b.arrayBuffer()).byteLength).toBe(blob.size);
      }
      // The status API reads the queue: with Redis down that is a 503 with Retry-After, not a 500.
      const status = await fetch(`${cache.adminUrl}/api/v1/hydrations?repository=nr/small&reference=v1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(status.status).toBe(503);
      expect(status.headers.get('retry-after')).toBe('5');
      expect(((await status.json()) as { title: string }).title).toBe('Service Unavailable');
      await cache.frontend.enqueuer.settle();
      expect(cache.frontend.enqueuer.stats).toEqual({ enqueued: 0, joined: 0, failed: 1, deferred: 1 });
    } finally {
      await cache.stop();
      await anonymous.stop();
    }
  });
});
