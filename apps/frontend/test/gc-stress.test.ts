import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { GarbageCollector, RedisGcCoordinator, type GcReport } from '@pullthrough/pull-through';
import { azureBlobDriverFrom, blobDataPath, blobPrefix, FilesystemDriver, layerLinkPath, RegistryStore, scanBlobs, type StorageDriver } from '@pullthrough/storage';
import {
  registryClientFor,
  startAzurite,
  startCountingProxy,
  startRegistry,
  tempDir,
  type Azurite,
  type CountingProxy,
  type RedisServer,
  type TempDir,
  type UpstreamRegistry,
} from '@pullthrough/test-support';
import { memoryLogger } from './memory-logger.js';
import { putRule, startCache, startRedis, writeHtpasswd, type Cache } from './harness.js';
import { startHydratorProcess, type HydratorProcess } from './hydrator-process.js';
import { admin, basic, PASSWORDS, PushClient } from './push-helpers.js';
import { chunkedPush, makeImage, pullImage, pushUpstream, randomBlob, recordingDeletes, sleep, type Blob, type Image } from './gc-stress-helpers.js';

/**
 * Garbage collection racing everything at once, round after round, on real storage (filesystem, and
 * Azure Blob through Azurite), real Redis, a real docker-registry upstream (slowed, so a pull's blob
 * stream is in flight while collections run) and a real hydrator process. Each round plants old blobs
 * nothing refers to: orphans nobody will use, and "re-used" blobs the round's images share. Then, at once:
 * a client pulls a cold image through the cache rule, another pushes an image into a local repository
 * with chunked uploads (several PATCHes with pauses), and the hydrator hydrates a prefetched image,
 * the three images all naming re-used blobs, while collections (real, not dry) run one after another,
 * each pausing a random while between its mark and its sweep. After each round: every image so far is
 * whole (in the store, and read back through the frontend with every digest checked, none from the
 * upstream), the store holds exactly the blobs those images name (the orphans are gone), and the
 * collections' reports add up to exactly what they deleted.
 */

const RULE = 'gc-stress';
const CHUNKS = 3;
const PAUSE_MS = 100;
const ALICE = basic('alice', PASSWORDS.alice);
const POLICY = { grants: [{ users: ['alice'], repositories: ['local/*', 'cached/*'], actions: ['pull', 'push'] }] };
const random = (ms: number) => Math.floor(Math.random() * ms);

interface Round {
  orphans: Blob[];
  /** Orphans also linked to a repository no manifest names them in. */
  linked: Blob[];
  junk: string;
  reused: Blob[];
  pull: Image;
  hydrate: Image;
  push: Image;
}

