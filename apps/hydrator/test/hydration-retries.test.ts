import { Redis } from 'ioredis';
import { parseHydrationFailure, RegistrySemaphore } from '@pullthrough/hydration-jobs';
import { silentLogger } from '@pullthrough/pull-through';
import { startRedis, type RedisServer } from '@pullthrough/test-support';
import { UpstreamBreaker } from '@pullthrough/upstream';
import { loadHydratorConfig } from '../src/config.js';
import { retryAfterOf } from '../src/hydration-failures.js';
import { startHydrator } from '../src/hydrator.js';
import { jobFor, startHydratorEnv, startUpstream, type HydratorEnv, type Upstream } from './harness.js';

// Retry policy through the real worker: Retry-After deferrals that spend no attempt, re-enqueue of
// failed jobs, permanent failures with their category, and the per-registry concurrency limit
// across two hydrators. Real redis-server, BullMQ, docker-registry behind a counting proxy.

let redis: RedisServer;
let upstream: Upstream;
const envs: HydratorEnv[] = [];

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
}, 120_000);
afterAll(async () => {
  await upstream?.stop();
  await redis?.stop();
});
beforeEach(() => upstream.proxy.reset());
afterEach(async () => {
  upstream.proxy.setFault(null);
  upstream.proxy.delayMs = 0;
  await Promise.all(envs.splice(0).map((e) => e.stop()));
});

async function newEnv(queue: Parameters<typeof startHydratorEnv>[2] = {}, env: Record<string, string> = {}): Promise<HydratorEnv> {
  const e = await startHydratorEnv(redis, upstream, queue, env);
  envs.push(e);
  return e;
}
const blobGets = (reference: string) => upstream.proxy.count({ method: 'GET', kind: 'blob', reference });

describe('upstream says "later"', () => {
  test('429 with Retry-After three times on a blob: the job waits it out and completes with 2 attempts allowed (none spent)', async () => {
    const env = await newEnv({ attempts: 2, backoffMs: 50 });
    const f = upstream.fixtures.small;
    const blob = f.blobs[0]!;
    let throttled = 0;
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.reference === blob.digest && throttled++ < 3 ? { status: 429, headers: { 'Retry-After': '1' } } : null));
    const job = await env.completed(await env.enqueue(jobFor(upstream, f, 'mirror/throttled')), 30_000);
    expect(upstream.proxy.count({ kind: 'blob', reference: blob.digest, status: 429 })).toBe(3);
    expect(blobGets(blob.digest)).toBe(4);
    expect(job.attemptsMade).toBe(1);
    expect(job.data.deferrals).toBe(3);
    // Deferred three times, each by at least the Retry-After.
    expect(job.finishedOn! - job.timestamp).toBeGreaterThanOrEqual(3000);
  }, 40_000);

  test('an open breaker (held for a Retry-After) is a deferral too: retryAfterOf reads the breaker error', async () => {
    const breaker = new UpstreamBreaker('r.example');
    breaker.holdOpen(7);
    const err = await breaker.fire(async () => 'never').catch((e: unknown) => e);
    expect(retryAfterOf(err)).toBeGreaterThanOrEqual(6);
    breaker.shutdown();
  });
});

