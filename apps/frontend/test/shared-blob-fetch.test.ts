import { mkdtemp, rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HydrationStatus } from '@pullthrough/hydration-jobs';
import type { RedisServer } from '@pullthrough/test-support';
import { uniquePrefix } from '@pullthrough/test-support';
import { blobPath, eventually, manifestPath, pull, sha256, sleep, type Pulled } from './fault-helpers.js';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { startHydratorProcess, type HydratorProcess } from './hydrator-process.js';

// Several frontends in-process (and a hydrator process) sharing one data dir and one Redis (one key
// prefix), one upstream behind the counting proxy: a blob is fetched from the upstream once in all.
let redis: RedisServer;
let upstream: Upstream;
let caches: Cache[] = [];
let hydrator: HydratorProcess | undefined;
let dataDir: string;
let prefix: string;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
}, 120_000);
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'pullthrough-shared-'));
  prefix = uniquePrefix('lease');
});
afterEach(async () => {
  upstream.proxy.setFault(null);
  await hydrator?.stop();
  hydrator = undefined;
  await Promise.all(caches.splice(0).map((c) => c.stop()));
  // A dead leader's fetch may still be committing into it.
  await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
});
afterAll(async () => {
  await upstream?.stop();
  await redis?.stop();
});

/** `n` frontends on the shared data dir and prefix, each knowing the `shared-up` rule. */
async function frontends(n: number, env: Record<string, string> = {}): Promise<Cache[]> {
  const shared = { PULLTHROUGH_QUEUE_PREFIX: prefix, PULLTHROUGH_HYDRATION_DELAY_MS: '600000', ...env };
  const started = await Promise.all(Array.from({ length: n }, () => startCache(redis, [upstream.proxy.host], shared, {}, dataDir)));
  caches.push(...started);
  for (const cache of started) {
    const res = await putRule(cache, { name: 'shared-up', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'up/*' });
    expect([200, 201]).toContain(res.status);
  }
  upstream.proxy.reset();
  return started;
}

