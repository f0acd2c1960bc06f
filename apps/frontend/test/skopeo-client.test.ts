import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  skopeoCopy,
  skopeoInspect,
  skopeoInspectRaw,
  skopeoListTags,
  tempDir,
  writeRegistriesConf,
  type RedisServer,
  type TempDir,
} from '@pullthrough/test-support';
import { putEnvCredentialSet, putRule, startCache, startRedis, startUpstream, UPSTREAM_SECRETS, writeHtpasswd, type Cache, type Upstream } from './harness.js';

// skopeo as a client of the cache: copy, inspect (raw and parsed) and list-tags in the cache-path
// form (`<cache>/<target>/<repo>`), the mirror form (a registries.conf mirror for the upstream's
// names), and list-tags as a node user on a rule with a credential set.

const NODE_USER = { name: 'pool-a', password: 'pool-a-pw-7' };
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;
let dir: TempDir;
let registriesConf: string;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  dir = await tempDir('skopeo-client-');
  const htpasswd = await writeHtpasswd(dir.path, { [NODE_USER.name]: NODE_USER.password });
  cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HTPASSWD_FILE: htpasswd }, UPSTREAM_SECRETS);
  const set = await putEnvCredentialSet(cache, 'up-creds', upstream.proxy.host);
  expect(set.status).toBe(201);
  const source = `${upstream.proxy.host}/fixtures/*`;
  for (const [name, target, extra] of [
    ['skopeo-path', 'sk/*', {}],
    ['skopeo-mirror', 'mirror/*', {}],
    ['skopeo-private', 'priv/*', { credentialSetName: 'up-creds' }],
  ] as const) {
    expect((await putRule(cache, { name, sourceRepository: source, targetRepository: target, ...extra })).status).toBe(201);
  }
  // Names as the upstream writes them (`<upstream>/fixtures/...`) are fetched from the cache's `mirror/...`.
  registriesConf = await writeRegistriesConf(join(dir.path, 'registries.conf'), [{ prefix: `${upstream.proxy.host}/fixtures`, mirror: `${cache.host}/mirror` }]);
}, 120_000);
afterAll(async () => {
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
  await dir?.remove();
});

/** Every request that reached the upstream since the last reset came from the cache (its own User-Agent), none from skopeo. */
function expectOnlyTheCacheAtTheUpstream(): void {
  expect(upstream.proxy.requests.length).toBeGreaterThan(0);
  for (const r of upstream.proxy.requests) expect(r.userAgent).toMatch(/^pullthrough/);
}

describe('cache-path form', () => {
  test.each(['small', 'multiPlatform', 'docker'] as const)('%s: inspect --raw serves the upstream manifest byte for byte; parsed inspect reports its digest; list-tags lists its tag', async (name) => {
    const f = upstream.fixtures[name];
    const repo = `${cache.host}/sk/${f.repository.replace(/^fixtures\//, '')}`;
    const raw = await skopeoInspectRaw(`${repo}:${f.tag}`);
    expect(sha256(raw)).toBe(f.digest);
    expect(raw.equals(f.manifest)).toBe(true);
    const parsed = await skopeoInspect(`${repo}:${f.tag}`);
    expect(parsed.Digest).toBe(f.digest);
    expect(parsed.Name).toBe(repo);
    expect(parsed.Os).toBe('linux');
    expect(parsed.Architecture).toBe('amd64');
    expect(await skopeoListTags(repo)).toEqual([f.tag]);
  });

  test('copy of every platform of an index to a directory: each manifest and blob has the upstream digest; the second copy never reaches the upstream', async () => {
    const f = upstream.fixtures.multiPlatform;
    const src = `docker://${cache.host}/sk/multiplatform:${f.tag}`;
    const out = join(dir.path, 'copy-path');
    upstream.proxy.reset();
    await skopeoCopy(['--all', '--preserve-digests', '--src-tls-verify=false', '--src-no-creds', src, `dir:${out}`]);
    // skopeo's dir: transport names children and blobs by their hex digest
    expect(sha256(await readFile(join(out, 'manifest.json')))).toBe(f.digest);
    for (const m of f.manifests ?? []) expect(sha256(await readFile(join(out, `${m.digest.slice(7)}.manifest.json`)))).toBe(m.digest);
    for (const b of f.blobs) expect(sha256(await readFile(join(out, b.digest.slice(7))))).toBe(b.digest);
    upstream.proxy.reset();
    await skopeoCopy(['--all', '--preserve-digests', '--src-tls-verify=false', '--src-no-creds', src, `dir:${join(dir.path, 'copy-path-2')}`]);
    expect(upstream.proxy.requests).toEqual([]);
  });
});

