import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOf, MediaType, type Digest } from '@pullthrough/oci';
import { pseudoRandomBytes, registryClientFor, tempDir, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

// Per-repository blob visibility against real registries (issue 10). `u1/*` and `alias/*` map to an
// anonymous docker-registry; `u2/*` to a second one behind Basic auth, with a credential set; `u3/*`
// to that same private registry without credentials. A blob is served for a repository only when that
// repository's upstream, asked with its rule's credentials, served it or confirmed it.

const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

let redis: RedisServer;
let work: TempDir;
let pub: Upstream;
let priv: Upstream;
let cache: Cache;
/** A layer that exists only in the private registry's `secret/app`. */
let privateLayer: { digest: Digest; bytes: Buffer };

interface Pushed {
  digest: Digest;
  bytes: Buffer;
}

/** Push `bytes` as a blob into each repository (through the registry itself, not the counting proxy). */
async function pushBlob(upstream: Upstream, bytes: Buffer, ...repositories: string[]): Promise<Pushed> {
  const client = registryClientFor(upstream.registry);
  for (const repository of repositories) await client.pushBlob(repository, bytes);
  return { digest: digestOf(bytes), bytes };
}

/** Push an image: a config and `layers` (already pushed to `repository`), tagged v1. */
async function pushImage(upstream: Upstream, repository: string, layers: Array<{ digest: Digest; size: number }>): Promise<Digest> {
  const config = await pushBlob(upstream, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', repository })), repository);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.bytes.length },
    layers: layers.map((l) => ({ mediaType: LAYER, digest: l.digest, size: l.size })),
  };
  return registryClientFor(upstream.registry).pushManifest(repository, 'v1', Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest);
}

const data = (path: string, init: RequestInit = {}) => fetch(`${cache.dataUrl}/v2/${path}`, init);
const blob = (repository: string, digest: Digest, init: RequestInit = {}) => data(`${repository}/blobs/${digest}`, init);

async function errorCode(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { errors?: Array<{ code: string }> };
  return body.errors?.[0]?.code;
}

/** Every repository whose `_layers` hold a link for `digest`, from the data dir itself. */
async function linkedRepositories(digest: Digest): Promise<string[]> {
  const root = join(cache.dataDir, 'repositories');
  const suffix = `/_layers/sha256/${digest.slice('sha256:'.length)}/link`;
  const files = await readdir(root, { recursive: true, withFileTypes: true });
  return files
    .filter((e) => e.isFile())
    .map((e) => `${join(e.parentPath, e.name).slice(root.length + 1)}`)
    .filter((p) => p.endsWith(suffix))
    .map((p) => p.slice(0, -suffix.length))
    .sort();
}

beforeAll(async () => {
  redis = await startRedis();
  work = await tempDir('visibility-');
  [pub, priv] = await Promise.all([startUpstream(), startUpstream({ auth: 'basic' })]);
  const secretBytes = pseudoRandomBytes(200_000, `private layer ${Date.now()}`);
  privateLayer = await pushBlob(priv, secretBytes, 'secret/app');
  await pushImage(priv, 'secret/app', [{ digest: privateLayer.digest, size: secretBytes.length }]);
  const rules = join(work.path, 'rules.yaml');
  await writeFile(
    rules,
    [
      'credentialSets:',
      '  - name: private-login',
      `    loginServer: ${priv.proxy.host}`,
      '    authCredentials:',
      '      - usernameSecretIdentifier: env:PULLTHROUGH_SECRET_PRIVATE_USER',
      '        passwordSecretIdentifier: env:PULLTHROUGH_SECRET_PRIVATE_PASSWORD',
      'cacheRules:',
      '  - name: public-u1',
      `    sourceRepository: ${pub.proxy.host}/*`,
      '    targetRepository: u1/*',
      '  - name: public-alias',
      `    sourceRepository: ${pub.proxy.host}/*`,
      '    targetRepository: alias/*',
      '  - name: private-u2',
      `    sourceRepository: ${priv.proxy.host}/*`,
      '    targetRepository: u2/*',
      '    credentialSetName: private-login',
      // Client authentication is client-auth.test.ts's subject; here every client is anonymous.
      '    anonymousPull: true',
      '  - name: private-without-credentials',
      `    sourceRepository: ${priv.proxy.host}/*`,
      '    targetRepository: u3/*',
      '',
    ].join('\n'),
  );
  cache = await startCache(
    redis,
    [pub.proxy.host, priv.proxy.host],
    { PULLTHROUGH_RULES_FILE: rules },
    { PULLTHROUGH_SECRET_PRIVATE_USER: priv.registry.username!, PULLTHROUGH_SECRET_PRIVATE_PASSWORD: priv.registry.password! },
  );
}, 120_000);

afterAll(async () => {
  await cache?.stop();
  await Promise.all([pub?.stop(), priv?.stop()]);
  await work?.remove();
  await redis?.stop();
});

describe('a private layer pulled through u2', () => {
  beforeAll(async () => {
    const manifest = await data('u2/secret/app/manifests/v1', { headers: { accept: MediaType.OciManifest } });
    expect(manifest.status).toBe(200);
    const pulled = await blob('u2/secret/app', privateLayer.digest);
    expect(pulled.status).toBe(200);
    expect(digestOf(Buffer.from(await pulled.arrayBuffer()))).toBe(privateLayer.digest);
    await cache.frontend.registry.blobs.settle();
    pub.proxy.reset();
    priv.proxy.reset();
  }, 30_000);

  const elsewhere = ['u1/made-up-name', 'u1/fixtures/small', 'alias/fixtures/small', 'u3/secret/app'];

  test('a local repository (no rule) is never anonymous: GET, ranged GET and HEAD answer 401 and link nothing', async () => {
    for (const init of [{}, { headers: { range: 'bytes=0-' } }, { method: 'HEAD' }]) expect((await blob('local/made-up-name', privateLayer.digest, init)).status).toBe(401);
    expect(await cache.frontend.registry.store.isBlobLinked('local/made-up-name', privateLayer.digest)).toBe(false);
  });

  test.each(elsewhere)('is unknown under %s: GET, GET with Range: bytes=0-, HEAD answer 404 BLOB_UNKNOWN and link nothing', async (repository) => {
    const plain = await blob(repository, privateLayer.digest);
    expect(plain.status).toBe(404);
    expect(await errorCode(plain)).toBe('BLOB_UNKNOWN');
    const ranged = await blob(repository, privateLayer.digest, { headers: { range: 'bytes=0-' } });
    expect(ranged.status).toBe(404);
    expect(await errorCode(ranged)).toBe('BLOB_UNKNOWN');
    const head = await blob(repository, privateLayer.digest, { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect(await cache.frontend.registry.store.isBlobLinked(repository, privateLayer.digest)).toBe(false);
  });

  test('the cache asked only the upstreams of those repositories, never downloaded the layer again, and it stays linked to u2/secret/app alone', async () => {
    // u1/alias asked the public registry (404), u3 the private one without credentials (401): HEADs only.
    expect(pub.proxy.count({ kind: 'blob', method: 'HEAD', reference: privateLayer.digest })).toBe(9);
    expect(priv.proxy.count({ kind: 'blob', method: 'HEAD', reference: privateLayer.digest, status: 401 })).toBe(3);
    expect(pub.proxy.count({ kind: 'blob', method: 'GET' }) + priv.proxy.count({ kind: 'blob', method: 'GET' })).toBe(0);
    expect(priv.proxy.count({ status: 200 })).toBe(0);
    expect(await linkedRepositories(privateLayer.digest)).toEqual(['u2/secret/app']);
  });
});

describe('a blob shared by two repositories of the same upstream', () => {
  let shared: Pushed;
  beforeAll(async () => {
    shared = await pushBlob(pub, pseudoRandomBytes(150_000, 'shared layer'), 'shared/one', 'shared/two', 'shared/three');
    await pushImage(pub, 'shared/one', [{ digest: shared.digest, size: shared.bytes.length }]);
    expect((await data('u1/shared/one/manifests/v1', { headers: { accept: MediaType.OciManifest } })).status).toBe(200);
    const first = await blob('u1/shared/one', shared.digest);
    expect(Buffer.from(await first.arrayBuffer()).equals(shared.bytes)).toBe(true);
    await cache.frontend.registry.blobs.settle();
    expect(pub.proxy.count({ kind: 'blob', method: 'GET', reference: shared.digest })).toBe(1);
  }, 30_000);

  test('HEAD from the second repository: one upstream HEAD, no GET, the stored size, linked; its GET is then local', async () => {
    pub.proxy.reset();
    const head = await blob('u1/shared/two', shared.digest, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(shared.bytes.length));
    expect(head.headers.get('x-cache')).toBe('revalidated');
    expect(pub.proxy.count({ repository: 'shared/two', kind: 'blob', method: 'HEAD' })).toBe(1);
    expect(pub.proxy.count({ repository: 'shared/two', kind: 'blob', method: 'GET' })).toBe(0);
    expect(await cache.frontend.registry.store.isBlobLinked('u1/shared/two', shared.digest)).toBe(true);

    const got = await blob('u1/shared/two', shared.digest);
    expect(got.status).toBe(200);
    expect(got.headers.get('x-cache')).toBe('hit');
    expect(Buffer.from(await got.arrayBuffer()).equals(shared.bytes)).toBe(true);
    expect(pub.proxy.requests).toHaveLength(1);
  });

  test('a ranged GET from a third repository: confirmed by one upstream HEAD, served locally (206), linked', async () => {
    pub.proxy.reset();
    const got = await blob('u1/shared/three', shared.digest, { headers: { range: 'bytes=0-' } });
    expect(got.status).toBe(206);
    expect(got.headers.get('x-cache')).toBe('revalidated');
    expect(Buffer.from(await got.arrayBuffer()).equals(shared.bytes)).toBe(true);
    expect(pub.proxy.count({ repository: 'shared/three', kind: 'blob', method: 'HEAD' })).toBe(1);
    expect(pub.proxy.count({ kind: 'blob', method: 'GET' })).toBe(0);
    expect(await linkedRepositories(shared.digest)).toEqual(['u1/shared/one', 'u1/shared/three', 'u1/shared/two']);
  });
});

describe('concurrent misses of one digest', () => {
  afterEach(() => {
    pub.proxy.delayMs = 0;
  });

  async function herd(paths: Array<[string, Digest]>, expected: Buffer): Promise<void> {
    pub.proxy.delayMs = 300;
    const bodies = await Promise.all(paths.map(async ([repository, digest]) => Buffer.from(await (await blob(repository, digest)).arrayBuffer())));
    for (const body of bodies) expect(body.equals(expected)).toBe(true);
    await cache.frontend.registry.blobs.settle();
  }

  test('under two repositories: one upstream GET per upstream repository; each repository linked', async () => {
    const raced = await pushBlob(pub, pseudoRandomBytes(400_000, 'raced layer'), 'race/a', 'race/b');
    pub.proxy.reset();
    await herd([0, 1, 2, 3, 4, 5].map((i) => [i % 2 ? 'u1/race/b' : 'u1/race/a', raced.digest]), raced.bytes);
    expect(pub.proxy.count({ repository: 'race/a', kind: 'blob', method: 'GET' })).toBe(1);
    expect(pub.proxy.count({ repository: 'race/b', kind: 'blob', method: 'GET' })).toBe(1);
    expect(await linkedRepositories(raced.digest)).toEqual(['u1/race/a', 'u1/race/b']);
  });

  test('a herd of 20 on one repository: exactly one upstream GET', async () => {
    const herded = await pushBlob(pub, pseudoRandomBytes(400_000, 'herded layer'), 'herd/x');
    pub.proxy.reset();
    await herd(Array.from({ length: 20 }, () => ['u1/herd/x', herded.digest]), herded.bytes);
    expect(pub.proxy.count({ kind: 'blob', method: 'GET' })).toBe(1);
  });

  test('two rules onto the same upstream repository share one GET, and both downstream repositories are linked', async () => {
    const aliased = await pushBlob(pub, pseudoRandomBytes(400_000, 'aliased layer'), 'herd/y');
    pub.proxy.reset();
    await herd([0, 1, 2, 3].map((i) => [i % 2 ? 'alias/herd/y' : 'u1/herd/y', aliased.digest]), aliased.bytes);
    expect(pub.proxy.count({ kind: 'blob', method: 'GET' })).toBe(1);
    expect(await linkedRepositories(aliased.digest)).toEqual(['alias/herd/y', 'u1/herd/y']);
  });
});

describe('the descriptor cap', () => {
  test('an upstream manifest listing 4,097 layers is refused with 400 MANIFEST_INVALID and nothing is stored', async () => {
    const one = await pushBlob(pub, Buffer.from('one small layer'), 'many/layers');
    const config = await pushBlob(pub, Buffer.from('{"architecture":"amd64","os":"linux"}'), 'many/layers');
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.bytes.length },
        layers: Array.from({ length: 4097 }, () => ({ mediaType: LAYER, digest: one.digest, size: one.bytes.length })),
      }),
    );
    const digest = await registryClientFor(pub.registry).pushManifest('many/layers', 'v1', manifest, MediaType.OciManifest);
    const res = await data('u1/many/layers/manifests/v1', { headers: { accept: MediaType.OciManifest } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string; detail: Record<string, unknown> }> };
    expect(body.errors[0]).toMatchObject({
      code: 'MANIFEST_INVALID',
      message: 'manifest lists 4097 layers; at most 4096 are accepted',
      detail: { limit: 4096, rule: 'public-u1', upstream: `${pub.proxy.host}/many/layers` },
    });
    const store = cache.frontend.registry.store;
    expect(await store.getTag('u1/many/layers', 'v1')).toBeUndefined();
    expect(await store.getManifest('u1/many/layers', digest)).toBeUndefined();
    expect(await store.isBlobLinked('u1/many/layers', one.digest)).toBe(false);
    expect((await data('u1/many/layers/manifests/v1', { method: 'HEAD' })).status).toBe(400);
  });
});
