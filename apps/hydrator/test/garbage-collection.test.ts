import { randomBytes } from 'node:crypto';
import { digestOf, type Digest } from '@pullthrough/oci';
import { GarbageCollector, GcBusyError, gcTouchSettings, RedisGcCoordinator, type GcReport } from '@pullthrough/pull-through';
import { type SweepCandidate, azureBlobDriverFrom, blobDataPath, FilesystemDriver, layerLinkPath, manifestRevisionLinkPath, RegistryStore, type StorageDriver } from '@pullthrough/storage';
import { freePort, startAzurite, startRedis, tempDir, uniquePrefix, type Azurite, type RedisServer, type TempDir } from '@pullthrough/test-support';

/**
 * Garbage collection on real storage (filesystem, and Azure Blob through Azurite) with real Redis:
 * the store touches what it writes through a RedisGcCoordinator, exactly as the apps wire it.
 */

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** Short enough to wait out in a test; the apps take minutes (PULLTHROUGH_GC_GRACE_MINUTES). */
const GRACE_MS = 1500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let redis: RedisServer;
let azurite: Azurite;
const dirs: TempDir[] = [];

beforeAll(async () => {
  [redis, azurite] = await Promise.all([startRedis(), startAzurite()]);
}, 60_000);
afterAll(async () => {
  await Promise.all(dirs.map((d) => d.remove()));
  await azurite?.stop();
  await redis?.stop();
});

interface Env {
  driver: StorageDriver;
  store: RegistryStore;
  coordinator: RedisGcCoordinator;
  collector(afterMark?: (candidates: readonly SweepCandidate[]) => Promise<void>): GarbageCollector;
  close(): Promise<void>;
}

const drivers: [string, () => Promise<{ driver: StorageDriver; drop(): Promise<void> }>][] = [
  [
    'filesystem',
    async () => {
      const dir = await tempDir('gc-');
      dirs.push(dir);
      return { driver: new FilesystemDriver(dir.path), drop: async () => undefined };
    },
  ],
  [
    'azure-blob (Azurite)',
    async () => {
      const driver = azureBlobDriverFrom({
        PULLTHROUGH_STORAGE: 'azure-blob',
        PULLTHROUGH_DATA_DIR: '/nonexistent',
        PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: azurite.connectionString,
        PULLTHROUGH_AZURE_BLOB_CONTAINER: azurite.uniqueContainer(),
        PULLTHROUGH_AZURE_CREDENTIAL: 'default',
      });
      await driver.ensureContainer();
      return { driver, drop: async () => void (await driver.container.deleteIfExists()) };
    },
  ],
];

