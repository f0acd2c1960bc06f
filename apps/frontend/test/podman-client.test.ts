import { join } from 'node:path';
import { startPodman, tempDir, writeRegistriesConf, type Podman, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { putEnvCredentialSet, putRule, startCache, startRedis, startUpstream, UPSTREAM_SECRETS, writeHtpasswd, type Cache, type Upstream } from './harness.js';

// Debian's podman (rootful, vfs storage, a private store) pulling through the cache: the cache-path
// form (`<cache>/<target>/<repo>`), the mirror form (a registries.conf mirror for the upstream's names),
// and a node user on a rule with a credential set. The cache has users, so podman goes through our /token.

const NODE_USER = { name: 'pool-p', password: 'pool-p-pw-5' };

let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;
let podman: Podman;
let dir: TempDir;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  dir = await tempDir('podman-client-');
  const htpasswd = await writeHtpasswd(dir.path, { [NODE_USER.name]: NODE_USER.password });
  cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HTPASSWD_FILE: htpasswd }, UPSTREAM_SECRETS);
  const set = await putEnvCredentialSet(cache, 'up-creds', upstream.proxy.host);
  expect(set.status).toBe(201);
  const source = `${upstream.proxy.host}/fixtures/*`;
  expect((await putRule(cache, { name: 'podman-path', sourceRepository: source, targetRepository: 'pm/*' })).status).toBe(201);
  expect((await putRule(cache, { name: 'podman-mirror', sourceRepository: source, targetRepository: 'mirror/*' })).status).toBe(201);
  expect((await putRule(cache, { name: 'podman-private', sourceRepository: source, targetRepository: 'priv/*', credentialSetName: 'up-creds' })).status).toBe(201);
  podman = await startPodman();
}, 120_000);
afterAll(async () => {
  await podman?.stop();
  await dir?.remove();
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
});

afterEach(() => podman.removeAll());

test.each(['multiPlatform', 'docker'] as const)('cache path, %s: podman pull stores the image with the upstream digest; a second pull into an empty store is served locally', async (name) => {
  const f = upstream.fixtures[name];
  const ref = `${cache.host}/pm/${f.repository.replace(/^fixtures\//, '')}:${f.tag}`;
  const id = await podman.pull(ref);
  const image = await podman.inspect(ref);
  expect(image.Id).toBe(id);
  expect(image.Digest).toBe(f.digest);
  expect(image.RepoDigests).toContain(`${ref.replace(/:[^:]+$/, '')}@${f.digest}`);
  expect([image.Os, image.Architecture]).toEqual(['linux', 'amd64']);

  await podman.removeAll();
  upstream.proxy.reset();
  await podman.pull(ref);
  expect((await podman.inspect(ref)).Digest).toBe(f.digest);
  expect(upstream.proxy.requests).toEqual([]);
}, 120_000);

test('mirror form: podman pull <upstream>/fixtures/multilayer is served by the cache (each blob fetched once, by the cache); a second pull reaches the upstream zero times', async () => {
  const f = upstream.fixtures.multiLayer;
  const registriesConf = await writeRegistriesConf(join(dir.path, 'registries.conf'), [{ prefix: `${upstream.proxy.host}/fixtures`, mirror: `${cache.host}/mirror` }]);
  const ref = `${upstream.proxy.host}/fixtures/multilayer:${f.tag}`;
  upstream.proxy.reset();
  await podman.pull(ref, { registriesConf });
  expect((await podman.inspect(ref)).Digest).toBe(f.digest);
  for (const b of f.blobs) expect(upstream.proxy.count({ method: 'GET', kind: 'blob', reference: b.digest })).toBe(1);
  expect(upstream.proxy.requests.length).toBeGreaterThan(0);
  for (const r of upstream.proxy.requests) expect(r.userAgent).toMatch(/^pullthrough/);
  expect((await fetch(`${cache.dataUrl}/v2/mirror/multilayer/manifests/${f.digest}`, { method: 'HEAD' })).status).toBe(200);

  await podman.removeAll();
  upstream.proxy.reset();
  await podman.pull(ref, { registriesConf });
  expect((await podman.inspect(ref)).Digest).toBe(f.digest);
  expect(upstream.proxy.requests).toEqual([]);
}, 120_000);

test('a rule with a credential set: a node user pulls with --creds; anonymous and a wrong password are refused', async () => {
  const f = upstream.fixtures.small;
  const ref = `${cache.host}/priv/small:${f.tag}`;
  upstream.proxy.reset();
  // podman took an anonymous token from our /token, which grants nothing on the private rule
  await expect(podman.pull(ref)).rejects.toThrow(/unauthorized: the token does not grant pull on priv\/small/);
  await expect(podman.pull(ref, { username: NODE_USER.name, password: 'wrong' })).rejects.toThrow(/invalid username or password/);
  expect(upstream.proxy.requests).toEqual([]);
  await podman.pull(ref, { username: NODE_USER.name, password: NODE_USER.password });
  expect((await podman.inspect(ref)).Digest).toBe(f.digest);
}, 120_000);
