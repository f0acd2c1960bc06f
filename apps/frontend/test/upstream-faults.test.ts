import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDigest } from '@pullthrough/oci';
import { faultFor, type RedisServer } from '@pullthrough/test-support';
import type { UpstreamStatus } from '@pullthrough/upstream';
import { admin, blobPath, manifestPath, metric, pull, sha256, sleep } from './fault-helpers.js';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

let redis: RedisServer;
let upstream: Upstream;
const caches: Cache[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
}, 120_000);
afterEach(async () => {
  upstream.proxy.setFault(null);
  await upstream.proxy.acceptConnections();
  await Promise.all(caches.splice(0).map((c) => c.stop()));
});
afterAll(async () => {
  await upstream?.stop();
  await redis?.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A fresh frontend (its own breakers) with the `faulty-up` rule: up/* -> <proxy>/fixtures/*. */
async function cacheWith(env: Record<string, string>, dataDir?: string): Promise<Cache> {
  // Neither the config nor layers are fetched ahead: each fault meets the blob request the test makes.
  const cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HYDRATION_DELAY_MS: '600000', PULLTHROUGH_PREFETCH_CONFIG: 'false', PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: '0', ...env }, {}, dataDir);
  caches.push(cache);
  const res = await putRule(cache, { name: 'faulty-up', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'up/*' });
  expect([200, 201]).toContain(res.status);
  upstream.proxy.reset();
  return cache;
}

const small = () => upstream.fixtures.small;
const layerOf = (name: 'small' | 'multiLayer') => upstream.fixtures[name].blobs.reduce((a, b) => (b.size > a.size ? b : a));

/** Pull the small image by tag: manifest and every blob; all must succeed. */
async function warmSmall(cache: Cache): Promise<void> {
  const m = await pull(cache, manifestPath('up/small', 'v1'));
  expect(m.status).toBe(200);
  for (const blob of small().blobs) {
    const b = await pull(cache, blobPath('up/small', blob.digest));
    expect(b.status).toBe(200);
    expect(sha256(b.body)).toBe(blob.digest);
  }
}

describe('serve-stale: a warmed image survives a broken upstream', () => {
  test('403, then 503, then connection refused: pulls by tag and by digest succeed, tags marked stale with the reason', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pullthrough-stale-'));
    dirs.push(dataDir);
    const env = { PULLTHROUGH_TAG_FRESHNESS_SECONDS: '0', PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: '3', PULLTHROUGH_BREAKER_RESET_TIMEOUT_MS: '60000' };
    const cache = await cacheWith(env, dataDir);
    await warmSmall(cache);
    upstream.proxy.reset();

    const pullAll = async (expectReason: RegExp) => {
      const byTag = await pull(cache2 ?? cache, manifestPath('up/small', 'v1'));
      expect(byTag.status).toBe(200);
      expect(sha256(byTag.body)).toBe(small().digest);
      expect(byTag.headers.get('x-cache')).toBe('stale');
      expect(byTag.headers.get('x-cache-stale-reason')).toMatch(expectReason);
      const byDigest = await pull(cache2 ?? cache, manifestPath('up/small', small().digest));
      expect(byDigest.status).toBe(200);
      expect(byDigest.headers.get('x-cache')).toBe('hit');
      for (const blob of small().blobs) {
        const b = await pull(cache2 ?? cache, blobPath('up/small', blob.digest));
        expect(b.status).toBe(200);
        expect(sha256(b.body)).toBe(blob.digest);
      }
    };
    let cache2: Cache | undefined;

    // A broken credential (401/403) for a tag held locally: an answer, served stale, never a breaker failure.
    upstream.proxy.setFault({ status: 403, body: '{"errors":[{"code":"DENIED","message":"token revoked"}]}' });
    await pullAll(/^upstream-auth: /);
    upstream.proxy.setFault({ status: 401, body: '{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}' });
    await pullAll(/^upstream-auth: /);
    expect((await admin<{ upstreams: UpstreamStatus[] }>(cache, '/api/v1/upstreams')).upstreams[0]).toMatchObject({ state: 'closed', totals: { failures: 0 } });

    upstream.proxy.setFault({ status: 503 });
    await pullAll(/^upstream-unavailable: .*503/);
    // Digest references and blobs held locally never reach the upstream: only the tag HEADs did.
    expect(upstream.proxy.requests.every((r) => r.kind === 'manifest' && r.method === 'HEAD' && r.reference === 'v1')).toBe(true);
    // The earlier 403/401 answers count as successes in the rolling window: pull until the 503s outweigh them.
    for (let i = 0; i < 10 && (await admin<{ upstreams: UpstreamStatus[] }>(cache, '/api/v1/upstreams')).upstreams[0]!.state !== 'open'; i++) {
      await pullAll(/^upstream-unavailable: /);
    }
    const status = (await admin<{ upstreams: UpstreamStatus[] }>(cache, '/api/v1/upstreams')).upstreams;
    expect(status).toEqual([expect.objectContaining({ upstream: upstream.proxy.host, state: 'open', openUntil: expect.any(String), lastFailure: 'upstream answered 503' })]);
    await pullAll(/^upstream-unavailable: circuit breaker .* is open/);
    expect(await metric(cache, `pullthrough_upstream_breaker_state{upstream="${upstream.proxy.host}"}`)).toBe(2);
    expect(await metric(cache, 'pullthrough_cache_requests_total{rule="faulty-up",cache="stale"}')).toBeGreaterThanOrEqual(6);

    // Connection refused, seen by a fresh frontend (closed breaker) on the same data.
    upstream.proxy.setFault(null);
    await upstream.proxy.refuseConnections();
    cache2 = await cacheWith(env, dataDir);
    await pullAll(/^upstream-unavailable: .*(connect|network|closed|refused)/i);
  }, 60_000);
});