describe.each(drivers)('garbage collection on %s', (_name, makeDriver) => {
  let env: Env;
  beforeEach(async () => {
    const { driver, drop } = await makeDriver();
    // As the apps wire it: a touch is not repeated within a sixth of the grace (a collection cannot claim it meanwhile).
    const coordinator = new RedisGcCoordinator({ url: redis.url, prefix: uniquePrefix('gc'), ...gcTouchSettings(GRACE_MS) });
    const store = new RegistryStore(driver, { touches: coordinator });
    env = {
      driver,
      store,
      coordinator,
      collector: (afterMark) => new GarbageCollector(driver, coordinator, { graceMs: GRACE_MS, ...(afterMark ? { afterMark } : {}) }),
      close: async () => {
        coordinator.close();
        await drop();
      },
    };
  });
  afterEach(async () => {
    await env.close();
  });

  async function putBlob(repository: string, bytes: Buffer = randomBytes(200 + Math.floor(Math.random() * 800))): Promise<{ digest: Digest; size: number }> {
    const digest = digestOf(bytes);
    const writer = await env.store.createBlobWriter({ digest, size: bytes.length });
    writer.end(bytes);
    await writer.commit();
    await env.store.linkBlob(repository, digest);
    return { digest, size: bytes.length };
  }

  async function putImage(repository: string, layers: { digest: Digest; size: number }[]): Promise<{ digest: Digest; size: number }> {
    const [config, ...rest] = layers;
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: rest.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })) }));
    const digest = digestOf(bytes);
    await env.store.putManifest(repository, { digest, mediaType: OCI_MANIFEST, bytes });
    return { digest, size: bytes.length };
  }

  const exists = async (digest: Digest) => (await env.driver.stat(blobDataPath(digest))) !== undefined;

  test('keeps what any manifest of any repository refers to (index children, config, layers); sweeps orphans with their links and reports the bytes', async () => {
    // Repository a: an image. Repository b: an index naming a manifest it has no revision of, whose blobs are linked in a only.
    const [config, layer] = [await putBlob('team/a'), await putBlob('team/a')];
    const image = await putImage('team/a', [config, layer]);
    const [childConfig, childLayer] = [await putBlob('team/a'), await putBlob('team/a')];
    const child = await putImage('team/scratch', [childConfig, childLayer]);
    const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, ...child, platform: { os: 'linux', architecture: 'amd64' } }] }));
    await env.store.putManifest('team/b', { digest: digestOf(indexBytes), mediaType: OCI_INDEX, bytes: indexBytes });
    // team/scratch's revision of the child goes (as a manifest delete would): the index in b still names it.
    await env.driver.delete(manifestRevisionLinkPath('team/scratch', child.digest));
    // Orphans: linked into two repositories, and not linked at all.
    const orphan = await putBlob('team/a');
    await env.store.linkBlob('other/repo', orphan.digest);
    const unlinked = randomBytes(321);
    const w = await env.store.createBlobWriter({ digest: digestOf(unlinked) });
    w.end(unlinked);
    await w.commit();
    await sleep(GRACE_MS + 200);

    const report = await env.collector().collect({ dryRun: false });
    expect(report.freed).toEqual({ count: 2, bytes: orphan.size + 321, links: 2 });
    expect(report.kept).toEqual({ young: 0, touched: 0 });
    for (const kept of [config, layer, image, childConfig, childLayer, child]) expect([kept.digest, await exists(kept.digest)]).toEqual([kept.digest, true]);
    expect(await exists(orphan.digest)).toBe(false);
    expect(await exists(digestOf(unlinked))).toBe(false);
    expect(await env.driver.stat(layerLinkPath('team/a', orphan.digest))).toBeUndefined();
    expect(await env.driver.stat(layerLinkPath('other/repo', orphan.digest))).toBeUndefined();
    expect(await env.store.isBlobLinked('team/a', layer.digest)).toBe(true);
    // Served as before.
    expect((await env.store.getManifest('team/b', digestOf(indexBytes)))?.size).toBe(indexBytes.length);
    // Nothing left to free.
    const again = await env.collector().collect({ dryRun: true });
    expect(again.freed).toEqual({ count: 0, bytes: 0, links: 0 });
  });

  test('a manifest the referrers API lists is kept with what it names, even without a revision of it', async () => {
    const subject = await putImage('ref/app', [await putBlob('ref/app'), await putBlob('ref/app')]);
    const sbom = await putBlob('ref/app');
    const referrer = await putImage('ref/scratch', [await putBlob('ref/app'), sbom]);
    await env.store.addReferrer('ref/app', subject.digest, { mediaType: OCI_MANIFEST, digest: referrer.digest, size: referrer.size, artifactType: 'application/spdx+json' });
    await env.driver.delete(manifestRevisionLinkPath('ref/scratch', referrer.digest));
    await sleep(GRACE_MS + 200);
    const report = await env.collector().collect({ dryRun: false });
    expect(report.freed.count).toBe(0);
    expect([await exists(referrer.digest), await exists(sbom.digest)]).toEqual([true, true]);
    expect((await env.store.listReferrers('ref/app', subject.digest)).map((d) => d.digest)).toEqual([referrer.digest]);
  });

  test('a dry run deletes nothing and reports what the real run then frees', async () => {
    await putImage('dry/run', [await putBlob('dry/run'), await putBlob('dry/run')]);
    const orphans = [await putBlob('dry/run'), await putBlob('dry/other'), await putBlob('dry/other')];
    await sleep(GRACE_MS + 200);
    const dry = await env.collector().collect({ dryRun: true });
    for (const o of orphans) expect(await exists(o.digest)).toBe(true);
    expect(dry.freed).toEqual({ count: 3, bytes: orphans.reduce((n, o) => n + o.size, 0), links: 3 });
    const real = await env.collector().collect({ dryRun: false });
    expect([real.dryRun, real.freed, real.referenced]).toEqual([false, dry.freed, dry.referenced]);
    for (const o of orphans) expect(await exists(o.digest)).toBe(false);
  });

  test('blobs younger than the grace period are kept', async () => {
    const young = await putBlob('young/repo');
    const report = await env.collector().collect({ dryRun: false });
    expect(report.kept.young).toBe(1);
    expect(report.freed.count).toBe(0);
    expect(await exists(young.digest)).toBe(true);
  });

  test('a blob linked, committed again, or named by a new manifest between mark and sweep is never swept', async () => {
    const linked = await putBlob('race/a');
    const committed = await putBlob('race/a');
    const named = await putBlob('race/a');
    const idle = await putBlob('race/a');
    await sleep(GRACE_MS + 200);
    const seen: Digest[] = [];
    const collector = env.collector(async (candidates) => {
      seen.push(...candidates.map((c) => c.blob.digest));
      // Through the real store API, after the mark: a mount-like link, a second upload of the same bytes, a manifest PUT.
      await env.store.linkBlob('race/b', linked.digest);
      const again = (await env.driver.getContent(blobDataPath(committed.digest)))!;
      const writer = await env.store.createBlobWriter({ digest: committed.digest });
      writer.end(again);
      await writer.commit();
      await putImage('race/c', [named, await putBlob('race/c')]);
    });
    const report = await collector.collect({ dryRun: false });
    expect(seen.sort()).toEqual([linked.digest, committed.digest, named.digest, idle.digest].sort());
    expect(report.kept.touched).toBe(3);
    expect(report.freed.count).toBe(1);
    for (const d of [linked, committed, named]) expect(await exists(d.digest)).toBe(true);
    expect(await exists(idle.digest)).toBe(false);
    expect(await env.store.statRepositoryBlob('race/b', linked.digest)).toEqual({ size: linked.size });
  });

  test('a touch of a blob being deleted waits for the deletion, then the caller finds it missing', async () => {
    const blob = await putBlob('claim/a');
    // A claim after the blob's own touches stands for a collection at least a grace period later: by
    // then this process no longer remembers having touched it (a touch within recentTouchMs is not sent).
    await sleep(gcTouchSettings(GRACE_MS).recentTouchMs! + 50);
    const since = (await env.coordinator.now()) + 1; // nothing touched after this
    expect(await env.coordinator.claim(blob.digest, since)).toBe(true);
    let linked = false;
    const link = env.store.linkBlob('claim/b', blob.digest).then(() => (linked = true));
    await sleep(300);
    expect(linked).toBe(false);
    await env.driver.delete(blobDataPath(blob.digest));
    await env.coordinator.release(blob.digest);
    await link;
    expect(await env.store.statRepositoryBlob('claim/b', blob.digest)).toBeUndefined();
    // A claim of a digest touched since refuses.
    expect(await env.coordinator.claim(blob.digest, since)).toBe(false);
  });

  test('revision links of manifests whose bytes are gone are removed with what only they named; one collection at a time', async () => {
    const image = await putImage('gone/repo', [await putBlob('gone/repo'), await putBlob('gone/repo')]);
    await env.driver.delete(blobDataPath(image.digest));
    await sleep(GRACE_MS + 200);
    const results = await Promise.allSettled([env.collector().collect({ dryRun: false }), env.collector().collect({ dryRun: false })]);
    const done = results.filter((r): r is PromiseFulfilledResult<GcReport> => r.status === 'fulfilled');
    const busy = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect([done.length, busy.length]).toEqual([1, 1]);
    expect(busy[0]!.reason).toBeInstanceOf(GcBusyError);
    expect([done[0]!.value.danglingLinks, done[0]!.value.freed.count]).toEqual([1, 2]);
    expect(await env.driver.stat(manifestRevisionLinkPath('gone/repo', image.digest))).toBeUndefined();
    expect(await env.driver.walk('repositories/gone/repo')[Symbol.asyncIterator]().next()).toEqual({ done: true, value: undefined });
  });

  test('a caller that may wait (retention) gets its run once the running collection ends', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const first = env.collector(() => held).collect({ dryRun: false });
    await sleep(200);
    const second = env.collector().collect({ dryRun: true, waitMs: 20_000 });
    await sleep(600);
    release();
    const [a, b] = await Promise.all([first, second]);
    expect([a.dryRun, b.dryRun, Date.parse(b.startedAt) >= Date.parse(a.finishedAt)]).toEqual([false, true, true]);
  });
});

test('Redis down: the store writes and links without waiting on touches, and no collection starts', async () => {
  const port = await freePort();
  const coordinator = new RedisGcCoordinator({ url: `redis://127.0.0.1:${port}`, prefix: uniquePrefix('gc-down'), touchRetentionMs: 60_000 });
  const dir = await tempDir('gc-down-');
  dirs.push(dir);
  try {
    const store = new RegistryStore(new FilesystemDriver(dir.path), { touches: coordinator });
    const bytes = randomBytes(100);
    const started = Date.now();
    const writer = await store.createBlobWriter({ digest: digestOf(bytes) });
    writer.end(bytes);
    await writer.commit();
    await store.linkBlob('down/repo', digestOf(bytes));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await store.statRepositoryBlob('down/repo', digestOf(bytes))).toEqual({ size: 100 });
    await expect(new GarbageCollector(store.driver, coordinator, { graceMs: 0 }).collect({ dryRun: true })).rejects.toThrow();
    expect(await store.statBlob(digestOf(bytes))).toEqual({ size: 100 });
  } finally {
    coordinator.close();
  }
});
