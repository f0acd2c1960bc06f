import { createHash } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { HYDRATION_QUEUE, hydrationJobId } from '@pullthrough/hydration-jobs';
import { waitUntil, type RedisServer } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { parseSamples, sampleSum, scrape } from './prometheus-text.js';

// Request latency, bytes served by source, coalesced fetches and upstream answers, read from the
// frontend's /metrics after real pulls (real docker-registry behind the counting proxy). Tracing is
// off here: the enqueued hydration job carries no trace context.

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';
const BLOB_ROUTE = '/v2/:name/blobs/:digest';
const MANIFEST_ROUTE = '/v2/:name/manifests/:reference';

let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;
const metrics = () => scrape(`${cache.adminUrl}/metrics`);
const get = (path: string) => fetch(`${cache.dataUrl}${path}`, { headers: { accept: ACCEPT } });

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  // A long enqueue delay: the jobs wait in Redis (no hydrator runs here) and are read back below.
  // Neither the config nor layers are fetched ahead of the client: the coalesced and upstream counts below are exact.
  cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HYDRATION_DELAY_MS: '600000', PULLTHROUGH_PREFETCH_CONFIG: 'false', PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: '0' });
  expect((await putRule(cache, { name: 'metrics-rule', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'mx/*' })).status).toBe(201);
});
afterAll(async () => {
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
});

