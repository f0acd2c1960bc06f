import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '@pullthrough/oci';
import { azureBlobDriverFrom, blobDataPath, type AzureBlobDriver } from '@pullthrough/storage';
import { skopeoCopy, startAzurite, tempDir, type Azurite, type RedisServer } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { startHydratorProcess, type HydratorProcess } from './hydrator-process.js';

// The pull-through and hydration paths with the whole store in one Azure Blob container (Azurite):
// the in-process frontend and the built hydrator process share the container, nothing else.

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
const FIXTURES = ['small', 'multiLayer', 'multiPlatform', 'docker'] as const;
type FixtureName = (typeof FIXTURES)[number] | 'artifact';

let redis: RedisServer;
let upstream: Upstream;
let azurite: Azurite;
let cache: Cache;
let hydrator: HydratorProcess;
let container: AzureBlobDriver['container'];
let storageEnv: Record<string, string>;

beforeAll(async () => {
  [redis, upstream, azurite] = await Promise.all([startRedis(), startUpstream(), startAzurite()]);
  storageEnv = {
    PULLTHROUGH_STORAGE: 'azure-blob',
    PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: azurite.connectionString,
    PULLTHROUGH_AZURE_BLOB_CONTAINER: azurite.uniqueContainer(),
  };
  cache = await startCacheOnAzure();
  hydrator = await startHydratorProcess({
    ...storageEnv,
    // The hydrator's data dir holds nothing of the store: an empty one of its own is enough.
    PULLTHROUGH_DATA_DIR: join(cache.dataDir, 'hydrator'),
    REDIS_URL: redis.url,
    PULLTHROUGH_QUEUE_PREFIX: cache.queuePrefix,
    PULLTHROUGH_INSECURE_UPSTREAMS: upstream.proxy.host,
  });
  expect((await putRule(cache, { name: 'azure-pulls', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'az/*' })).status).toBe(201);
  expect((await putRule(cache, { name: 'azure-hydrations', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'azhy/*', platforms: 'all' })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  await hydrator?.stop();
  await cache?.stop();
  await Promise.all([upstream?.stop(), redis?.stop(), azurite?.stop()]);
});

/** The cache on Azure Blob storage; the container is created first (the operator's job in production). */
async function startCacheOnAzure(): Promise<Cache> {
  const driver = azureBlobDriverFrom({ ...storageEnv, PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_DATA_DIR: '', PULLTHROUGH_AZURE_CREDENTIAL: 'default' });
  await driver.ensureContainer();
  container = driver.container;
  // A short hydration delay: the job starts right after the manifest pull that enqueues it.
  return startCache(redis, [upstream.proxy.host], { ...storageEnv, PULLTHROUGH_HYDRATION_DELAY_MS: '100' });
}

const downstream = (prefix: string, name: FixtureName) => `${prefix}/${upstream.fixtures[name].repository.replace(/^fixtures\//, '')}`;

async function pullWithSkopeo(repository: string, tag: string, all: boolean) {
  const dir = await tempDir('pulled-');
  await skopeoCopy([...(all ? ['--all'] : []), '--src-tls-verify=false', '--src-no-creds', `docker://${cache.host}/${repository}:${tag}`, `dir:${dir.path}`]);
  return dir;
}

async function blobNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat()) names.push(blob.name);
  return names;
}

describe('pull through on Azure Blob storage', () => {
  test.each(FIXTURES)('%s: digests equal the upstream, blobs land in the container, a second pull never touches the upstream', async (name) => {
    const f = upstream.fixtures[name];
    const all = name === 'multiPlatform';
    const first = await pullWithSkopeo(downstream('az', name), f.tag, all);
    try {
      expect(sha256(await readFile(join(first.path, 'manifest.json')))).toBe(f.digest);
      const files = await readdir(first.path);
      for (const blob of f.blobs) {
        const hex = blob.digest.slice('sha256:'.length);
        expect(files).toContain(hex);
        expect(sha256(await readFile(join(first.path, hex)))).toBe(blob.digest);
      }
    } finally {
      await first.remove();
    }
    expect(upstream.proxy.count({ repository: f.repository, kind: 'manifest', method: 'GET' })).toBeGreaterThan(0);
    // Clients get their last verified bytes before the commit lands: let the commits finish.
    await cache.frontend.registry.blobs.settle();
    // Every blob is a committed object at its content address in the container, with its size...
    const names = await blobNames();
    for (const blob of f.blobs) {
      expect(names).toContain(blobDataPath(blob.digest as Digest));
      expect((await container.getBlobClient(blobDataPath(blob.digest as Digest)).getProperties()).contentLength).toBe(blob.size);
    }
    // ...and nothing is left in the uploads area, nor written to the local data dir.
    expect(names.filter((n) => n.startsWith('_uploads/'))).toEqual([]);
    expect((await readdir(cache.dataDir)).filter((e) => e !== 'hydrator')).toEqual([]);

    upstream.proxy.reset();
    const second = await pullWithSkopeo(downstream('az', name), f.tag, all);
    await second.remove();
    expect(upstream.proxy.requests.length).toBe(0);
  }, 60_000);

  test('a range of a local blob is served from the container', async () => {
    const f = upstream.fixtures.multiLayer;
    const layer = f.blobs.reduce((a, b) => (b.size > a.size ? b : a));
    const whole = await (await fetch(`${cache.dataUrl}/v2/${downstream('az', 'multiLayer')}/blobs/${layer.digest}`)).arrayBuffer();
    expect(sha256(Buffer.from(whole))).toBe(layer.digest);
    upstream.proxy.reset();
    const res = await fetch(`${cache.dataUrl}/v2/${downstream('az', 'multiLayer')}/blobs/${layer.digest}`, { headers: { range: 'bytes=10-99' } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(whole).subarray(10, 100))).toBe(true);
    const past = await fetch(`${cache.dataUrl}/v2/${downstream('az', 'multiLayer')}/blobs/${layer.digest}`, { headers: { range: `bytes=${layer.size}-` } });
    expect(past.status).toBe(416);
    await past.arrayBuffer();
    expect(upstream.proxy.requests.length).toBe(0);
  });
});

