import { request } from 'node:http';
import { MediaType, digestOf } from '@pullthrough/oci';
import { faultFor, pseudoRandomBytes, registryClientFor, waitUntil, type RedisServer, type RegistryClient } from '@pullthrough/test-support';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

/**
 * The OCI read API of a cached repository against a real docker-registry (distribution 2.8, which
 * has no referrers API): tags/list merged with the upstream's, referrers through the tag schema,
 * and a cold Range streamed from the single upstream fetch.
 */
let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;
let client: RegistryClient;

const MiB = 1024 * 1024;
const v2 = (path: string, init: RequestInit = {}) => fetch(`${cache.dataUrl}/v2/${path}`, init);
const ALL_MANIFESTS = [MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList].join(', ');

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  // The 64 MiB blob below fits the store's write lag: however slow the disk, it is fetched once (not completed with a ranged GET).
  cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_WRITE_LAG_BYTES: String(64 * 1024 * 1024), PULLTHROUGH_WRITE_LAG_TOTAL_BYTES: String(128 * 1024 * 1024) });
  const res = await putRule(cache, { name: 'read-api', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'ra/*' });
  expect(res.status).toBe(201);
  client = registryClientFor(upstream.registry);
}, 120_000);

afterAll(async () => {
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
});

afterEach(() => upstream.proxy.setFault(null));

/** An image manifest with a config of its own (so each one has its own digest). */
async function pushImage(repository: string, seed: string): Promise<{ digest: string; bytes: Buffer }> {
  const config = Buffer.from(JSON.stringify({ seed }));
  const configDigest = await client.pushBlob(repository, config);
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.length }, layers: [] }));
  return { digest: await client.pushManifest(repository, digestOf(bytes), bytes, MediaType.OciManifest), bytes };
}