describe('an uncached image against a 503 upstream', () => {
  test('for 10 s of repeated pulls the upstream sees at most volume threshold + one probe per reset window; the client fails fast with Retry-After', async () => {
    const volume = 3;
    const resetMs = 2000;
    const cache = await cacheWith({
      PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: String(volume),
      PULLTHROUGH_BREAKER_RESET_TIMEOUT_MS: String(resetMs),
      PULLTHROUGH_BREAKER_ROLLING_WINDOW_MS: '10000',
    });
    upstream.proxy.setFault({ status: 503 });
    const started = Date.now();
    let pulls = 0;
    let refused: Awaited<ReturnType<typeof pull>> | undefined;
    while (Date.now() - started < 10_000) {
      const res = await pull(cache, manifestPath('up/multilayer', 'v1'));
      pulls++;
      expect(res.status).toBe(503);
      expect(res.error).toMatchObject({ code: 'UNAVAILABLE', detail: expect.objectContaining({ rule: 'faulty-up', category: 'upstream-unavailable' }) });
      if (res.error!.detail!.reason === 'circuit breaker open') refused = res;
      await sleep(50);
    }
    const seen = upstream.proxy.count();
    const bound = volume + Math.ceil(10_000 / resetMs);
    console.log(`503 upstream: ${pulls} client pulls in 10 s, ${seen} reached the upstream (bound ${bound})`);
    expect(pulls).toBeGreaterThan(bound * 3);
    expect(seen).toBeGreaterThanOrEqual(volume);
    expect(seen).toBeLessThanOrEqual(bound);
    expect(refused).toBeDefined();
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused!.error!.message).toMatch(/circuit breaker for upstream .* is open/);
    expect(refused!.error!.detail).toMatchObject({ rule: 'faulty-up', lastFailure: 'upstream answered 503' });
  }, 30_000);
});

describe('429 with Retry-After: 5', () => {
  test('no upstream request for 5 s, TOOMANYREQUESTS meanwhile; rate-limit headers exposed per upstream', async () => {
    const cache = await cacheWith({ PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: '20' });
    let throttled = false;
    upstream.proxy.setFault(() => {
      if (throttled) return null;
      throttled = true;
      return { status: 429, headers: { 'Retry-After': '5', 'RateLimit-Limit': '100;w=21600', 'RateLimit-Remaining': '0;w=21600' } };
    });
    const first = await pull(cache, manifestPath('up/docker', 'v1'));
    const at = Date.now();
    expect(first.status).toBe(429);
    expect(first.error!.code).toBe('TOOMANYREQUESTS');
    expect(first.headers.get('retry-after')).toBe('5');
    const { upstreams } = await admin<{ upstreams: UpstreamStatus[] }>(cache, '/api/v1/upstreams');
    expect(upstreams[0]!.rateLimit).toMatchObject({ limit: 100, remaining: 0, windowSeconds: 21600, headroom: 0, retryAfterUntil: expect.any(String) });
    expect(await metric(cache, `pullthrough_upstream_ratelimit_remaining{upstream="${upstream.proxy.host}"}`)).toBe(0);
    const health = await admin<{ state: string; rateLimit: { headroom: number }; lastFailure: { category: string } }>(cache, '/api/v1/cache-rules/faulty-up/health');
    expect(health).toMatchObject({ state: 'failing', rateLimit: { limit: 100, remaining: 0, headroom: 0 }, lastFailure: { category: 'upstream-throttled' } });

    let tries = 0;
    while (Date.now() - at < 4500) {
      const res = await pull(cache, manifestPath('up/docker', 'v1'));
      tries++;
      expect(res.status).toBe(429);
      expect(res.error).toMatchObject({ code: 'TOOMANYREQUESTS', detail: expect.objectContaining({ rule: 'faulty-up' }) });
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      await sleep(200);
    }
    expect(tries).toBeGreaterThan(5);
    expect(upstream.proxy.count()).toBe(1);
    await sleep(Math.max(0, 5200 - (Date.now() - at)));
    const after = await pull(cache, manifestPath('up/docker', 'v1'));
    expect(after.status).toBe(200);
    expect(upstream.proxy.count()).toBeGreaterThan(1);
  }, 30_000);
});