const image = () => upstream.fixtures.multiLayer;
/** Upstream blob GETs per digest since the last reset. */
function blobGets(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of upstream.proxy.requests) if (r.kind === 'blob' && r.method === 'GET' && r.reference) counts.set(r.reference, (counts.get(r.reference) ?? 0) + 1);
  return counts;
}
/** A release handle for a hold fault. */
function gate(): { until: Promise<void>; open(): void } {
  let open!: () => void;
  const until = new Promise<void>((resolve) => (open = resolve));
  return { until, open };
}
function expectVerified(res: Pulled, digest: string): void {
  expect({ status: res.status, broken: res.broken }).toEqual({ status: 200, broken: false });
  expect(sha256(res.body)).toBe(digest);
}
async function adminPost(cache: Cache, path: string, body: unknown): Promise<Response> {
  return fetch(`${cache.adminUrl}/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe('one upstream fetch per blob across processes (Redis leases)', () => {
  test('30 clients over 3 frontends on one uncached multi-layer image: every client verifies, the upstream serves each blob once', async () => {
    const trio = await frontends(3);
    const f = image();
    const clients = Array.from({ length: 30 }, async (_, i) => {
      const cache = trio[i % 3]!;
      const manifest = await pull(cache, manifestPath('up/multilayer', f.digest));
      expect(manifest.status).toBe(200);
      const blobs = await Promise.all(f.blobs.map((b) => pull(cache, blobPath('up/multilayer', b.digest))));
      f.blobs.forEach((b, j) => expectVerified(blobs[j]!, b.digest));
    });
    await Promise.all(clients);
    const gets = blobGets();
    expect(Object.fromEntries(gets)).toEqual(Object.fromEntries(f.blobs.map((b) => [b.digest, 1])));
    // Every frontend serves the image locally now, no upstream GET.
    for (const cache of trio) for (const b of f.blobs) expectVerified(await pull(cache, blobPath('up/multilayer', b.digest)), b.digest);
    expect(blobGets()).toEqual(gets);
  }, 120_000);

  test('a hydration job for blobs a frontend is fetching waits for its commit instead of fetching them again', async () => {
    const [a] = await frontends(1);
    hydrator = await startHydratorProcess({ PULLTHROUGH_DATA_DIR: dataDir, REDIS_URL: redis.url, PULLTHROUGH_QUEUE_PREFIX: prefix, PULLTHROUGH_INSECURE_UPSTREAMS: upstream.proxy.host });
    const f = image();
    const big = f.blobs.filter((b) => b.size > 8192);
    // The job goes through the config and layers in order: these come before the first big layer.
    const small = f.blobs.slice(0, f.blobs.findIndex((b) => b.size > 8192));
    expect(big.length).toBeGreaterThanOrEqual(2);
    expect(small.length).toBeGreaterThanOrEqual(1);
    const held = gate();
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.method === 'GET' && big.some((b) => b.digest === r.reference) ? { kind: 'hold', atByte: 1000, until: held.until } : null));
    try {
      // A's clients lead every big layer's fetch; the upstream holds each after 1000 bytes.
      const clients = big.map((b) => pull(a!, blobPath('up/multilayer', b.digest)));
      await eventually('A fetches every big layer', () => big.every((b) => blobGets().get(b.digest) === 1), 10_000);
      const res = await adminPost(a!, '/cache-rules/shared-up/prefetch', { repository: 'up/multilayer', references: [f.digest] });
      expect(res.status).toBe(202);
      // The job fetched the first small blobs (not held) and went on to the first big one, which A is fetching.
      await eventually('the hydrator fetched the small blobs', () => small.every((b) => blobGets().get(b.digest) === 1), 20_000);
      await sleep(1500);
      expect(big.map((b) => blobGets().get(b.digest))).toEqual(big.map(() => 1));
      held.open();
      for (const [j, b] of big.entries()) expectVerified(await clients[j]!, b.digest);
      const status = await fetch(`${a!.adminUrl}/api/v1/hydrations?repository=up/multilayer&reference=${f.digest}&wait=30`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(((await status.json()) as HydrationStatus).state).toBe('hydrated');
      expect(Object.fromEntries(blobGets())).toEqual(Object.fromEntries(f.blobs.map((b) => [b.digest, 1])));
    } finally {
      held.open();
    }
  }, 120_000);

  test('a follower whose looks at the lease go unanswered for a while (Redis paused) goes on waiting for the leader\'s commit: one GET', async () => {
    const [a, b] = await frontends(2);
    const layer = image().blobs.reduce((x, y) => (y.size > x.size ? y : x));
    const held = gate();
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.method === 'GET' && r.reference === layer.digest ? { kind: 'hold', atByte: 1000, until: held.until } : null));
    const admin = new Redis(redis.url);
    try {
      const onA = pull(a!, blobPath('up/multilayer', layer.digest));
      await eventually('A fetches the layer', () => blobGets().get(layer.digest) === 1, 10_000);
      const onB = pull(b!, blobPath('up/multilayer', layer.digest));
      await sleep(700); // B saw the lease held and waits for the commit, looking again every 500 ms
      // Redis answers no client for 2.5 s: B's next looks at the lease time out (50 ms) several times.
      await admin.call('CLIENT', 'PAUSE', '2500', 'ALL');
      await sleep(3000);
      expect(blobGets().get(layer.digest)).toBe(1);
      held.open();
      expectVerified(await onA, layer.digest);
      expectVerified(await onB, layer.digest);
      expect(blobGets().get(layer.digest)).toBe(1);
    } finally {
      held.open();
      admin.disconnect();
    }
  }, 60_000);

  test('a leader that dies mid-blob: after its lease expires another frontend takes over; its clients verify, the dead one\'s client got no 200 body', async () => {
    const [a, b, c] = await frontends(3, { PULLTHROUGH_BLOB_LEASE_MS: '1500', PULLTHROUGH_SHUTDOWN_TIMEOUT_MS: '300' });
    const layer = image().blobs.reduce((x, y) => (y.size > x.size ? y : x));
    const held = gate();
    let first = true;
    upstream.proxy.setFault((r) => {
      if (r.kind !== 'blob' || r.method !== 'GET' || r.reference !== layer.digest || !first) return null;
      first = false;
      return { kind: 'hold', atByte: 64 * 1024, until: held.until };
    });
    try {
      const onA = pull(a!, blobPath('up/multilayer', layer.digest));
      await eventually('A fetches the layer', () => blobGets().get(layer.digest) === 1, 10_000);
      // B and C follow A's lease: no upstream request of their own.
      const followers = [b!, c!, b!, c!].map((cache) => pull(cache, blobPath('up/multilayer', layer.digest)));
      await sleep(1000);
      expect(blobGets().get(layer.digest)).toBe(1);
      // A dies: its connections are cut and it stops renewing (its fetch stays held upstream).
      const died = Date.now();
      await a!.stop();
      caches.splice(caches.indexOf(a!), 1);
      const dead = await onA;
      expect(dead.status === 200 ? dead.broken : true).toBe(true);
      expect(dead.body.length).toBeLessThan(layer.size);
      for (const res of await Promise.all(followers)) expectVerified(res, layer.digest);
      // One follower took the lease over once it had expired: exactly one more GET.
      expect(Date.now() - died).toBeGreaterThanOrEqual(1000);
      expect(blobGets().get(layer.digest)).toBe(2);
      expectVerified(await pull(c!, blobPath('up/multilayer', layer.digest)), layer.digest);
      expect(blobGets().get(layer.digest)).toBe(2);
    } finally {
      held.open();
    }
  }, 120_000);

  test('Redis down: each frontend fetches on its own, nobody waits on Redis', async () => {
    const [a, b] = await frontends(2);
    const layer = image().blobs.reduce((x, y) => (y.size > x.size ? y : x));
    await redis.kill();
    const held = gate();
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.method === 'GET' && r.reference === layer.digest ? { kind: 'hold', atByte: 1000, until: held.until } : null));
    try {
      const started = Date.now();
      const pulls = [a!, b!, a!, b!].map((cache) => pull(cache, blobPath('up/multilayer', layer.digest)));
      // Both frontends fetch while the other's fetch is still running: one GET per process (each
      // coalesces its own clients), neither waits for the other.
      await eventually('both frontends fetch', () => blobGets().get(layer.digest) === 2, 5_000);
      held.open();
      for (const res of await Promise.all(pulls)) expectVerified(res, layer.digest);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(blobGets().get(layer.digest)).toBe(2);
    } finally {
      held.open();
      await redis.restart();
    }
  }, 60_000);
});
