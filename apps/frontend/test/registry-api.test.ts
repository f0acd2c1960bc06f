import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'node:http';
import { MediaType } from '@pullthrough/oci';
import { registryClientFor, type RedisServer } from '@pullthrough/test-support';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const ALL_MANIFESTS = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest].join(', ');

let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  cache = await startCache(redis, [upstream.proxy.host]);
  expect((await putRule(cache, { name: 'fixtures-upstream', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'up/*' })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
});

const v2 = (path: string, init: RequestInit = {}) => fetch(`${cache.dataUrl}/v2/${path}`, init);
const errorCode = async (res: Response) => ((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code;

/** A GET with the path sent exactly as written (fetch would normalize `..` and `%2e%2e`). */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  const url = new URL(cache.dataUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('base and manifests', () => {
  test('GET /v2/ answers 200 with the API version header', async () => {
    const res = await v2('');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  test('HEAD and GET by tag and by digest carry digest, type, length and ETag; X-Cache says miss then hit', async () => {
    const f = upstream.fixtures.multiPlatform;
    const head = await v2('up/multiplatform/manifests/v1', { method: 'HEAD', headers: { accept: ALL_MANIFESTS } });
    expect(head.status).toBe(200);
    expect(head.headers.get('docker-content-digest')).toBe(f.digest);
    expect(head.headers.get('content-type')).toBe(MediaType.OciIndex);
    expect(head.headers.get('content-length')).toBe(String(f.manifest.length));
    expect(head.headers.get('etag')).toBe(`"${f.digest}"`);
    expect(head.headers.get('x-cache')).toBe('miss');
    const get = await v2(`up/multiplatform/manifests/${f.digest}`, { headers: { accept: ALL_MANIFESTS } });
    expect(get.status).toBe(200);
    expect(get.headers.get('x-cache')).toBe('hit');
    expect(Buffer.from(await get.arrayBuffer()).equals(f.manifest)).toBe(true);
    const cached = await v2(`up/multiplatform/manifests/${f.digest}`, { headers: { accept: ALL_MANIFESTS, 'if-none-match': `"${f.digest}"` } });
    expect(cached.status).toBe(304);
  });

  test('Accept negotiation: a Docker schema2 manifest is served as stored; a client that accepts only OCI gets MANIFEST_UNKNOWN, never a conversion', async () => {
    const f = upstream.fixtures.docker;
    const ok = await v2('up/docker/manifests/v1', { headers: { accept: MediaType.DockerManifest } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe(MediaType.DockerManifest);
    expect(sha256(Buffer.from(await ok.arrayBuffer()))).toBe(f.digest);
    const refused = await v2('up/docker/manifests/v1', { headers: { accept: MediaType.OciManifest } });
    expect(refused.status).toBe(404);
    expect(await errorCode(refused)).toBe('MANIFEST_UNKNOWN');
  });
});

describe('blobs', () => {
  test('GET streams the blob; single ranges answer 206 and unsatisfiable ones 416', async () => {
    const f = upstream.fixtures.multiLayer;
    await v2('up/multilayer/manifests/v1', { headers: { accept: ALL_MANIFESTS } });
    const big = [...f.blobs].sort((a, b) => b.size - a.size)[0]!;
    const full = await v2(`up/multilayer/blobs/${big.digest}`);
    expect(full.status).toBe(200);
    expect(full.headers.get('content-length')).toBe(String(big.size));
    const body = Buffer.from(await full.arrayBuffer());
    expect(sha256(body)).toBe(big.digest);

    const part = await v2(`up/multilayer/blobs/${big.digest}`, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${big.size}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(body.subarray(10, 20))).toBe(true);

    const suffix = await v2(`up/multilayer/blobs/${big.digest}`, { headers: { range: 'bytes=-5' } });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(body.subarray(big.size - 5))).toBe(true);

    const beyond = await v2(`up/multilayer/blobs/${big.digest}`, { headers: { range: `bytes=${big.size}-` } });
    expect(beyond.status).toBe(416);
    const multi = await v2(`up/multilayer/blobs/${big.digest}`, { headers: { range: 'bytes=0-1,4-5' } });
    expect(multi.status).toBe(416);

    const head = await v2(`up/multilayer/blobs/${big.digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(big.size));
    expect(head.headers.get('docker-content-digest')).toBe(big.digest);
  });

  test('a range request on an uncached blob fetches it once and serves the range', async () => {
    const f = upstream.fixtures.small;
    await v2('up/small/manifests/v1', { headers: { accept: ALL_MANIFESTS } });
    const layer = f.blobs[f.blobs.length - 1]!;
    upstream.proxy.reset();
    const part = await v2(`up/small/blobs/${layer.digest}`, { headers: { range: 'bytes=0-0' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 0-0/${layer.size}`);
    expect(upstream.proxy.count({ kind: 'blob', method: 'GET' })).toBe(1);
  });
});

describe('listing', () => {
  test('tags/list paginates with n/last and a Link header; _catalog lists local repositories', async () => {
    await v2('up/small/manifests/v1', { headers: { accept: ALL_MANIFESTS } });
    const tags = await v2('up/small/tags/list');
    expect(await tags.json()).toEqual({ name: 'up/small', tags: ['v1'] });
    const page = await v2('up/multiplatform/tags/list?n=0');
    expect(page.status).toBe(200);
    const catalog = (await (await v2('_catalog')).json()) as { repositories: string[] };
    expect(catalog.repositories).toEqual(expect.arrayContaining(['up/small', 'up/multiplatform']));
    const first = await v2('_catalog?n=1');
    expect(((await first.json()) as { repositories: string[] }).repositories).toHaveLength(1);
    expect(first.headers.get('link')).toMatch(/^<\/v2\/_catalog\?n=1&last=[^>]+>; rel="next"$/);
    expect((await v2('_catalog?n=-1')).status).toBe(400);
  });

  test('referrers: a cached artifact with a subject is listed for that subject, filterable by artifactType', async () => {
    const subject = upstream.fixtures.small;
    const client = registryClientFor(upstream.registry);
    const emptyConfig = Buffer.from('{}');
    const configDigest = await client.pushBlob('fixtures/small', emptyConfig);
    const sbom = Buffer.from('{"sbom":"for small"}');
    const sbomDigest = await client.pushBlob('fixtures/small', sbom);
    const referrer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: 'application/vnd.example.sbom.v1+json',
        config: { mediaType: MediaType.OciEmpty, digest: configDigest, size: emptyConfig.length },
        layers: [{ mediaType: 'application/vnd.example.sbom.v1+json', digest: sbomDigest, size: sbom.length }],
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.manifest.length },
      }),
    );
    const referrerDigest = await client.pushManifest('fixtures/small', sha256(referrer), referrer, MediaType.OciManifest);
    // Pulling the referrer by digest through the cache stores it, and records it against its subject.
    expect((await v2(`up/small/manifests/${referrerDigest}`, { headers: { accept: ALL_MANIFESTS } })).status).toBe(200);
    const res = await v2(`up/small/referrers/${subject.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(MediaType.OciIndex);
    const index = (await res.json()) as { manifests: Array<{ digest: string; artifactType: string; size: number }> };
    expect(index.manifests).toEqual([expect.objectContaining({ digest: referrerDigest, artifactType: 'application/vnd.example.sbom.v1+json', size: referrer.length })]);
    const filtered = await v2(`up/small/referrers/${subject.digest}?artifactType=application/vnd.example.other`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(((await filtered.json()) as { manifests: unknown[] }).manifests).toEqual([]);
  });

  test('referrers: an empty OCI index for a subject with none', async () => {
    const f = upstream.fixtures.multiLayer;
    const res = await v2(`up/multilayer/referrers/${f.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(MediaType.OciIndex);
    expect(await res.json()).toEqual({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
  });
});

describe('bad input never reaches the upstream or escapes the data dir', () => {
  const cases: Array<[string, string, number, string]> = [
    ['dot-dot name', 'up/../../etc/manifests/v1', 400, 'NAME_INVALID'],
    ['uppercase name', 'up/Small/manifests/v1', 400, 'NAME_INVALID'],
    ['encoded dot-dot between encoded slashes', 'up%2F..%2Fsmall/manifests/v1', 400, 'NAME_INVALID'],
    ['double-encoded slash in name', 'up%252Fsmall/manifests/v1', 400, 'NAME_INVALID'],
    ['encoded dot-dot', 'up/%2e%2e/x/manifests/v1', 400, 'NAME_INVALID'],
    ['malformed digest', 'up/small/blobs/sha256:1234', 400, 'DIGEST_INVALID'],
    ['unknown algorithm', `up/small/blobs/md5:${'a'.repeat(32)}`, 400, 'DIGEST_INVALID'],
    // A reference that is no tag or digest names no manifest (the distribution-spec conformance suite's `.INVALID_MANIFEST_NAME`).
    ['malformed tag', 'up/small/manifests/-bad', 404, 'MANIFEST_UNKNOWN'],
    ['conformance: .INVALID_MANIFEST_NAME', 'up/small/manifests/.INVALID_MANIFEST_NAME', 404, 'MANIFEST_UNKNOWN'],
    ['malformed digest reference', 'up/small/manifests/sha256:1234', 404, 'MANIFEST_UNKNOWN'],
    ['encoded slash in reference', 'up/small/manifests/v1%2F..%2F..', 404, 'MANIFEST_UNKNOWN'],
    // A repository no rule maps is never anonymous (it holds what a deleted rule left, or pushed content).
    ['unknown local repository', 'nowhere/manifests/v1', 401, 'UNAUTHORIZED'],
    ['unknown local blob', `nowhere/blobs/sha256:${'0'.repeat(64)}`, 401, 'UNAUTHORIZED'],
    ['unknown local tags', 'nowhere/tags/list', 401, 'UNAUTHORIZED'],
  ];
  test.each(cases)('%s -> %i %s', async (_label, path, status, code) => {
    upstream.proxy.reset();
    const res = await rawGet(`/v2/${path}`);
    expect(res.status).toBe(status);
    expect((JSON.parse(res.body) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(code);
    expect(upstream.proxy.requests.length).toBe(0);
  });

  test('conformance: HEAD of .INVALID_MANIFEST_NAME is a 404 too, and the upstream is not asked', async () => {
    upstream.proxy.reset();
    const res = await v2('up/small/manifests/.INVALID_MANIFEST_NAME', { method: 'HEAD' });
    expect(res.status).toBe(404);
    expect(upstream.proxy.requests).toEqual([]);
  });

  test('unknown tag and digest under a rule are 404 from the upstream answer, not a failure', async () => {
    const tag = await v2('up/small/manifests/nope');
    expect(tag.status).toBe(404);
    expect(await errorCode(tag)).toBe('MANIFEST_UNKNOWN');
    const blob = await v2(`up/small/blobs/sha256:${'1'.repeat(64)}`);
    expect(blob.status).toBe(404);
    expect(await errorCode(blob)).toBe('BLOB_UNKNOWN');
  });

  test('anonymous writes are refused before anything else (push needs a user with a push grant)', async () => {
    const res = await v2('up/small/blobs/uploads/', { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('scope="repository:up/small:push"');
    expect(await errorCode(res)).toBe('UNAUTHORIZED');
  });

  test('nothing was written outside the data dir layout', async () => {
    const top = await readdir(cache.dataDir);
    for (const entry of top) expect(['blobs', 'repositories', 'control', '_uploads', 'admin-token']).toContain(entry);
    const repos = await readdir(join(cache.dataDir, 'repositories'));
    expect(repos.sort()).toEqual(expect.arrayContaining(['up']));
    expect(repos).toEqual(['up']);
  });
});