function makeRound(name: string, r: number, pushShared: boolean): Round {
  const [shared, forPull, forPush, forHydrate] = [48, 32, 40, 36].map((k) => randomBlob(k * 1024 + r));
  const orphans = [8, 16, 24, 12].map((k) => randomBlob(k * 1024 + r));
  return {
    orphans,
    linked: orphans.slice(0, 2),
    junk: `junk/${name}-${r}`,
    reused: [shared!, forPull!, forPush!, forHydrate!],
    pull: makeImage(`cached/${name}-pull-${r}`, `${name} pull ${r}`, [randomBlob(640 * 1024), forPull!, shared!]),
    hydrate: makeImage(`cached/${name}-hydrate-${r}`, `${name} hydrate ${r}`, [randomBlob(256 * 1024), forHydrate!, shared!]),
    push: makeImage(`local/${name}-push-${r}`, `${name} push ${r}`, [randomBlob(384 * 1024), forPush!, ...(pushShared ? [shared!] : [])]),
  };
}
const upstreamName = (image: Image) => image.repository.replace(/^cached\//, 'up/');

interface Backend {
  name: string;
  rounds: number;
  /**
   * The collections' grace period: short enough for a test (the apps take minutes, PULLTHROUGH_GC_GRACE_MINUTES,
   * at least 1), longer than a push takes from its first blob's commit to its manifest.
   */
  graceMs: number;
  /** The pushed image names the blob the pulled and hydrated images share too (so a push may commit it while a pull-through fetch writes it). */
  pushShared: boolean;
  /** The apps' storage settings, and the driver the test reads the same store with. */
  setup(): Promise<{ env: Record<string, string>; driverFor(cache: Cache): StorageDriver }>;
  /** Make what was just planted older than the grace period (and untouched longer). */
  age(cache: Cache, paths: string[], graceMs: number): Promise<void>;
}

let redis: RedisServer;
let registry: UpstreamRegistry;
let proxy: CountingProxy;
let azurite: Azurite;
let dir: TempDir;
let htpasswd: string;

const BACKENDS: Backend[] = [
  {
    name: 'fs',
    rounds: 8,
    graceMs: 5000,
    pushShared: true,
    setup: async () => ({ env: {}, driverFor: (cache) => new FilesystemDriver(cache.dataDir) }),
    age: async (cache, paths) => {
      const hourAgo = new Date(Date.now() - 3600_000);
      for (const p of paths) await utimes(join(cache.dataDir, p), hourAgo, hourAgo);
    },
  },
  {
    name: 'az',
    rounds: 3,
    graceMs: 3000,
    pushShared: true,
    setup: async () => {
      const env = { PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: azurite.connectionString, PULLTHROUGH_AZURE_BLOB_CONTAINER: azurite.uniqueContainer() };
      const driver = azureBlobDriverFrom({ ...env, PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_DATA_DIR: '', PULLTHROUGH_AZURE_CREDENTIAL: 'default' });
      await driver.ensureContainer();
      return { env, driverFor: () => driver };
    },
    // Last-Modified cannot be set: wait the grace period out (Last-Modified has whole seconds).
    age: (_cache, _paths, graceMs) => sleep(graceMs + 1500),
  },
];
const ROUNDS = new Map(BACKENDS.map((b) => [b.name, Array.from({ length: b.rounds }, (_, r) => makeRound(b.name, r, b.pushShared))]));

beforeAll(async () => {
  [redis, registry, azurite, dir] = await Promise.all([startRedis(), startRegistry(), startAzurite(), tempDir('gc-stress-')]);
  // The upstream as the cache sees it: slowed, so blob streams last while collections run.
  proxy = await startCountingProxy(registry.url, { delayMs: 20, bytesPerSecond: 1536 * 1024 });
  htpasswd = await writeHtpasswd(dir.path, PASSWORDS);
  const client = registryClientFor(registry);
  for (const round of [...ROUNDS.values()].flat()) for (const image of [round.pull, round.hydrate]) await pushUpstream(client, upstreamName(image), image);
}, 120_000);
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([registry?.stop(), azurite?.stop(), redis?.stop()]);
  await dir?.remove();
});

interface Run {
  report: GcReport;
  startedAt: number;
  endedAt: number;
}

