import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseManifest, blobDescriptors, type Digest } from '@pullthrough/oci';
import { registryClientFor, skopeoCopy, skopeoInspectRaw, skopeoRegistryFlags, tempDir, writeFixtureLayout, type OciLayout, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { putRule, startCache, startRedis, startUpstream, writeHtpasswd, type Cache, type Upstream } from './harness.js';
import { admin, basic, errorOf, PASSWORDS, POLICY, PushClient } from './push-helpers.js';

// Real clients pushing: skopeo copies a multi-platform index, an artifact and a Docker schema2 image
// into local repositories and pulls them back with identical digests; a pull-only user cannot push;
// a push into a cache rule's path is refused naming the rule until the rule allows pushes, and then the
// pushed tag wins over an upstream whose tag moved.

let redis: RedisServer;
let upstream: Upstream;
let dir: TempDir;
let layout: OciLayout;
let cache: Cache;

const ALICE: { username: string; password: string } = { username: 'alice', password: PASSWORDS.alice };
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const blobFile = (root: string, digest: string) => join(root, 'blobs', 'sha256', digest.slice('sha256:'.length));

/** Every manifest and blob digest under `root` (an index, its children, their configs and layers), read from a layout on disk. */
async function treeOf(root: string, digest: Digest): Promise<string[]> {
  const bytes = await readFile(blobFile(root, digest));
  expect(sha256(bytes)).toBe(digest);
  const parsed = parseManifest(bytes);
  const children = await Promise.all(parsed.manifests.map((m) => treeOf(root, m.digest)));
  return [digest, ...blobDescriptors(parsed).map((d) => d.digest), ...children.flat()];
}

/** The digest named `name` in a layout's index.json. */
async function refOf(root: string, name?: string): Promise<Digest> {
  const index = JSON.parse(await readFile(join(root, 'index.json'), 'utf8')) as { manifests: Array<{ digest: Digest; annotations?: Record<string, string> }> };
  const entry = name === undefined ? index.manifests[0] : index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === name);
  return entry!.digest;
}

const push = (name: string, ref: string, flags: string[] = ['--preserve-digests'], creds = ALICE) =>
  skopeoCopy([...flags, ...skopeoRegistryFlags('dest-', creds), `oci:${layout.dir}:${name}`, `docker://${cache.host}/${ref}`]);

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  dir = await tempDir('push-clients-');
  layout = await writeFixtureLayout(join(dir.path, 'layout'), { seed: 'pushed-here', layerSizes: [2048, 64 * 1024] });
  cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HTPASSWD_FILE: await writeHtpasswd(dir.path, PASSWORDS) });
  expect((await admin(cache, '/access-policy', 'PUT', POLICY)).status).toBe(200);
  expect((await putRule(cache, { name: 'ru-rule', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'ru/*', tagFreshnessSeconds: 0 })).status).toBe(201);
}, 120_000);
afterAll(async () => {
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
  await dir?.remove();
});

test('skopeo copy --all pushes a multi-platform index; it comes back with identical digests, every blob intact', async () => {
  await push('multiPlatform', 'local/multi:v1', ['--all', '--preserve-digests']);
  const pushed = await refOf(layout.dir, 'multiPlatform');
  const raw = await skopeoInspectRaw(`${cache.host}/local/multi:v1`, ALICE);
  expect(sha256(raw)).toBe(pushed);
  const back = join(dir.path, 'back');
  await skopeoCopy(['--all', '--preserve-digests', ...skopeoRegistryFlags('src-', ALICE), `docker://${cache.host}/local/multi:v1`, `oci:${back}:v1`]);
  expect(await refOf(back)).toBe(pushed);
  const sent = await treeOf(layout.dir, pushed);
  expect(sent.length).toBe(1 + 2 * 4); // the index, and per platform a manifest, a config and two layers
  expect((await treeOf(back, pushed)).sort()).toEqual([...sent].sort());
}, 60_000);