describe('mid-stream failures of a blob miss', () => {
  test.each([
    ['reset', { kind: 'reset' as const }],
    ['truncation', { kind: 'truncate' as const }],
    ['slow upstream (idle timeout)', { kind: 'trickle' as const, bytesPerTick: 1, tickMs: 1500 }],
  ])('%s: the client gets an error, nothing partial is stored, the next pull succeeds', async (_what, fault) => {
    const cache = await cacheWith({ PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS: '500', PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: '20' });
    const layer = layerOf('multiLayer');
    expect((await pull(cache, manifestPath('up/multilayer', 'v1'))).status).toBe(200);
    upstream.proxy.setFault(faultFor({ kind: 'blob' }, fault));
    const broken = await pull(cache, blobPath('up/multilayer', layer.digest));
    // Never a complete-looking 200: either an error status or a body cut short.
    expect(broken.status === 200 || broken.status === 0 ? broken.broken || broken.body.length < layer.size : broken.status >= 500).toBe(true);
    expect(broken.status === 200 && !broken.broken && sha256(broken.body) === layer.digest).toBe(false);
    await sleepUntilSettled(cache, layer.digest);
    expect(await cache.frontend.registry.store.statBlob(layer.digest)).toBeUndefined();
    const failures = (await admin<{ upstreams: UpstreamStatus[] }>(cache, '/api/v1/upstreams')).upstreams[0]!.totals.failures;
    expect(failures).toBe(1);

    upstream.proxy.setFault(null);
    upstream.proxy.reset();
    const ok = await pull(cache, blobPath('up/multilayer', layer.digest));
    expect(ok.status).toBe(200);
    expect(sha256(ok.body)).toBe(layer.digest);
    expect(ok.headers.get('x-cache')).toBe('miss');
    expect(upstream.proxy.count({ kind: 'blob', method: 'GET', reference: layer.digest })).toBe(1);
  }, 30_000);

  test('one flipped byte: no complete 200 with wrong content, nothing stored, counted; after the fault clears the pull succeeds', async () => {
    const cache = await cacheWith({});
    const layer = layerOf('small');
    expect((await pull(cache, manifestPath('up/small', 'v1'))).status).toBe(200);
    upstream.proxy.setFault(faultFor({ kind: 'blob' }, { kind: 'corrupt' }));
    const corrupt = await pull(cache, blobPath('up/small', layer.digest));
    expect(corrupt.status === 200 && !corrupt.broken).toBe(false);
    // Headers may have gone out with the first chunk (then the connection is cut), or not (then an OCI error).
    if (corrupt.status !== 200 && corrupt.status !== 0) expect(corrupt).toMatchObject({ status: 502, error: { code: 'DIGEST_INVALID' } });
    expect(corrupt.body.length).toBeLessThan(layer.size);
    await sleepUntilSettled(cache, layer.digest);
    expect(await cache.frontend.registry.store.statBlob(layer.digest)).toBeUndefined();
    expect(await metric(cache, 'pullthrough_digest_mismatches_total{rule="faulty-up"}')).toBe(1);
    expect(await metric(cache, 'pullthrough_cache_failures_total{rule="faulty-up",category="digest-mismatch"}')).toBe(1);

    upstream.proxy.setFault(null);
    const ok = await pull(cache, blobPath('up/small', layer.digest));
    expect(ok.status).toBe(200);
    expect(sha256(ok.body)).toBe(layer.digest);
    // The client has every verified byte before the commit (fsync + link) finishes.
    await sleepUntilSettled(cache, layer.digest);
    expect((await cache.frontend.registry.store.statBlob(layer.digest))?.size).toBe(layer.size);
  }, 30_000);
});

/** Wait until no fetch of `digest` is in flight (the failed one has cleaned up). */
async function sleepUntilSettled(cache: Cache, digest: string): Promise<void> {
  const d = parseDigest(digest);
  for (let i = 0; i < 100 && cache.frontend.registry.blobs.isInFlight(d); i++) await sleep(50);
  expect(cache.frontend.registry.blobs.isInFlight(d)).toBe(false);
}
