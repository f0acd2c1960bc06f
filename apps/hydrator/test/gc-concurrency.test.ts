import { randomBytes } from 'node:crypto';
import { digestOf, type Digest } from '@pullthrough/oci';
import { GarbageCollector, RedisGcCoordinator } from '@pullthrough/pull-through';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { startRedis, tempDir, uniquePrefix, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { storeOldOrphan } from './harness.js';

/**
 * Collections racing pushes that re-upload content the collection is about to free: old orphans
 * (past the grace period) are re-committed, linked and named by a new manifest by a "frontend"
 * process (its own Redis connection) while a "hydrator" collects. Repeated with random offsets:
 * whatever the pusher stored stays whole, and every orphan nobody re-used is freed.
 */

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const ROUNDS = 12;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let redis: RedisServer;
let dir: TempDir;
let pusher: RedisGcCoordinator;
let runner: RedisGcCoordinator;

beforeAll(async () => {
  [redis, dir] = await Promise.all([startRedis(), tempDir('gc-race-')]);
  const prefix = uniquePrefix('gc-race');
  pusher = new RedisGcCoordinator({ url: redis.url, prefix, touchRetentionMs: 60_000 });
  runner = new RedisGcCoordinator({ url: redis.url, prefix, touchRetentionMs: 60_000 });
}, 30_000);
afterAll(async () => {
  pusher?.close();
  runner?.close();
  await dir?.remove();
  await redis?.stop();
});

test(`${ROUNDS} rounds of a collection racing re-uploads of the blobs it is freeing: nothing pushed is lost, every unused orphan is freed`, async () => {
  const driver = new FilesystemDriver(dir.path);
  const frontend = new RegistryStore(driver, { touches: pusher });
  // Orphans are written as if long ago: no touch remembered (their times are set an hour back below).
  const past = new RegistryStore(driver);
  const collector = new GarbageCollector(driver, runner, { graceMs: 5_000, concurrency: 4 });
  const commit = async (bytes: Buffer): Promise<Digest> => {
    const digest = digestOf(bytes);
    const w = await frontend.createBlobWriter({ digest, size: bytes.length });
    w.end(bytes);
    await w.commit();
    return digest;
  };
  const hourAgo = new Date(Date.now() - 3600_000);
  const unused = new Set<Digest>();
  let freed = 0;

  for (let round = 0; round < ROUNDS; round++) {
    // Eight old orphans, linked to a repository nothing names them in.
    const contents = Array.from({ length: 8 }, () => randomBytes(512 + Math.floor(Math.random() * 4096)));
    for (const bytes of contents) {
      await storeOldOrphan(past, dir.path, 'old/orphans', bytes, hourAgo);
    }
    // Three of them are pushed again (same bytes) into a new repository, with a manifest naming them, while the collection runs.
    const reused = contents.slice(0, 3);
    for (const bytes of contents.slice(3)) unused.add(digestOf(bytes));
    const repository = `pushed/round-${round}`;
    const push = async () => {
      await sleep(Math.floor(Math.random() * 40));
      const digests = [];
      for (const bytes of reused) {
        const digest = await commit(bytes);
        await frontend.linkBlob(repository, digest);
        digests.push({ digest, size: bytes.length });
      }
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...digests[0] }, layers: digests.slice(1).map((d) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...d })) }));
      await frontend.putManifest(repository, { digest: digestOf(manifest), mediaType: OCI_MANIFEST, bytes: manifest });
      return { manifest: digestOf(manifest), digests };
    };
    const [pushed, report] = await Promise.all([push(), collector.collect({ dryRun: false })]);
    freed += report.freed.count;
    // Everything the push stored is whole: the manifest, and each blob it names, stored and linked.
    expect(await frontend.getManifest(repository, pushed.manifest)).toMatchObject({ digest: pushed.manifest });
    for (const { digest, size } of pushed.digests) {
      expect([round, digest, await frontend.statRepositoryBlob(repository, digest)]).toEqual([round, digest, { size }]);
    }
  }
  // The orphans nobody re-used are gone by now or with one more run; the pushed content still stays.
  freed += (await collector.collect({ dryRun: false })).freed.count;
  for (const digest of unused) expect([digest, await frontend.statBlob(digest)]).toEqual([digest, undefined]);
  expect(freed).toBeGreaterThanOrEqual(unused.size);
  const final = await collector.collect({ dryRun: true });
  expect(final.freed.count).toBe(0);
  expect(final.referenced.count).toBe(ROUNDS * 4);
}, 120_000);
