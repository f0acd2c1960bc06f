import { createHash } from 'node:crypto';
import { readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { GarbageCollector, RedisGcCoordinator, type GcReport } from '@pullthrough/pull-through';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { skopeoCopy, tempDir, type RedisServer } from '@pullthrough/test-support';
import { eventually } from './fault-helpers.js';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { startHydratorFor, type HydratorProcess } from './hydrator-process.js';

/**
 * Collections racing real pulls (and the hydrations they enqueue) of an image whose blobs are
 * stored but no longer held by any repository (forgotten, as retention does, and an hour old): the
 * pull links them again while the collection would free them. Each round, whichever comes first,
 * the pull gets the right image and the repository ends up whole: at once, or, when the pull's link
 * of a stored blob waited on the collector deleting it (the link then names bytes that are gone),
 * once the hydration the pull enqueued has fetched that blob again (as the next pull would).
 */

const ROUNDS = 6;
const GRACE_MS = 3000;
const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;
let hydrator: HydratorProcess;
let coordinator: RedisGcCoordinator;

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startUpstream()]);
  cache = await startCache(redis, [upstream.proxy.host]);
  hydrator = await startHydratorFor(cache, redis, upstream, { PULLTHROUGH_GC_SCHEDULE: 'off' });
  coordinator = new RedisGcCoordinator({ url: redis.url, prefix: cache.queuePrefix, touchRetentionMs: 60_000 });
  expect((await putRule(cache, { name: 'gc-race', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'race/*' })).status).toBe(201);
}, 120_000);
afterAll(async () => {
  coordinator?.close();
  await hydrator?.stop();
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
});

test(`${ROUNDS} rounds: a collection racing a pull that re-links the blobs it would free never leaves the repository without them`, async () => {
  const f = upstream.fixtures.multiLayer;
  const repository = `race/${f.repository.replace(/^fixtures\//, '')}`;
  const driver = new FilesystemDriver(cache.dataDir);
  const view = new RegistryStore(driver);
  // The sweep waits a random while after the mark: the pull's links, commits and manifest land before, during or after it.
  const collector = new GarbageCollector(driver, coordinator, { graceMs: GRACE_MS, afterMark: async () => void (await sleep(Math.floor(Math.random() * 1200))) });
  const pull = async (): Promise<string> => {
    const dir = await tempDir('gc-race-pull-');
    try {
      await skopeoCopy(['--src-tls-verify=false', '--src-no-creds', `docker://${cache.host}/${repository}:${f.tag}`, `dir:${dir.path}`]);
      return sha256(await readFile(join(dir.path, 'manifest.json')));
    } finally {
      await dir.remove();
    }
  };
  expect(await pull()).toBe(f.digest);
  const reports: GcReport[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // The repository lets go of everything (its blobs stay stored), which is then an hour old and untouched for longer than the grace.
    await cache.frontend.registry.store.forgetRepository(repository);
    const hourAgo = new Date(Date.now() - 3600_000);
    for await (const entry of driver.walk('blobs')) await utimes(join(cache.dataDir, entry.path), hourAgo, hourAgo);
    await sleep(GRACE_MS + 300);
    const [digest, report] = await Promise.all([pull(), collector.collect({ dryRun: false })]);
    reports.push(report);
    expect([round, digest]).toEqual([round, f.digest]);
    // Whole: the manifest and every blob, linked and stored (the pull's hydration repairs a link that raced a deletion).
    expect((await view.statManifest(repository, f.digest))?.size).toBe(f.manifest.length);
    const missing = async () => (await Promise.all(f.blobs.map(async (b) => ((await view.statRepositoryBlob(repository, b.digest))?.size === b.size ? [] : [b.digest])))).flat();
    await eventually(`round ${round}: every blob of the image linked and stored`, async () => (await missing()).length === 0, 30_000);
  }
  // Some rounds had something to decide: freed before the pull re-linked it, or kept because the pull touched it.
  expect(reports.some((r) => r.freed.count + r.kept.touched > 0)).toBe(true);
}, 120_000);
