import type { Digest } from '@pullthrough/oci';
import { faultFor, type RedisServer } from '@pullthrough/test-support';
import { manifestPath, pull, sha256, sleep } from './fault-helpers.js';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;
/** Two child manifests of the multi-platform fixture: the tag `moving` is pointed at one, then the other. */
let children: Array<{ digest: string; mediaType: string; bytes: Buffer }>;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  children = [];
  for (const child of upstream.fixtures.multiPlatform.manifests!.slice(0, 2)) {
    const res = await fetch(`${upstream.registry.url}/v2/fixtures/multiplatform/manifests/${child.digest}`, { headers: { accept: child.mediaType } });
    children.push({ digest: child.digest, mediaType: child.mediaType, bytes: Buffer.from(await res.arrayBuffer()) });
  }
  await moveTag(0);
  cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HYDRATION_DELAY_MS: '600000', PULLTHROUGH_TAG_FRESHNESS_SECONDS: '300' });
  const rule = (name: string, target: string, extra: Record<string, unknown>) =>
    putRule(cache, { name, sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: `${target}/*`, ...extra });
  expect((await rule('window-two', 'two', { tagFreshnessSeconds: 2 })).status).toBe(201);
  expect((await rule('window-zero', 'zero', { tagFreshnessSeconds: 0 })).status).toBe(201);
  expect((await rule('keep-local', 'keep', { tagFreshnessSeconds: 0, upstreamTagNotFound: 'serve-local' })).status).toBe(201);
}, 120_000);
afterAll(async () => {
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
});
afterEach(() => upstream.proxy.setFault(null));

/** Point the upstream tag `moving` at child `i` (a PUT straight to the registry, not through the proxy). */
async function moveTag(i: number): Promise<void> {
  const child = children[i]!;
  const res = await fetch(`${upstream.registry.url}/v2/fixtures/multiplatform/manifests/moving`, {
    method: 'PUT',
    headers: { 'content-type': child.mediaType },
    body: child.bytes,
  });
  expect(res.status).toBe(201);
}

const digestOf = async (target: string) => {
  const res = await pull(cache, manifestPath(`${target}/multiplatform`, 'moving'));
  expect(res.status).toBe(200);
  expect(sha256(res.body)).toBe(res.headers.get('docker-content-digest'));
  return { digest: res.headers.get('docker-content-digest'), cache: res.headers.get('x-cache') };
};

test('a moved tag: inside the rule window the old digest, after it the new one (revalidated with HEAD)', async () => {
  await moveTag(0);
  expect(await digestOf('two')).toEqual({ digest: children[0]!.digest, cache: 'miss' });
  const pulledAt = Date.now();
  await moveTag(1);
  upstream.proxy.reset();
  expect(await digestOf('two')).toEqual({ digest: children[0]!.digest, cache: 'hit' });
  expect(upstream.proxy.count()).toBe(0);
  await sleep(Math.max(0, 2100 - (Date.now() - pulledAt)));
  expect(await digestOf('two')).toEqual({ digest: children[1]!.digest, cache: 'miss' });
  expect(upstream.proxy.count({ kind: 'manifest', method: 'HEAD', reference: 'moving' })).toBe(1);
  // Unchanged upstream after the window: HEAD only, no GET.
  await sleep(2100);
  upstream.proxy.reset();
  expect(await digestOf('two')).toEqual({ digest: children[1]!.digest, cache: 'revalidated' });
  expect(upstream.proxy.requests.map((r) => `${r.method} ${r.kind}`)).toEqual(['HEAD manifest']);
}, 30_000);

test('window 0: every pull revalidates, a moved tag is seen immediately; digest references are never revalidated', async () => {
  await moveTag(0);
  expect(await digestOf('zero')).toEqual({ digest: children[0]!.digest, cache: 'miss' });
  await moveTag(1);
  expect(await digestOf('zero')).toEqual({ digest: children[1]!.digest, cache: 'miss' });
  expect(await digestOf('zero')).toEqual({ digest: children[1]!.digest, cache: 'revalidated' });
  upstream.proxy.reset();
  const byDigest = await pull(cache, manifestPath('zero/multiplatform', children[0]!.digest));
  expect(byDigest.headers.get('x-cache')).toBe('hit');
  expect(upstream.proxy.count()).toBe(0);
});

