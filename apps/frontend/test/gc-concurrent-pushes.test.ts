import { readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { blobDescriptors, parseManifest, type Digest } from '@pullthrough/oci';
import { GarbageCollector, RedisGcCoordinator, type GcReport } from '@pullthrough/pull-through';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { skopeoCopy, skopeoRegistryFlags, tempDir, writeFixtureLayout, type OciLayout, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startCache, startRedis, writeHtpasswd, type Cache } from './harness.js';
import { admin, PASSWORDS, POLICY } from './push-helpers.js';

/**
 * Collections racing real skopeo pushes of an image whose blobs and manifest are stored but held by
 * no repository any more (forgotten, an hour old): the push uploads bytes the store already has
 * (kept as they are), links them and PUTs the manifest while the collection would free them. Each
 * round, whichever comes first, the pushed image is whole afterwards.
 */

const ROUNDS = 4;
const GRACE_MS = 3000;
const REPOSITORY = 'local/gc-race';
const ALICE = { username: 'alice', password: PASSWORDS.alice };
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let redis: RedisServer;
let dir: TempDir;
let layout: OciLayout;
let cache: Cache;
let coordinator: RedisGcCoordinator;

beforeAll(async () => {
  redis = await startRedis();
  dir = await tempDir('gc-push-race-');
  layout = await writeFixtureLayout(join(dir.path, 'layout'), { seed: 'gc-race', layerSizes: [4096, 256 * 1024] });
  cache = await startCache(redis, [], { PULLTHROUGH_HTPASSWD_FILE: await writeHtpasswd(dir.path, PASSWORDS) });
  expect((await admin(cache, '/access-policy', 'PUT', POLICY)).status).toBe(200);
  coordinator = new RedisGcCoordinator({ url: redis.url, prefix: cache.queuePrefix, touchRetentionMs: 60_000 });
}, 120_000);
afterAll(async () => {
  coordinator?.close();
  await cache?.stop();
  await redis?.stop();
  await dir?.remove();
});

test(`${ROUNDS} rounds: a collection racing a push of content it would free never leaves the pushed image without a blob`, async () => {
  const index = JSON.parse(await readFile(join(layout.dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: Digest; annotations?: Record<string, string> }> };
  const manifestDigest = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'multiLayer')!.digest;
  const manifest = await readFile(join(layout.dir, 'blobs', 'sha256', manifestDigest.slice('sha256:'.length)));
  const blobs = blobDescriptors(parseManifest(manifest));
  const driver = new FilesystemDriver(cache.dataDir);
  const view = new RegistryStore(driver);
  const collector = new GarbageCollector(driver, coordinator, { graceMs: GRACE_MS, afterMark: async () => sleep(Math.floor(Math.random() * 1500)) });
  const push = () => skopeoCopy(['--preserve-digests', ...skopeoRegistryFlags('dest-', ALICE), `oci:${layout.dir}:multiLayer`, `docker://${cache.host}/${REPOSITORY}:v1`]);
  await push();
  const reports: GcReport[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await cache.frontend.registry.store.forgetRepository(REPOSITORY);
    const hourAgo = new Date(Date.now() - 3600_000);
    for await (const entry of driver.walk('blobs')) await utimes(join(cache.dataDir, entry.path), hourAgo, hourAgo);
    await sleep(GRACE_MS + 300);
    const [, report] = await Promise.all([push(), collector.collect({ dryRun: false })]);
    reports.push(report);
    expect([round, (await view.statManifest(REPOSITORY, manifestDigest))?.size]).toEqual([round, manifest.length]);
    expect((await view.getManifest(REPOSITORY, manifestDigest))?.bytes.equals(manifest)).toBe(true);
    for (const b of blobs) expect([round, b.digest, await view.statRepositoryBlob(REPOSITORY, b.digest)]).toEqual([round, b.digest, { size: b.size }]);
  }
  expect(reports.some((r) => r.freed.count + r.kept.touched > 0)).toBe(true);
  // And it pulls back byte for byte.
  const back = await tempDir('gc-push-back-');
  try {
    await skopeoCopy(['--preserve-digests', ...skopeoRegistryFlags('src-', ALICE), `docker://${cache.host}/${REPOSITORY}:v1`, `oci:${back.path}:v1`]);
    for (const b of blobs) expect((await readFile(join(back.path, 'blobs', 'sha256', b.digest.slice('sha256:'.length)))).length).toBe(b.size);
  } finally {
    await back.remove();
  }
}, 120_000);