describe('failed jobs', () => {
  test('a 404 fails for good with its category; enqueueing the same (repository, digest) later runs it again', async () => {
    const env = await newEnv({ attempts: 5, backoffMs: 50 });
    const f = upstream.fixtures.small;
    upstream.proxy.setFault((r) => (r.kind === 'manifest' ? { status: 404, body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"gone"}]}', headers: { 'Content-Type': 'application/json' } } : null));
    const input = jobFor(upstream, f, 'mirror/comes-back');
    const { job, error } = await env.settle(await env.enqueue(input));
    expect(error).toBeDefined();
    expect(job.attemptsMade).toBe(1);
    expect(parseHydrationFailure(job.failedReason)).toMatchObject({ code: 'MANIFEST_UNKNOWN', category: 'upstream-not-found' });

    upstream.proxy.setFault(null);
    const again = await env.completed(await env.enqueue(input));
    expect(again.attemptsMade).toBe(1);
    expect(await env.store.getManifest('mirror/comes-back', f.digest)).toBeDefined();
  });

  test('an upstream the egress policy refuses fails for good as rule-config at once; nothing reaches it', async () => {
    const env = await newEnv({ attempts: 5, backoffMs: 50 }, { PULLTHROUGH_EGRESS_ALLOW: '' });
    const f = upstream.fixtures.small;
    const { job } = await env.settle(await env.enqueue(jobFor(upstream, f, 'mirror/refused')));
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(parseHydrationFailure(job.failedReason)).toMatchObject({ code: 'EGRESS_DENIED', category: 'rule-config', message: expect.stringContaining('is a loopback address') });
    expect(upstream.proxy.count()).toBe(0);
  });

  test('401 on a blob survives a credential refresh: permanent upstream-auth after one extra walk, no retries', async () => {
    const env = await newEnv({ attempts: 5, backoffMs: 50 });
    const f = upstream.fixtures.small;
    const blob = f.blobs[0]!;
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.reference === blob.digest ? { status: 401, body: '{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}' } : null));
    const { job } = await env.settle(await env.enqueue(jobFor(upstream, f, 'mirror/denied')));
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(parseHydrationFailure(job.failedReason)).toMatchObject({ code: 'UPSTREAM_AUTH', category: 'upstream-auth' });
    expect(blobGets(blob.digest)).toBe(2);
  });

  test('one 401 then success: the refreshed walk completes within the first attempt', async () => {
    const env = await newEnv({ attempts: 5, backoffMs: 50 });
    const f = upstream.fixtures.small;
    const blob = f.blobs[0]!;
    let refused = 0;
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.reference === blob.digest && refused++ === 0 ? { status: 401 } : null));
    const job = await env.completed(await env.enqueue(jobFor(upstream, f, 'mirror/refreshed')));
    expect(job.attemptsMade).toBe(1);
    expect(blobGets(blob.digest)).toBe(2);
  });

  test('a blob whose bytes never match its digest fails for good as digest-mismatch after the second walk; nothing is stored', async () => {
    const env = await newEnv({ attempts: 5, backoffMs: 50 });
    const f = upstream.fixtures.small;
    const blob = f.blobs[0]!;
    const junk = 'x'.repeat(blob.size);
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.reference === blob.digest ? { status: 200, body: junk, headers: { 'Content-Length': String(junk.length) } } : null));
    const { job } = await env.settle(await env.enqueue(jobFor(upstream, f, 'mirror/corrupt')));
    expect(job.attemptsMade).toBe(1);
    expect(parseHydrationFailure(job.failedReason)).toMatchObject({ code: 'DIGEST_MISMATCH', category: 'digest-mismatch' });
    expect(blobGets(blob.digest)).toBe(2);
    expect(await env.store.statBlob(blob.digest)).toBeUndefined();
  });
});

describe('per-upstream-registry concurrency', () => {
  test('two hydrators with 3 workers each and a registry limit of 1: never two jobs on the registry at once, all complete', async () => {
    const env = await newEnv({}, { PULLTHROUGH_HYDRATION_REGISTRY_CONCURRENCY: '1', PULLTHROUGH_HYDRATION_CONCURRENCY: '3' });
    // A second process on the same queue, data dir and Redis.
    const second = await startHydrator(loadHydratorConfig({ ...stringEnv(env.config), PULLTHROUGH_HYDRATION_REGISTRY_CONCURRENCY: '1', PULLTHROUGH_HYDRATION_CONCURRENCY: '3' }), silentLogger);
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    const sem = new RegistrySemaphore(client, { prefix: env.config.PULLTHROUGH_QUEUE_PREFIX, limit: 1, leaseMs: 1000 });
    upstream.proxy.delayMs = 100;
    let maxHolders = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxHolders = Math.max(maxHolders, (await sem.holders(upstream.proxy.host)).length);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      const f = upstream.fixtures;
      const ids = await Promise.all([
        env.enqueue(jobFor(upstream, f.small, 'limit/a')),
        env.enqueue(jobFor(upstream, f.multiLayer, 'limit/b')),
        env.enqueue(jobFor(upstream, f.docker, 'limit/c')),
        env.enqueue(jobFor(upstream, f.artifact, 'limit/d')),
      ]);
      for (const id of ids) await env.completed(id, 60_000);
      expect(maxHolders).toBe(1);
    } finally {
      sampling = false;
      await sampler;
      await second.close();
      client.disconnect();
    }
  }, 90_000);
});

function stringEnv(config: object): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v)]));
}