describe.each(BACKENDS)('GC racing a pull, a chunked push and a hydration ($name)', (backend) => {
  let cache: Cache;
  let hydrator: HydratorProcess;
  let coordinator: RedisGcCoordinator;
  let driver: StorageDriver;
  let alice: PushClient;
  const deleted: string[] = [];
  const log = memoryLogger();
  /** What the frontend logged as unexpected (a 500), to name the cause when a request failed. */
  const unexpected = () => log.lines.filter((l) => l.msg === 'unexpected error').map((l) => JSON.stringify(l.err));

  beforeAll(async () => {
    const { env, driverFor } = await backend.setup();
    // A pull's hydration starts while its client still reads the blobs (the default waits 5 s for it to finish).
    cache = await startCache(redis, [proxy.host], { ...env, PULLTHROUGH_HTPASSWD_FILE: htpasswd, PULLTHROUGH_HYDRATION_DELAY_MS: '200' }, {}, undefined, log.logger);
    driver = driverFor(cache);
    alice = new PushClient(cache, ALICE);
    expect((await admin(cache, '/access-policy', 'PUT', POLICY)).status).toBe(200);
    expect((await putRule(cache, { name: RULE, sourceRepository: `${proxy.host}/up/*`, targetRepository: 'cached/*' })).status).toBe(201);
    hydrator = await startHydratorProcess({
      ...env,
      REDIS_URL: redis.url,
      PULLTHROUGH_QUEUE_PREFIX: cache.queuePrefix,
      PULLTHROUGH_DATA_DIR: cache.dataDir,
      PULLTHROUGH_INSECURE_UPSTREAMS: proxy.host,
      PULLTHROUGH_GC_SCHEDULE: 'off',
      PULLTHROUGH_RETENTION_SCHEDULE: 'off',
    });
    // The collector runs here, as a hydrator's would: its own Redis connection, the apps' key prefix.
    coordinator = new RedisGcCoordinator({ url: redis.url, prefix: cache.queuePrefix, touchRetentionMs: 600_000 });
  }, 90_000);
  afterAll(async () => {
    coordinator?.close();
    await hydrator?.stop();
    await cache?.stop();
  });

  const hydrated = async (image: Image) => {
    const res = await admin(cache, `/hydrations?repository=${image.repository}&reference=${image.digest}&wait=60`);
    const status = (await res.json()) as { state: string; failure?: unknown };
    if (status.state !== 'hydrated') throw new Error(`hydration of ${image.repository}@${image.digest}: ${JSON.stringify(status)}`);
  };
  const prefetchAndWait = async (image: Image) => {
    const res = await admin(cache, `/cache-rules/${RULE}/prefetch`, 'POST', { repository: image.repository, references: [image.tag] });
    const body = (await res.json()) as { prefetch: Array<{ digest?: string }> };
    if (res.status !== 202 || body.prefetch[0]?.digest !== image.digest) throw new Error(`prefetch ${image.repository}: ${res.status} ${JSON.stringify(body)}`);
    await hydrated(image);
  };

  /** Blobs committed and linked as if long ago (no touch recorded), then aged past the grace period. */
  const plant = async (round: Round) => {
    const past = new RegistryStore(driver);
    const paths: string[] = [];
    for (const b of [...round.orphans, ...round.reused]) {
      const writer = await past.createBlobWriter({ digest: b.digest, size: b.size });
      writer.end(b.bytes);
      await writer.commit();
      paths.push(blobDataPath(b.digest));
    }
    for (const b of round.linked) {
      await past.linkBlob(round.junk, b.digest);
      paths.push(layerLinkPath(round.junk, b.digest));
    }
    await backend.age(cache, paths, backend.graceMs);
  };

  /** Collections one after another (each pausing a random while between mark and sweep) until `busy` settles; at least one. */
  const collectWhile = async (busy: Promise<unknown>, collector: GarbageCollector): Promise<Run[]> => {
    let settled = false;
    busy.then(
      () => (settled = true),
      () => (settled = true),
    );
    const runs: Run[] = [];
    do {
      const startedAt = Date.now();
      const report = await collector.collect({ dryRun: false, waitMs: 30_000 });
      runs.push({ report, startedAt, endedAt: Date.now() });
    } while (!settled);
    return runs;
  };

  /** Whole in the store: the manifest and every blob it names, linked to its repository and stored with its size. */
  const checkStored = async (image: Image) => {
    const view = new RegistryStore(driver);
    expect([image.repository, (await view.statManifest(image.repository, image.digest))?.size]).toEqual([image.repository, image.manifest.length]);
    for (const b of image.blobs) expect([image.repository, b.digest, await view.statRepositoryBlob(image.repository, b.digest)]).toEqual([image.repository, b.digest, { size: b.size }]);
  };

  test(`${backend.rounds} rounds: nothing in use is deleted, the orphans are freed, and the reports say exactly what went`, async () => {
    const rounds = ROUNDS.get(backend.name)!;
    const images: Image[] = [];
    let racedReused = 0;
    let keptTouched = 0;
    // The sweep waits a random while after the mark: pulls, commits, links and manifests land before, during or after it.
    const collector = new GarbageCollector(recordingDeletes(driver, deleted), coordinator, {
      graceMs: backend.graceMs,
      concurrency: 4,
      afterMark: () => sleep(random(800)),
    });
    for (const [r, round] of rounds.entries()) {
      await plant(round);
      deleted.length = 0;
      proxy.reset();
      const ops = Promise.all([
        sleep(random(400)).then(async () => {
          await pullImage(alice, round.pull);
          await hydrated(round.pull);
        }),
        sleep(random(400)).then(() => chunkedPush(alice, round.push, CHUNKS, PAUSE_MS)),
        sleep(random(400)).then(() => prefetchAndWait(round.hydrate)),
      ]);
      const runs = await collectWhile(ops, collector);
      await ops.catch((err: Error) => {
        throw new Error(`round ${r}: ${err.message}; the frontend logged: ${unexpected().join('; ') || 'nothing unexpected'}`);
      });
      images.push(round.pull, round.push, round.hydrate);

      // A collection ran while the pull's big layer streamed from the upstream.
      const streams = proxy.requests.filter((q) => q.method === 'GET' && q.kind === 'blob' && q.reference === round.pull.blobs[1]!.digest);
      expect([r, streams.some((s) => runs.some((run) => run.startedAt < (s.endedAt ?? Infinity) && run.endedAt > (s.firstByteAt ?? Infinity)))]).toEqual([r, true]);

      // Nothing in use lost: every image so far whole in the store; this round's read back through the frontend from local storage.
      for (const image of images) await checkStored(image);
      const upstreamRequests = proxy.requests.length;
      for (const image of [round.pull, round.push, round.hydrate]) await pullImage(alice, image, image.digest);
      expect([r, proxy.requests.slice(upstreamRequests).map((q) => `${q.method} ${q.path}`)]).toEqual([r, []]);

      // Unreferenced blobs freed: the store holds exactly what the images name.
      const expected = new Set(images.flatMap((i) => [i.digest, ...i.blobs.map((b) => b.digest)]));
      expect([r, [...(await scanBlobs(driver)).keys()].sort()]).toEqual([r, [...expected].sort()]);

      // The reports add up to exactly what the collections deleted: every orphan (with its links), and maybe re-used
      // blobs before anything used them (their users then stored them again); nothing else.
      const candidates = new Map([...round.orphans, ...round.reused].map((b) => [blobPrefix(b.digest), b]));
      const blobDeletes = deleted.filter((p) => p.startsWith('blobs/'));
      expect([r, blobDeletes.filter((p) => !candidates.has(p))]).toEqual([r, []]);
      const freed = blobDeletes.map((p) => candidates.get(p)!);
      expect([r, round.orphans.filter((o) => !freed.includes(o)).map((o) => o.digest)]).toEqual([r, []]);
      const sum = (f: (report: GcReport) => number) => runs.reduce((n, run) => n + f(run.report), 0);
      expect([r, sum((x) => x.freed.count), sum((x) => x.freed.bytes)]).toEqual([r, freed.length, freed.reduce((n, b) => n + b.size, 0)]);
      const linkDeletes = deleted.filter((p) => !p.startsWith('blobs/')).sort();
      expect([r, linkDeletes]).toEqual([r, round.linked.map((b) => layerLinkPath(round.junk, b.digest)).sort()]);
      expect([r, sum((x) => x.freed.links), sum((x) => x.danglingLinks)]).toEqual([r, round.linked.length, 0]);
      expect([r, unexpected()]).toEqual([r, []]);
      racedReused += freed.length - round.orphans.length;
      keptTouched += sum((x) => x.kept.touched);
    }
    // The races happened: some re-used blob was freed before its user came, or kept because a user touched it.
    expect(racedReused + keptTouched).toBeGreaterThan(0);
    // Every image of every round still pulls whole through the frontend.
    for (const image of images) await pullImage(alice, image, image.digest);
  }, 150_000);
});