describe('hydration on Azure Blob storage', () => {
  test('a manifest pull enqueues a job; the hydrator process makes every platform local in the shared container', async () => {
    const f = upstream.fixtures.multiPlatform;
    const repo = downstream('azhy', 'multiPlatform');
    upstream.proxy.reset();
    const pull = await fetch(`${cache.dataUrl}/v2/${repo}/manifests/${f.tag}`, { headers: { accept: ACCEPT } });
    expect(pull.status).toBe(200);
    await pull.arrayBuffer();
    await cache.frontend.enqueuer.settle();
    const res = await fetch(`${cache.adminUrl}/api/v1/hydrations?repository=${repo}&reference=${f.tag}&wait=60`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ repository: repo, digest: f.digest, state: 'hydrated' });
    // The frontend reads what the hydrator wrote: the same container.
    const store = cache.frontend.registry.store;
    for (const blob of f.blobs) expect((await store.statRepositoryBlob(repo, blob.digest as Digest))?.size).toBe(blob.size);
    // Fully local: a whole pull of every platform never reaches the upstream.
    upstream.proxy.reset();
    const pulled = await pullWithSkopeo(repo, f.tag, true);
    try {
      expect(sha256(await readFile(join(pulled.path, 'manifest.json')))).toBe(f.digest);
    } finally {
      await pulled.remove();
    }
    expect(upstream.proxy.requests.length).toBe(0);
  }, 90_000);
});

describe('local blobs by a 307 to a read-only SAS URL (PULLTHROUGH_AZURE_BLOB_REDIRECT_SECONDS)', () => {
  let redirecting: Cache;
  beforeAll(async () => {
    // A second frontend on the same container (and so the same rules), with redirects on.
    redirecting = await startCache(redis, [upstream.proxy.host], { ...storageEnv, PULLTHROUGH_AZURE_BLOB_REDIRECT_SECONDS: '60' });
  }, 60_000);
  afterAll(async () => {
    await redirecting?.stop();
  });

  test('a local blob redirects to its blob in the container; the URL reads it (and ranges) but cannot write', async () => {
    const f = upstream.fixtures.multiLayer;
    const layer = f.blobs.reduce((a, b) => (b.size > a.size ? b : a));
    upstream.proxy.reset();
    const res = await fetch(`${redirecting.dataUrl}/v2/${downstream('az', 'multiLayer')}/blobs/${layer.digest}`, { redirect: 'manual' });
    expect(res.status).toBe(307);
    expect(res.headers.get('docker-content-digest')).toBe(layer.digest);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(`${azurite.accountUrl}/${storageEnv.PULLTHROUGH_AZURE_BLOB_CONTAINER}/${blobDataPath(layer.digest as Digest)}`);
    expect(location.searchParams.get('sp')).toBe('r');
    expect(Date.parse(location.searchParams.get('se')!)).toBeLessThanOrEqual(Date.now() + 61_000);

    const whole = Buffer.from(await (await fetch(location)).arrayBuffer());
    expect(sha256(whole)).toBe(layer.digest);
    const ranged = await fetch(location, { headers: { range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(whole.subarray(100, 200))).toBe(true);
    const write = await fetch(location, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'overwritten' });
    expect(write.status).toBe(403);
    await write.arrayBuffer();
    expect(sha256(Buffer.from(await (await fetch(location)).arrayBuffer()))).toBe(layer.digest);

    // HEAD is answered by the frontend itself.
    const head = await fetch(`${redirecting.dataUrl}/v2/${downstream('az', 'multiLayer')}/blobs/${layer.digest}`, { method: 'HEAD', redirect: 'manual' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(layer.size));
    expect(upstream.proxy.requests.length).toBe(0);
  });

  test('skopeo follows the redirects: digests intact, no upstream request', async () => {
    const f = upstream.fixtures.multiPlatform;
    upstream.proxy.reset();
    const dir = await tempDir('pulled-');
    try {
      await skopeoCopy(['--all', '--src-tls-verify=false', '--src-no-creds', `docker://${redirecting.host}/${downstream('az', 'multiPlatform')}:${f.tag}`, `dir:${dir.path}`]);
      expect(sha256(await readFile(join(dir.path, 'manifest.json')))).toBe(f.digest);
      for (const blob of f.blobs) expect(sha256(await readFile(join(dir.path, blob.digest.slice('sha256:'.length))))).toBe(blob.digest);
    } finally {
      await dir.remove();
    }
    expect(upstream.proxy.requests.length).toBe(0);
  });

  test('a blob that is not local yet is streamed by the frontend (a miss), not redirected', async () => {
    const f = upstream.fixtures.artifact;
    const blob = f.blobs[0]!;
    const res = await fetch(`${redirecting.dataUrl}/v2/${downstream('az', 'artifact')}/blobs/${blob.digest}`, { redirect: 'manual' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-cache')).toBe('miss');
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(blob.digest);
  });
});
