import { createHash } from 'node:crypto';
import type { Digest } from '@pullthrough/oci';
import { waitUntil, type RedisServer } from '@pullthrough/test-support';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { sampleSum, scrape } from './prometheus-text.js';

// An image manifest fetched from the upstream (real docker-registry behind the counting proxy) starts
// its config's upstream GET before the client asks for any blob; the client's config request then gets
// that fetch's bytes: one upstream GET, the digest right (`cache`: layers not read ahead, so every
// other blob GET is the client's). With the default settings a request for one of its layers also
// starts the fetches of the next ones (`defaults`): still one GET per blob.

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';
let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;
let defaults: Cache;
const get = (path: string) => fetch(`${cache.dataUrl}${path}`, { headers: { accept: ACCEPT } });
const blobGets = (digest?: string) => upstream.proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET' && (digest === undefined || r.reference === digest));

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startUpstream()]);
  // No hydration job runs here: every upstream blob GET is the prefetch's or the client's.
  cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HYDRATION_DELAY_MS: '600000', PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: '0' });
  expect((await putRule(cache, { name: 'prefetch-rule', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'pf/*' })).status).toBe(201);
  defaults = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HYDRATION_DELAY_MS: '600000' });
  expect((await putRule(defaults, { name: 'ahead-rule', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'ahead/*' })).status).toBe(201);
}, 120_000);
afterAll(async () => {
  await cache?.stop();
  await defaults?.stop();
  await upstream?.stop();
  await redis?.stop();
});

test("a manifest miss fetches the image's config before the client asks; the client's config GET is served from it (one upstream GET); layers wait for the client", async () => {
  const f = upstream.fixtures.multiLayer;
  const manifestRes = await get(`/v2/pf/multilayer/manifests/${f.tag}`);
  expect(manifestRes.status).toBe(200);
  expect(manifestRes.headers.get('x-cache')).toBe('miss');
  const manifest = (await manifestRes.json()) as { config: { digest: string; size: number }; layers: Array<{ digest: string }> };
  // No blob request from the client yet: the config's GET reaches the upstream anyway.
  await waitUntil(async () => blobGets(manifest.config.digest).length === 1, { what: 'the config prefetch at the upstream', timeoutMs: 10_000, intervalMs: 10 });
  expect(blobGets()).toHaveLength(1);

  const config = await get(`/v2/pf/multilayer/blobs/${manifest.config.digest}`);
  expect(config.status).toBe(200);
  const bytes = Buffer.from(await config.arrayBuffer());
  expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(manifest.config.digest);
  expect(bytes.length).toBe(manifest.config.size);
  expect(blobGets(manifest.config.digest)).toHaveLength(1);
  // Layers are not fetched ahead (PULLTHROUGH_BLOB_READ_AHEAD_LAYERS=0).
  expect(blobGets(manifest.layers[0]!.digest)).toHaveLength(0);
});

test('by default a request for a layer fetches the next 3 ahead of the client; the pull gets every blob right, each fetched from the upstream once', async () => {
  const f = upstream.fixtures.multiLayer;
  const pull = (path: string) => fetch(`${defaults.dataUrl}${path}`, { headers: { accept: ACCEPT } });
  upstream.proxy.reset();
  const manifestRes = await pull(`/v2/ahead/multilayer/manifests/${f.tag}`);
  expect(manifestRes.headers.get('x-cache')).toBe('miss');
  const manifest = (await manifestRes.json()) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
  expect(manifest.layers.length).toBeGreaterThan(4);
  const [first, second, third, fourth, fifth] = manifest.layers.map((l) => l.digest);
  // The manifest alone fetches the config, no layer.
  await waitUntil(async () => blobGets(manifest.config.digest).length === 1, { what: 'the config prefetch', timeoutMs: 10_000, intervalMs: 10 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(blobGets()).toHaveLength(1);

  // The client asks for layer 0: layers 1-3 reach the upstream before the client asks for them, layer 4 does not.
  const layer0 = await pull(`/v2/ahead/multilayer/blobs/${first}`);
  expect(`sha256:${createHash('sha256').update(Buffer.from(await layer0.arrayBuffer())).digest('hex')}`).toBe(first);
  await waitUntil(async () => [second!, third!, fourth!].every((d) => blobGets(d).length === 1), { what: 'layers 1-3 fetched ahead', timeoutMs: 10_000, intervalMs: 10 });
  expect(blobGets(fifth)).toHaveLength(0);
  // A layer read ahead waits at its kept first bytes for a client (5 s at most): the 3 MiB layer is not stored before it asks.
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(await defaults.frontend.registry.store.statBlob(third as Digest)).toBeUndefined();

  // The client pulls every blob, 2 at a time in the manifest's order (as clients do).
  const blobs = [manifest.config, ...manifest.layers];
  for (let i = 0; i < blobs.length; i += 2) {
    await Promise.all(
      blobs.slice(i, i + 2).map(async (blob) => {
        const res = await pull(`/v2/ahead/multilayer/blobs/${blob.digest}`);
        expect(res.status).toBe(200);
        expect(['miss', 'hit']).toContain(res.headers.get('x-cache'));
        const bytes = Buffer.from(await res.arrayBuffer());
        expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(blob.digest);
      }),
    );
  }
  for (const blob of blobs) expect(blobGets(blob.digest)).toHaveLength(1);
  // Layers 1-4 were read ahead, each asked for within its hold.
  const metrics = await scrape(`${defaults.adminUrl}/metrics`);
  expect(sampleSum(metrics, 'pullthrough_blob_read_ahead_total', { outcome: 'started' })).toBe(4);
  expect(sampleSum(metrics, 'pullthrough_blob_read_ahead_total', { outcome: 'unasked' })).toBe(0);
});

test('a HEAD of a manifest miss fetches the config ahead too; an index does not (each child manifest does, when it is pulled)', async () => {
  const f = upstream.fixtures.multiPlatform;
  const before = blobGets().length;
  const head = await fetch(`${cache.dataUrl}/v2/pf/multiplatform/manifests/${f.tag}`, { method: 'HEAD', headers: { accept: ACCEPT } });
  expect(head.status).toBe(200);
  // An index has no config: nothing is fetched ahead (given time to show itself).
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(blobGets()).toHaveLength(before);
  const index = (await (await get(`/v2/pf/multiplatform/manifests/${f.tag}`)).json()) as { manifests: Array<{ digest: string }> };
  const child = index.manifests[0]!.digest;
  const childHead = await fetch(`${cache.dataUrl}/v2/pf/multiplatform/manifests/${child}`, { method: 'HEAD', headers: { accept: ACCEPT } });
  expect(childHead.status).toBe(200);
  const childManifest = (await (await get(`/v2/pf/multiplatform/manifests/${child}`)).json()) as { config: { digest: string } };
  await waitUntil(async () => blobGets(childManifest.config.digest).length === 1, { what: "the child's config prefetch at the upstream", timeoutMs: 10_000, intervalMs: 10 });
  expect(blobGets()).toHaveLength(before + 1);
});