describe('frontend request metrics', () => {
  it('a miss then a hit: latency histograms by route and cache status, bytes served from the upstream then from local storage', async () => {
    const f = upstream.fixtures.multiLayer;
    const blobBytes = f.blobs.reduce((n, b) => n + b.size, 0);
    const before = parseSamples(await metrics());
    expect(sampleSum(before, 'pullthrough_served_bytes_total', { kind: 'blob', source: 'upstream' })).toBe(0);

    for (const pass of ['miss', 'hit']) {
      const m = await get('/v2/mx/multilayer/manifests/v1');
      expect(m.status).toBe(200);
      expect(m.headers.get('x-cache')).toBe(pass);
      await m.arrayBuffer();
      for (const b of f.blobs) {
        const res = await get(`/v2/mx/multilayer/blobs/${b.digest}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('x-cache')).toBe(pass);
        expect((await res.arrayBuffer()).byteLength).toBe(b.size);
      }
    }

    const after = parseSamples(await metrics());
    const count = (route: string, cache: string) => sampleSum(after, 'pullthrough_http_request_duration_seconds_count', { plane: 'data', route, method: 'GET', status: '200', cache });
    expect(count(BLOB_ROUTE, 'miss')).toBe(f.blobs.length);
    expect(count(BLOB_ROUTE, 'hit')).toBe(f.blobs.length);
    expect(count(MANIFEST_ROUTE, 'miss')).toBe(1);
    expect(count(MANIFEST_ROUTE, 'hit')).toBe(1);
    // Every observation fell in a bucket: the +Inf bucket equals the count.
    expect(sampleSum(after, 'pullthrough_http_request_duration_seconds_bucket', { route: BLOB_ROUTE, cache: 'miss', le: '+Inf' })).toBe(f.blobs.length);
    expect(sampleSum(after, 'pullthrough_http_request_duration_seconds_sum', { route: BLOB_ROUTE, cache: 'miss' })).toBeGreaterThan(0);

    expect(sampleSum(after, 'pullthrough_served_bytes_total', { kind: 'blob', source: 'upstream' })).toBe(blobBytes);
    expect(sampleSum(after, 'pullthrough_served_bytes_total', { kind: 'blob', source: 'local' })).toBe(blobBytes);
    expect(sampleSum(after, 'pullthrough_served_bytes_total', { kind: 'manifest', source: 'upstream' })).toBe(f.manifest.length);
    expect(sampleSum(after, 'pullthrough_served_bytes_total', { kind: 'manifest', source: 'local' })).toBe(f.manifest.length);

    // One manifest GET and one GET per blob reached the upstream, all answered 2xx; nothing was shared.
    expect(sampleSum(after, 'pullthrough_upstream_responses_total', { upstream: upstream.proxy.host, status: '2xx' })).toBe(upstream.proxy.count({ status: 200 }) + upstream.proxy.count({ status: 307 }));
    expect(sampleSum(after, 'pullthrough_upstream_responses_total', { upstream: upstream.proxy.host, status: '2xx' })).toBeGreaterThanOrEqual(f.blobs.length + 1);
    expect(sampleSum(after, 'pullthrough_blob_fetches_coalesced_total')).toBe(0);
    // The misses were read into pooled slabs, and every slab went back once written and sent: at most the
    // keep-alive connections' current slabs (one each) are out of the pool now.
    expect(sampleSum(after, 'pullthrough_upstream_read_slabs_total', { outcome: 'made' })).toBeGreaterThan(0);
    expect(sampleSum(after, 'pullthrough_upstream_read_slabs_held')).toBeLessThanOrEqual(2);

    // Tracing is off: the job the pull enqueued carries no trace context.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(HYDRATION_QUEUE, { connection, prefix: cache.queuePrefix });
    try {
      await waitUntil(async () => (await queue.getJob(hydrationJobId('mx/multilayer', f.digest))) !== undefined, { what: 'the hydration job' });
      const job = await queue.getJob(hydrationJobId('mx/multilayer', f.digest));
      expect(job?.data).toMatchObject({ downstreamRepository: 'mx/multilayer', digest: f.digest });
      expect(Object.keys(job!.data)).not.toContain('traceparent');
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it('two clients of the same missing blob share one upstream fetch, counted as coalesced', async () => {
    const blob = upstream.fixtures.small.blobs.at(-1)!;
    upstream.proxy.reset();
    upstream.proxy.delayMs = 400;
    try {
      const first = get(`/v2/mx/small/blobs/${blob.digest}`);
      await new Promise((r) => setTimeout(r, 100));
      const second = get(`/v2/mx/small/blobs/${blob.digest}`);
      const bodies = await Promise.all([first, second].map(async (p) => (await p).arrayBuffer()));
      expect(bodies.map((b) => b.byteLength)).toEqual([blob.size, blob.size]);
    } finally {
      upstream.proxy.delayMs = 0;
    }
    expect(upstream.proxy.count({ kind: 'blob', method: 'GET' })).toBe(1);
    const text = await metrics();
    expect(sampleSum(text, 'pullthrough_blob_fetches_coalesced_total', { how: 'joined' }) + sampleSum(text, 'pullthrough_blob_fetches_coalesced_total', { how: 'tapped' })).toBe(1);
  });

  it('clients of a stored blob that ask at once share its reads from storage, counted; each gets the exact blob', async () => {
    // The multilayer image's largest layer (over 3 MiB: several reads) is stored by the first test.
    const big = upstream.fixtures.multiLayer.blobs.reduce((a, b) => (b.size > a.size ? b : a));
    const earlier = await metrics();
    const before = sampleSum(earlier, 'pullthrough_storage_reads_shared_total');
    const inSlabsBefore = sampleSum(earlier, 'pullthrough_storage_reads_in_slabs_total');
    // Every response is under way before any body is read: their reads run side by side.
    const responses = await Promise.all(Array.from({ length: 16 }, () => get(`/v2/mx/multilayer/blobs/${big.digest}`)));
    const digests = await Promise.all(responses.map(async (r) => `sha256:${createHash('sha256').update(Buffer.from(await r.arrayBuffer())).digest('hex')}`));
    expect(responses.map((r) => r.headers.get('x-cache'))).toEqual(Array(16).fill('hit'));
    expect(digests).toEqual(Array(16).fill(big.digest));
    const after = await metrics();
    expect(sampleSum(after, 'pullthrough_storage_reads_shared_total') - before).toBeGreaterThan(0);
    // The earlier misses' slabs wait idle in the process's pool: the blocks were read into them.
    expect(sampleSum(after, 'pullthrough_storage_reads_in_slabs_total') - inSlabsBefore).toBeGreaterThan(0);
  });

  it('admin requests are labelled by route pattern (found, not found and unknown paths)', async () => {
    const admin = (path: string) => fetch(`${cache.adminUrl}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect((await admin('/api/v1/cache-rules/metrics-rule')).status).toBe(200);
    expect((await admin('/api/v1/cache-rules/no-such-rule')).status).toBe(404);
    expect((await admin('/api/v1/no-such-thing/x')).status).toBe(404);
    const text = await metrics();
    const count = (route: string, status: string) => sampleSum(text, 'pullthrough_http_request_duration_seconds_count', { plane: 'admin', route, status });
    expect(count('/api/v1/cache-rules/:name', '200')).toBe(1);
    expect(count('/api/v1/cache-rules/:name', '404')).toBe(1);
    expect(count('unmatched', '404')).toBe(1);
    // No raw path is ever a label.
    expect(text).not.toMatch(/route="[^"]*(no-such|metrics-rule|multilayer)/);
  });

  it('a mount path sent in other letter cases is one route label (anonymous clients cannot add series)', async () => {
    for (const path of ['/console', '/CONSOLE', '/Console', '/cOnSoLe']) expect((await fetch(`${cache.adminUrl}${path}`, { redirect: 'manual' })).status).toBe(301);
    for (const path of ['/token', '/TOKEN', '/Token']) await (await fetch(`${cache.dataUrl}${path}?service=x`)).arrayBuffer();
    const text = await metrics();
    const routes = new Set([...text.matchAll(/^pullthrough_http_request_duration_seconds_count\{[^}]*route="([^"]*)"/gm)].map((m) => m[1]!));
    expect([...routes].filter((r) => /console|token/i.test(r)).sort()).toEqual(['/console/', '/token/']);
    expect(sampleSum(text, 'pullthrough_http_request_duration_seconds_count', { plane: 'admin', route: '/console/', status: '301' })).toBe(4);
    expect(sampleSum(text, 'pullthrough_http_request_duration_seconds_count', { plane: 'data', route: '/token/' })).toBe(3);
  });
});
