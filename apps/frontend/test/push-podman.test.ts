import { join } from 'node:path';
import { skopeoCopy, skopeoRegistryFlags, startPodman, tempDir, writeFixtureLayout, type OciLayout, type Podman, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startCache, startRedis, writeHtpasswd, type Cache } from './harness.js';
import { admin, basic, PASSWORDS, POLICY, PushClient } from './push-helpers.js';

// Debian's podman (rootful, vfs, a private store) pushing to the cache through our /token: an image it
// pulled from one local repository is pushed to another, then pulled back into an empty store.

let redis: RedisServer;
let dir: TempDir;
let layout: OciLayout;
let cache: Cache;
let podman: Podman;
const ALICE = { username: 'alice', password: PASSWORDS.alice as string };

beforeAll(async () => {
  redis = await startRedis();
  dir = await tempDir('push-podman-');
  layout = await writeFixtureLayout(join(dir.path, 'layout'), { seed: 'podman-push', layerSizes: [4096] });
  cache = await startCache(redis, [], { PULLTHROUGH_HTPASSWD_FILE: await writeHtpasswd(dir.path, PASSWORDS) });
  expect((await admin(cache, '/access-policy', 'PUT', POLICY)).status).toBe(200);
  await skopeoCopy(['--preserve-digests', ...skopeoRegistryFlags('dest-', ALICE), `oci:${layout.dir}:small`, `docker://${cache.host}/local/podman-src:v1`]);
  podman = await startPodman();
}, 120_000);
afterAll(async () => {
  await podman?.stop();
  await cache?.stop();
  await redis?.stop();
  await dir?.remove();
});

test('podman push stores an image the cache serves back: same image after a pull into an empty store', async () => {
  const source = `${cache.host}/local/podman-src:v1`;
  const id = await podman.pull(source, ALICE);
  await podman.push(source, `${cache.host}/local/podman-dst:v2`, ALICE);
  const alice = new PushClient(cache, basic('alice', PASSWORDS.alice));
  const pushed = await alice.send('GET', '/v2/local/podman-dst/manifests/v2', { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' });
  expect(pushed.status).toBe(200);
  await podman.removeAll();
  const again = await podman.pull(`${cache.host}/local/podman-dst:v2`, ALICE);
  expect(again).toBe(id);
  const image = await podman.inspect(`${cache.host}/local/podman-dst:v2`);
  expect(image.Digest).toBe(pushed.headers.get('docker-content-digest'));
  // bob may pull but not push.
  await expect(podman.push(`${cache.host}/local/podman-dst:v2`, `${cache.host}/local/podman-bob:v1`, { username: 'bob', password: PASSWORDS.bob })).rejects.toThrow();
  expect((await alice.send('GET', '/v2/local/podman-bob/manifests/v1')).status).toBe(404);
}, 90_000);