test('an upstream 404 for a tag held locally: reported missing by default, served stale with serve-local', async () => {
  await moveTag(0);
  expect((await digestOf('zero')).digest).toBe(children[0]!.digest);
  expect((await digestOf('keep')).digest).toBe(children[0]!.digest);
  upstream.proxy.setFault(faultFor({ kind: 'manifest', reference: 'moving' }, { status: 404, body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"gone"}]}' }));
  const missing = await pull(cache, manifestPath('zero/multiplatform', 'moving'));
  expect(missing.status).toBe(404);
  expect(missing.error).toMatchObject({ code: 'MANIFEST_UNKNOWN', detail: expect.objectContaining({ rule: 'window-zero' }) });
  const kept = await pull(cache, manifestPath('keep/multiplatform', 'moving'));
  expect(kept.status).toBe(200);
  expect(kept.headers.get('docker-content-digest')).toBe(children[0]!.digest);
  expect(kept.headers.get('x-cache')).toBe('stale');
  expect(kept.headers.get('x-cache-stale-reason')).toMatch(/^upstream-not-found: /);
});

test('rule fields are validated by the admin API with field messages', async () => {
  const res = await putRule(cache, {
    name: 'bad-fields',
    sourceRepository: `${upstream.proxy.host}/fixtures/*`,
    targetRepository: 'bad/*',
    tagFreshnessSeconds: -5,
    upstreamTagNotFound: 'ignore',
  });
  expect(res.status).toBe(422);
  const body = (await res.json()) as { errors: Array<{ field: string; message: string }> };
  expect(body.errors.map((e) => e.field).sort()).toEqual(['tagFreshnessSeconds', 'upstreamTagNotFound']);
});

test('scale-out: a tag another frontend moved is seen within PULLTHROUGH_TAG_CACHE_MS (at once with 0); each answer comes from memory meanwhile', async () => {
  expect(
    (await putRule(cache, { name: 'window-long', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'long/*', tagFreshnessSeconds: 300 })).status,
  ).toBe(201);
  await moveTag(0);
  const repo = 'long/multiplatform';
  expect(await digestOf('long')).toEqual({ digest: children[0]!.digest, cache: 'miss' });
  // Two more frontends on the same storage (started after the rule exists, so they load it).
  const env = { PULLTHROUGH_HYDRATION_DELAY_MS: '600000' };
  const held = await startCache(redis, [upstream.proxy.host], { ...env, PULLTHROUGH_TAG_CACHE_MS: '3000' }, {}, cache.dataDir);
  const uncached = await startCache(redis, [upstream.proxy.host], { ...env, PULLTHROUGH_TAG_CACHE_MS: '0' }, {}, cache.dataDir);
  try {
    const tagOn = async (c: Cache) => (await pull(c, manifestPath(repo, 'moving'))).headers.get('docker-content-digest');
    expect(await tagOn(held)).toBe(children[0]!.digest);
    const readAt = Date.now();
    // The first frontend moves the local tag (as a revalidation that found a new digest would).
    expect((await pull(cache, manifestPath(repo, children[1]!.digest))).status).toBe(200);
    await cache.frontend.registry.store.putTag(repo, 'moving', children[1]!.digest as Digest);
    upstream.proxy.reset();
    expect(await tagOn(uncached)).toBe(children[1]!.digest);
    if (Date.now() - readAt < 2500) expect(await tagOn(held)).toBe(children[0]!.digest);
    await sleep(Math.max(0, 3100 - (Date.now() - readAt)));
    expect(await tagOn(held)).toBe(children[1]!.digest);
    expect(upstream.proxy.count()).toBe(0); // inside the freshness window: nobody asked the upstream
  } finally {
    await held.stop();
    await uncached.stop();
  }
}, 60_000);
