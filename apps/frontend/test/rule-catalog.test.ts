import { registryClientFor, type RedisServer } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { blobPath, manifestPath, pull, sha256 } from './fault-helpers.js';

// A sanitized catalog per rule: the allow-list is enforced in the pull path, before local storage
// and before any upstream request (the counting proxy sees none for a refused name).

let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;

const EXTRA_TAGS = ['1.24.0', '1.25.3', '2.0.0', 'latest', '1.25.4-rc.1'];
const vetted = (proxy: string, allow: Record<string, unknown>) => ({ name: 'vetted-up', sourceRepository: `${proxy}/fixtures/*`, targetRepository: 'vet/*', allow });

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  // The small image under a few more tags, straight into the upstream registry.
  const client = registryClientFor(upstream.registry);
  const small = upstream.fixtures.small;
  for (const tag of EXTRA_TAGS) await client.pushManifest(small.repository, tag, small.manifest, small.mediaType);
  cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HYDRATION_DELAY_MS: '600000' });
  const res = await putRule(cache, vetted(upstream.proxy.host, { repositories: ['fixtures/small', 'fixtures/multi*'], tags: ['>=1.25 <2', 'latest', 'v1'] }));
  expect(res.status).toBe(201);
}, 120_000);

afterAll(async () => {
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
});

beforeEach(() => upstream.proxy.reset());

async function tags(repository: string) {
  const res = await fetch(`${cache.dataUrl}/v2/${repository}/tags/list`);
  return { status: res.status, body: (await res.json()) as { tags?: string[]; errors?: Array<{ code: string; detail?: Record<string, unknown> }> } };
}

describe('a repository outside the allow-list', () => {
  test('manifests by tag and by digest, blobs and tags/list are 404 naming the rule and the filter, with no upstream request', async () => {
    const docker = upstream.fixtures.docker;
    for (const method of ['GET', 'HEAD']) {
      const byTag = await pull(cache, manifestPath('vet/docker', 'v1'), { method });
      expect(byTag.status).toBe(404);
    }
    const byTag = await pull(cache, manifestPath('vet/docker', 'v1'));
    expect(byTag.error).toMatchObject({
      code: 'MANIFEST_UNKNOWN',
      message: 'repository fixtures/docker is not in the allow-list of cache rule "vetted-up" (allow.repositories)',
      detail: { rule: 'vetted-up', filter: 'allow.repositories', repository: 'vet/docker', upstreamRepository: 'fixtures/docker' },
    });
    const byDigest = await pull(cache, manifestPath('vet/docker', docker.digest));
    expect(byDigest.status).toBe(404);
    expect(byDigest.error).toMatchObject({ code: 'MANIFEST_UNKNOWN', detail: { filter: 'allow.repositories' } });
    const blob = await pull(cache, blobPath('vet/docker', docker.blobs[0]!.digest));
    expect(blob.status).toBe(404);
    expect(blob.error).toMatchObject({ code: 'BLOB_UNKNOWN', detail: { rule: 'vetted-up', filter: 'allow.repositories' } });
    expect((await pull(cache, blobPath('vet/docker', docker.blobs[0]!.digest), { method: 'HEAD' })).status).toBe(404);
    const listed = await tags('vet/docker');
    expect(listed.status).toBe(404);
    expect(listed.body.errors?.[0]).toMatchObject({ code: 'NAME_UNKNOWN', detail: { rule: 'vetted-up', filter: 'allow.repositories' } });
    expect(upstream.proxy.requests).toEqual([]);
  });
});

describe('tags outside the allow-list', () => {
  test.each(['1.24.0', '2.0.0', '1.25.4-rc.1'])('%s is 404 MANIFEST_UNKNOWN naming allow.tags, with no upstream request', async (tag) => {
    const res = await pull(cache, manifestPath('vet/small', tag));
    expect(res.status).toBe(404);
    expect(res.error).toEqual({
      code: 'MANIFEST_UNKNOWN',
      message: `tag ${tag} of fixtures/small is not in the allow-list of cache rule "vetted-up" (allow.tags)`,
      detail: { rule: 'vetted-up', filter: 'allow.tags', repository: 'vet/small', upstreamRepository: 'fixtures/small', tag },
    });
    expect(upstream.proxy.requests).toEqual([]);
  });

  test('tags inside it pull (a semver range, a glob), blobs of an allowed repository are served', async () => {
    const small = upstream.fixtures.small;
    for (const tag of ['1.25.3', 'latest']) {
      const res = await pull(cache, manifestPath('vet/small', tag));
      expect(res.status).toBe(200);
      expect(sha256(res.body)).toBe(small.digest);
      expect(upstream.proxy.count({ kind: 'manifest', method: 'GET', reference: tag })).toBe(1);
    }
    for (const blob of small.blobs) {
      const res = await pull(cache, blobPath('vet/small', blob.digest));
      expect(res.status).toBe(200);
      expect(sha256(res.body)).toBe(blob.digest);
    }
  });

  test('tags/list shows only the allowed tags; a tightened filter refuses what is already cached, with no upstream request', async () => {
    const small = upstream.fixtures.small;
    expect((await pull(cache, manifestPath('vet/small', 'v1'))).status).toBe(200);
    expect((await tags('vet/small')).body.tags).toEqual(['1.25.3', 'latest', 'v1']);

    // Tighten: only `latest` now. The cached 1.25.3 and v1 are refused, and hidden from tags/list.
    expect((await putRule(cache, vetted(upstream.proxy.host, { repositories: ['fixtures/small'], tags: ['latest'] }))).status).toBe(200);
    upstream.proxy.reset();
    expect((await tags('vet/small')).body.tags).toEqual(['latest']);
    const refused = await pull(cache, manifestPath('vet/small', '1.25.3'));
    expect(refused.status).toBe(404);
    expect(refused.error?.detail).toMatchObject({ filter: 'allow.tags', tag: '1.25.3' });
    // By digest only the repository is checked: a digest cannot be tied to a tag.
    expect((await pull(cache, manifestPath('vet/small', small.digest))).status).toBe(200);

    // Tighten the repositories: everything cached for vet/small is refused now.
    expect((await putRule(cache, vetted(upstream.proxy.host, { repositories: ['fixtures/multi*'] }))).status).toBe(200);
    for (const path of [manifestPath('vet/small', 'latest'), manifestPath('vet/small', small.digest), blobPath('vet/small', small.blobs[0]!.digest)]) {
      expect((await pull(cache, path)).status).toBe(404);
    }
    expect((await tags('vet/small')).status).toBe(404);
    expect(upstream.proxy.requests).toEqual([]);

    // Loosen again (no allow-list): served from the cache as before.
    expect((await putRule(cache, { name: 'vetted-up', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'vet/*' })).status).toBe(200);
    expect((await pull(cache, manifestPath('vet/small', small.digest))).status).toBe(200);
  });
});

test('the admin API refuses a bad allow-list with the field named', async () => {
  const res = await fetch(`${cache.adminUrl}/api/v1/cache-rules/bad-filter`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'bad/*', allow: { repositories: ['Fixtures/*'], tags: ['latest', '>=1.a'] } }),
  });
  expect(res.status).toBe(422);
  const problem = (await res.json()) as { errors: Array<{ field: string; message: string }> };
  expect(problem.errors).toEqual([
    { field: 'allow.repositories[0]', message: 'segment "Fixtures" may hold only lowercase letters, digits, ".", "_", "-" and "*"' },
    { field: 'allow.tags[1]', message: 'is not a valid semver range: ">=1.a" is not a version comparator (e.g. >=1.25, <2, 1.25.x, ^1.2.3, ~1.2)' },
  ]);
});