test('an OCI artifact and a Docker schema2 image push and pull back', async () => {
  await push('artifact', 'local/artifact:v1');
  expect(sha256(await skopeoInspectRaw(`${cache.host}/local/artifact:v1`, ALICE))).toBe(await refOf(layout.dir, 'artifact'));
  await push('docker', 'local/docker:v1', ['--format', 'v2s2']);
  const raw = await skopeoInspectRaw(`${cache.host}/local/docker:v1`, ALICE);
  expect(JSON.parse(raw.toString()).mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
  const back = join(dir.path, 'docker-back');
  await skopeoCopy([...skopeoRegistryFlags('src-', ALICE), `docker://${cache.host}/local/docker:v1`, `oci:${back}:v1`]);
  expect((await treeOf(back, await refOf(back))).length).toBe(4);
}, 60_000);

test('a pull-only user cannot push with skopeo (nothing is stored)', async () => {
  await expect(push('small', 'local/bob-try:v1', ['--preserve-digests'], { username: 'bob', password: PASSWORDS.bob })).rejects.toThrow(/denied|unauthorized|403|401/i);
  const alice = new PushClient(cache, basic('alice', PASSWORDS.alice));
  expect((await alice.send('GET', '/v2/local/bob-try/manifests/v1')).status).toBe(404);
}, 60_000);

describe('a push into a cache rule path', () => {
  const alice = () => new PushClient(cache, basic('alice', PASSWORDS.alice));
  const manifestOf = async (ref: string) => {
    const res = await alice().send('GET', `/v2/ru/small/manifests/${ref}`, { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' });
    return { status: res.status, digest: res.headers.get('docker-content-digest'), cache: res.headers.get('x-cache') };
  };

  test('is refused with DENIED naming the rule while the rule does not allow pushes', async () => {
    expect(await manifestOf('v1')).toEqual({ status: 200, digest: upstream.fixtures.small.digest, cache: 'miss' });
    const res = await alice().send('POST', '/v2/ru/small/blobs/uploads/');
    expect(res.status).toBe(403);
    const error = await errorOf(res);
    expect(error.code).toBe('DENIED');
    expect(error.message).toContain('ru-rule');
    expect(error.detail).toEqual({ repository: 'ru/small', rule: 'ru-rule' });
    await expect(push('small', 'ru/small:v1')).rejects.toThrow(/ru-rule/);
    expect(await manifestOf('v1')).toMatchObject({ digest: upstream.fixtures.small.digest });
  }, 60_000);

  test('with allowPush the pushed tag wins: served locally, never revalidated, even after the upstream tag moved', async () => {
    const rule = { name: 'ru-rule', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'ru/*', tagFreshnessSeconds: 0, allowPush: true };
    expect((await putRule(cache, rule)).status).toBe(200);
    expect(((await (await admin(cache, '/cache-rules/ru-rule')).json()) as { allowPush?: boolean }).allowPush).toBe(true);
    await push('multiLayer', 'ru/small:v1');
    const pushed = await refOf(layout.dir, 'multiLayer');
    // The upstream's tag moves too (a new image pushed there).
    await skopeoCopy(['--preserve-digests', ...skopeoRegistryFlags('dest-', { username: upstream.registry.username, password: upstream.registry.password }), `oci:${layout.dir}:docker`, `docker://${upstream.registry.host}/fixtures/small:v1`]);
    const moved = await registryClientFor(upstream.registry).manifest('fixtures/small', 'v1');
    expect([moved.digest === upstream.fixtures.small.digest, moved.digest === pushed]).toEqual([false, false]);
    upstream.proxy.reset();
    for (let i = 0; i < 3; i++) expect(await manifestOf('v1')).toEqual({ status: 200, digest: pushed, cache: 'local' });
    expect(upstream.proxy.count({ repository: 'fixtures/small' })).toBe(0);
    // What was cached from the upstream stays served by digest.
    expect((await manifestOf(upstream.fixtures.small.digest)).status).toBe(200);
    const tags = (await (await admin(cache, '/repositories/ru/small/tags')).json()) as { tags: Array<{ tag: string; source: string; digest: string }> };
    expect(tags.tags).toEqual([{ tag: 'v1', source: 'local', digest: pushed, checkedAt: expect.any(String) }]);
    // A tag cached from the upstream in the same rule is listed as `upstream`.
    const multi = await alice().send('GET', '/v2/ru/multilayer/manifests/v1', { accept: 'application/vnd.oci.image.manifest.v1+json' });
    expect(multi.status).toBe(200);
    const upstreamTags = (await (await admin(cache, '/repositories/ru/multilayer/tags')).json()) as { tags: Array<{ tag: string; source: string }> };
    expect(upstreamTags.tags.map((t) => [t.tag, t.source])).toEqual([['v1', 'upstream']]);
  }, 60_000);
});
