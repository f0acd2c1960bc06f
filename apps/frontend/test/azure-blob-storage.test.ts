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

const downstream = (prefix: string, name: (typeof FIXTURES)[number]) => `${prefix}/${upstream.fixtures[name].repository.replace(/^fixtures\//, '')}`;

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