describe('tags/list of a cached repository', () => {
  test('merges the upstream tag list with local tags; n/last pages and Link over the merged list; one upstream listing for every page', async () => {
    const image = await pushImage('fixtures/many-tags', 'many');
    const upstreamTags = Array.from({ length: 30 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    for (const tag of upstreamTags) await client.pushManifest('fixtures/many-tags', tag, image.bytes, MediaType.OciManifest);
    // A tag the cache holds that the upstream no longer has: pulled, then deleted upstream.
    const gone = await pushImage('fixtures/many-tags', 'gone');
    await client.pushManifest('fixtures/many-tags', 'zz-gone', gone.bytes, MediaType.OciManifest);
    expect((await v2('ra/many-tags/manifests/zz-gone', { headers: { accept: ALL_MANIFESTS } })).status).toBe(200);
    expect((await v2('ra/many-tags/manifests/t05', { headers: { accept: ALL_MANIFESTS } })).status).toBe(200);
    const deleted = await client.request(`/v2/fixtures/many-tags/manifests/${gone.digest}`, { method: 'DELETE' });
    expect(deleted.status).toBe(202);
    const upstreamList = (await (await client.request('/v2/fixtures/many-tags/tags/list')).json()) as { tags: string[] };
    expect(upstreamList.tags).not.toContain('zz-gone');

    upstream.proxy.reset();
    const pages: string[][] = [];
    const cacheHeaders: string[] = [];
    let next: string | undefined = '/v2/ra/many-tags/tags/list?n=10';
    while (next) {
      const res = await fetch(`${cache.dataUrl}${next}`);
      expect(res.status).toBe(200);
      cacheHeaders.push(res.headers.get('x-cache') ?? '');
      const body = (await res.json()) as { name: string; tags: string[] };
      expect(body.name).toBe('ra/many-tags');
      pages.push(body.tags);
      const link = res.headers.get('link');
      next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
    }
    const expected = [...upstreamTags, 'zz-gone'].sort();
    expect(pages.map((p) => p.length)).toEqual([10, 10, 10, 1]);
    expect(pages.flat()).toEqual(expected);
    // The first page asked the upstream; the others were answered from the list it gave.
    expect(cacheHeaders).toEqual(['miss', 'hit', 'hit', 'hit']);
    expect(upstream.proxy.count({ kind: 'tags', method: 'GET' })).toBe(1);
    expect(upstream.proxy.count({ kind: 'tags', method: 'GET', status: 200 })).toBe(1);
  }, 60_000);

  test('walks an upstream that pages its tag list with Link (distribution 2.8 does not page tags/list: the proxy scripts the pages)', async () => {
    const all = Array.from({ length: 25 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    const PAGE = 7;
    upstream.proxy.setFault((r) => {
      if (r.kind !== 'tags' || r.repository !== 'fixtures/paged') return null;
      const last = new URL(r.path, 'http://x').searchParams.get('last');
      const from = last === null ? 0 : all.indexOf(last) + 1;
      const tags = all.slice(from, from + PAGE);
      const more = from + PAGE < all.length;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (more) headers.link = `</v2/fixtures/paged/tags/list?last=${tags[tags.length - 1]}&n=${PAGE}>; rel="next"`;
      return { status: 200, headers, body: JSON.stringify({ name: 'fixtures/paged', tags }) };
    });
    upstream.proxy.reset();
    const res = await v2('ra/paged/tags/list');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: 'ra/paged', tags: all });
    expect(upstream.proxy.requests.map((r) => new URL(r.path, 'http://x').search)).toEqual(['?n=1000', `?last=p06&n=${PAGE}`, `?last=p13&n=${PAGE}`, `?last=p20&n=${PAGE}`]);
  });

  test('an upstream repository that does not exist: its local tags, or NAME_UNKNOWN without them', async () => {
    const res = await v2('ra/never-pushed/tags/list');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('NAME_UNKNOWN');
  });
});

describe('referrers of a cached image', () => {
  test('a signature pushed upstream after the image was cached is found through the tag schema, with and without artifactType', async () => {
    const subject = upstream.fixtures.small;
    const cached = await v2(`ra/small/manifests/${subject.tag}`, { headers: { accept: ALL_MANIFESTS } });
    expect(cached.status).toBe(200);
    expect(cached.headers.get('docker-content-digest')).toBe(subject.digest);

    // Now the upstream gets a signature, the way a tag-schema client (cosign, notation, oras on an OCI 1.0 registry) attaches one.
    const signatureType = 'application/vnd.example.signature.v1+json';
    const empty = Buffer.from('{}');
    const emptyDigest = await client.pushBlob('fixtures/small', empty);
    const payload = Buffer.from('{"signed":"small"}');
    const payloadDigest = await client.pushBlob('fixtures/small', payload);
    const signature = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: signatureType,
        config: { mediaType: MediaType.OciEmpty, digest: emptyDigest, size: empty.length },
        layers: [{ mediaType: signatureType, digest: payloadDigest, size: payload.length }],
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.manifest.length },
      }),
    );
    const signatureDigest = await client.pushManifest('fixtures/small', digestOf(signature), signature, MediaType.OciManifest);
    const descriptor = { mediaType: MediaType.OciManifest, digest: signatureDigest, size: signature.length, artifactType: signatureType };
    const tagIndex = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [descriptor] }));
    await client.pushManifest('fixtures/small', `sha256-${subject.digest.slice('sha256:'.length)}`, tagIndex, MediaType.OciIndex);

    upstream.proxy.reset();
    const res = await v2(`ra/small/referrers/${subject.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(MediaType.OciIndex);
    expect(res.headers.get('x-cache')).toBe('miss');
    expect(res.headers.get('oci-filters-applied')).toBeNull();
    expect(await res.json()).toEqual({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [descriptor] });
    // distribution 2.8 has no referrers API (404): the cache fell back to the tag schema.
    const asked = upstream.proxy.requests.map((r) => `${r.method} ${r.path.split('?')[0]} ${r.status}`);
    expect(asked).toEqual([
      `GET /v2/fixtures/small/referrers/${subject.digest} 404`,
      `GET /v2/fixtures/small/manifests/sha256-${subject.digest.slice('sha256:'.length)} 200`,
    ]);

    const matching = await v2(`ra/small/referrers/${subject.digest}?artifactType=${encodeURIComponent(signatureType)}`);
    expect(matching.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(((await matching.json()) as { manifests: unknown[] }).manifests).toEqual([descriptor]);
    const other = await v2(`ra/small/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`);
    expect(other.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(((await other.json()) as { manifests: unknown[] }).manifests).toEqual([]);
  }, 60_000);
});

describe('a cold Range request', () => {
  test('the last MiB of a 64 MiB blob: its first byte arrives while the upstream still holds the end of the body; one upstream GET; exact bytes', async () => {
    const size = 64 * MiB;
    const blob = pseudoRandomBytes(size, 'range-64mib');
    const digest = await client.pushBlob('fixtures/big', blob);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // The upstream sends all but the last 256 KiB, then holds the rest until this test releases it.
    upstream.proxy.setFault(faultFor({ kind: 'blob', method: 'GET', reference: digest }, { kind: 'hold', atByte: size - 256 * 1024, until: released }));
    upstream.proxy.reset();
    const events: string[] = [];
    const safety = setTimeout(() => {
      events.push('safety release');
      release();
    }, 30_000);
    const start = size - MiB;
    const answer = await new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      const req = request(`${cache.dataUrl}/v2/ra/big/blobs/${digest}`, { headers: { range: `bytes=${start}-` }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          if (chunks.length === 0) {
            events.push('first byte');
            events.push('upstream released');
            release();
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    clearTimeout(safety);
    // The client had bytes of its range while the upstream was holding the end of the body back.
    expect(events).toEqual(['first byte', 'upstream released']);
    expect(answer.status).toBe(206);
    expect(answer.headers['content-range']).toBe(`bytes ${start}-${size - 1}/${size}`);
    expect(answer.headers['content-length']).toBe(String(MiB));
    expect(answer.headers['x-cache']).toBe('miss');
    expect(answer.body.equals(blob.subarray(start))).toBe(true);
    // The one fetch went on to the end for the store: the blob is committed and served locally.
    await waitUntil(async () => (await v2(`ra/big/blobs/${digest}`, { method: 'HEAD' })).headers.get('x-cache') === 'hit', { timeoutMs: 20_000, what: 'the ranged blob committed' });
    expect(upstream.proxy.count({ kind: 'blob', method: 'GET', reference: digest })).toBe(1);
  }, 120_000);
});

describe('the upstream unavailable', () => {
  test('tags/list answers the local tags, marked stale with the reason', async () => {
    const small = upstream.fixtures.small;
    expect((await v2(`ra/small/manifests/${small.tag}`, { headers: { accept: ALL_MANIFESTS } })).status).toBe(200);
    upstream.proxy.setFault(faultFor({ kind: 'tags' }, { status: 503, body: '{"errors":[{"code":"UNAVAILABLE","message":"down for maintenance"}]}' }));
    upstream.proxy.reset();
    const res = await v2('ra/small/tags/list');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: 'ra/small', tags: [small.tag] });
    expect(res.headers.get('x-cache')).toBe('stale');
    expect(res.headers.get('x-cache-stale-reason')).toMatch(/upstream/);
    expect(upstream.proxy.count({ kind: 'tags', status: 503 })).toBe(1);
  });

  test('referrers answer the local ones, marked stale', async () => {
    const small = upstream.fixtures.small;
    upstream.proxy.setFault({ status: 503 });
    const res = await v2(`ra/small/referrers/${small.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-cache')).toBe('stale');
    expect(res.headers.get('x-cache-stale-reason')).toMatch(/upstream/);
    expect(await res.json()).toEqual({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
  });
});