describe('mirror form (registries.conf)', () => {
  test('skopeo copies <upstream>/fixtures/multilayer: the cache fetched each blob once and skopeo never reached the upstream; a second copy reaches the upstream zero times', async () => {
    const f = upstream.fixtures.multiLayer;
    const ref = `docker://${upstream.proxy.host}/fixtures/multilayer:${f.tag}`;
    upstream.proxy.reset();
    const out = join(dir.path, 'copy-mirror');
    await skopeoCopy(['--preserve-digests', '--src-tls-verify=false', '--src-no-creds', ref, `dir:${out}`], { registriesConf });
    expect(sha256(await readFile(join(out, 'manifest.json')))).toBe(f.digest);
    for (const b of f.blobs) {
      expect(sha256(await readFile(join(out, b.digest.slice(7))))).toBe(b.digest);
      expect(upstream.proxy.count({ method: 'GET', kind: 'blob', reference: b.digest })).toBe(1);
    }
    expectOnlyTheCacheAtTheUpstream();
    // the cache holds it under the rule's target
    expect((await fetch(`${cache.dataUrl}/v2/mirror/multilayer/manifests/${f.digest}`, { method: 'HEAD' })).status).toBe(200);

    upstream.proxy.reset();
    await skopeoCopy(['--preserve-digests', '--src-tls-verify=false', '--src-no-creds', ref, `dir:${join(dir.path, 'copy-mirror-2')}`], { registriesConf });
    expect(upstream.proxy.requests).toEqual([]);
  });

  test('inspect (raw, and parsed without tags) of <upstream>/fixtures/small answers from the cache', async () => {
    const f = upstream.fixtures.small;
    const ref = `${upstream.proxy.host}/fixtures/small:${f.tag}`;
    upstream.proxy.reset();
    expect(sha256(await skopeoInspectRaw(ref, { registriesConf }))).toBe(f.digest);
    expect((await skopeoInspect(ref, { registriesConf, noTags: true })).Digest).toBe(f.digest);
    expectOnlyTheCacheAtTheUpstream();
  });

  test('list-tags (and the tags in a parsed inspect) go to the registry the name points at, never to a mirror: containers/image uses mirrors only to pull', async () => {
    const f = upstream.fixtures.small;
    upstream.proxy.reset();
    expect(await skopeoListTags(`${upstream.proxy.host}/fixtures/small`, { registriesConf })).toEqual([f.tag]);
    expect((await skopeoInspect(`${upstream.proxy.host}/fixtures/small:${f.tag}`, { registriesConf })).RepoTags).toEqual([f.tag]);
    const tagLists = upstream.proxy.requests.filter((r) => r.kind === 'tags');
    expect(tagLists.map((r) => r.userAgent)).toEqual([expect.stringMatching(/^skopeo\//), expect.stringMatching(/^skopeo\//)]);
  });
});

describe('a rule with a credential set', () => {
  test('list-tags as a node user lists the tags; anonymous and a wrong password are refused', async () => {
    const f = upstream.fixtures.small;
    const repo = `${cache.host}/priv/small`;
    await skopeoCopy(['--src-tls-verify=false', '--src-creds', `${NODE_USER.name}:${NODE_USER.password}`, `docker://${repo}:${f.tag}`, `dir:${join(dir.path, 'priv')}`]);
    expect(await skopeoListTags(repo, { username: NODE_USER.name, password: NODE_USER.password })).toEqual([f.tag]);
    await expect(skopeoListTags(repo)).rejects.toThrow(/unauthorized|401|denied/i);
    await expect(skopeoListTags(repo, { username: NODE_USER.name, password: 'wrong' })).rejects.toThrow(/unauthorized|401/i);
  });
});
