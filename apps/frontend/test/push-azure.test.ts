import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { azureBlobDriverFrom, type AzureBlobDriver } from '@pullthrough/storage';
import { skopeoCopy, skopeoInspectRaw, skopeoRegistryFlags, startAzurite, tempDir, writeFixtureLayout, type Azurite, type OciLayout, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startCache, startRedis, writeHtpasswd, type Cache } from './harness.js';
import { admin, basic, PASSWORDS, POLICY, PushClient, sha256 } from './push-helpers.js';

// Push on Azure Blob storage (Azurite): skopeo pushes an index and pulls it back, and a chunked
// upload continues on a second frontend (a restart) sharing only the container, then is verified
// and committed; no upload blob is left behind.

let redis: RedisServer;
let azurite: Azurite;
let dir: TempDir;
let layout: OciLayout;
let cache: Cache;
let container: AzureBlobDriver['container'];
let env: Record<string, string>;

const ALICE: { username: string; password: string } = { username: 'alice', password: PASSWORDS.alice };

async function startOnAzure(): Promise<Cache> {
  return startCache(redis, [], env);
}

/** The digest named `name` (or the first) in a layout's index.json. */
async function refOf(root: string, name?: string): Promise<string> {
  const index = JSON.parse(await readFile(join(root, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  return (name === undefined ? index.manifests[0] : index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === name))!.digest;
}

async function uploadBlobs(): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix: '_uploads/' })) names.push(blob.name);
  return names;
}

beforeAll(async () => {
  [redis, azurite] = await Promise.all([startRedis(), startAzurite()]);
  dir = await tempDir('push-azure-');
  layout = await writeFixtureLayout(join(dir.path, 'layout'), { seed: 'pushed-to-azure', layerSizes: [1024] });
  env = {
    PULLTHROUGH_STORAGE: 'azure-blob',
    PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: azurite.connectionString,
    PULLTHROUGH_AZURE_BLOB_CONTAINER: azurite.uniqueContainer(),
    PULLTHROUGH_HTPASSWD_FILE: await writeHtpasswd(dir.path, PASSWORDS),
  };
  const driver = azureBlobDriverFrom({ ...env, PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_DATA_DIR: '', PULLTHROUGH_AZURE_CREDENTIAL: 'default' });
  await driver.ensureContainer();
  container = driver.container;
  cache = await startOnAzure();
  expect((await admin(cache, '/access-policy', 'PUT', POLICY)).status).toBe(200);
}, 120_000);
afterAll(async () => {
  await cache?.stop();
  await Promise.all([redis?.stop(), azurite?.stop()]);
  await dir?.remove();
});

test('skopeo copy --all pushes an index to Azure Blob storage and pulls it back with identical digests', async () => {
  await skopeoCopy(['--all', '--preserve-digests', ...skopeoRegistryFlags('dest-', ALICE), `oci:${layout.dir}:multiPlatform`, `docker://${cache.host}/local/azure:v1`]);
  const pushed = await refOf(layout.dir, 'multiPlatform');
  const raw = await skopeoInspectRaw(`${cache.host}/local/azure:v1`, ALICE);
  expect(sha256(raw)).toBe(pushed);
  const back = join(dir.path, 'back');
  await skopeoCopy(['--all', '--preserve-digests', ...skopeoRegistryFlags('src-', ALICE), `docker://${cache.host}/local/azure:v1`, `oci:${back}:v1`]);
  expect(await refOf(back)).toBe(pushed);
  const index = JSON.parse(raw.toString()) as { manifests: Array<{ digest: string }> };
  for (const child of index.manifests) {
    const bytes = await readFile(join(back, 'blobs', 'sha256', child.digest.slice(7)));
    expect(sha256(bytes)).toBe(child.digest);
  }
  expect(await uploadBlobs()).toEqual([]);
}, 60_000);

test('a chunked upload continues on another frontend, is verified by reading it back, and commits; a wrong digest commits nothing', async () => {
  const data = randomBytes(5 * 1024 * 1024 + 3);
  const digest = sha256(data);
  let alice = new PushClient(cache, basic('alice', PASSWORDS.alice));
  const started = await alice.send('POST', '/v2/local/azure-chunks/blobs/uploads/');
  const location = started.headers.get('location')!;
  expect((await alice.send('PATCH', location, { 'content-range': `0-${4 * 1024 * 1024 - 1}` }, data.subarray(0, 4 * 1024 * 1024))).status).toBe(202);
  const repeated = await alice.send('PATCH', location, { 'content-range': `0-${4 * 1024 * 1024 - 1}` }, data.subarray(0, 4 * 1024 * 1024));
  expect([repeated.status, repeated.headers.get('range')]).toEqual([416, `0-${4 * 1024 * 1024 - 1}`]);
  expect(await uploadBlobs()).toHaveLength(1);
  await cache.stop();
  cache = await startOnAzure();
  alice = new PushClient(cache, basic('alice', PASSWORDS.alice));
  const next = await alice.send('PATCH', location, { 'content-range': `${4 * 1024 * 1024}-${data.length - 1}` }, data.subarray(4 * 1024 * 1024));
  expect([next.status, next.headers.get('range')]).toEqual([202, `0-${data.length - 1}`]);
  const wrong = await alice.send('PUT', `${location}?digest=${sha256('nope')}`);
  expect(wrong.status).toBe(400);
  expect((await alice.send('HEAD', `/v2/local/azure-chunks/blobs/${sha256('nope')}`)).status).toBe(404);
  expect((await alice.send('PUT', `${location}?digest=${digest}`)).status).toBe(201);
  const back = Buffer.from(await (await alice.send('GET', `/v2/local/azure-chunks/blobs/${digest}`)).arrayBuffer());
  expect(back.equals(data)).toBe(true);
  expect(await uploadBlobs()).toEqual([]);
  // Manifest push and delete on the same storage.
  const image = await alice.pushImage('local/azure-chunks', 'v1', 'azure');
  expect((await alice.send('DELETE', `/v2/local/azure-chunks/manifests/${image.digest}`)).status).toBe(202);
  expect((await alice.send('GET', '/v2/local/azure-chunks/manifests/v1')).status).toBe(404);
}, 60_000);
