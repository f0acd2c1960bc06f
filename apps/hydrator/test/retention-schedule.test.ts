import { Queue } from 'bullmq';
import { CACHE_RULES_KIND } from '@pullthrough/cache-rules';
import { RETENTION_QUEUE } from '@pullthrough/hydration-jobs';
import { digestOf } from '@pullthrough/oci';
import { silentLogger } from '@pullthrough/pull-through';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { startRedis, tempDir, uniquePrefix, waitUntil, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startHydrator, type RunningHydrator } from '../src/hydrator.js';
import { hydratorConfigFor } from './harness.js';

// The scheduled retention pass: two hydrators on one Redis and one store upsert the same BullMQ job
// scheduler, so each tick is one job run by one of them (not one per replica), and the pass evicts.

let redis: RedisServer;
let dir: TempDir;
const hydrators: RunningHydrator[] = [];

beforeAll(async () => {
  redis = await startRedis();
  dir = await tempDir('retention-schedule-');
}, 60_000);
afterAll(async () => {
  await Promise.all(hydrators.map((h) => h.close()));
  await redis?.stop();
  await dir?.remove();
});

/** A cached repository with two tags (`old` checked long ago, `new` now) on distinct manifests. */
async function seed(store: RegistryStore): Promise<void> {
  await store.putControl(CACHE_RULES_KIND, 'cached-rule', { name: 'cached-rule', sourceRepository: 'registry.example/team/*', targetRepository: 'cached/*' });
  for (const [tag, at] of [['old', new Date(Date.now() - 3_600_000)], ['new', new Date()]] as const) {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(Buffer.from(tag)), size: tag.length }, layers: [] }));
    const { digest } = await store.putManifest('cached/app', { digest: digestOf(bytes), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes });
    await store.putTag('cached/app', tag, digest, at);
  }
}

test('two hydrators: one job per tick, each run once; the pass evicts beyond PULLTHROUGH_RETENTION_MAX_TAGS', async () => {
  const prefix = uniquePrefix('retention');
  const store = new RegistryStore(new FilesystemDriver(dir.path));
  await seed(store);
  const config = hydratorConfigFor(redis, dir.path, prefix, { PULLTHROUGH_RETENTION_SCHEDULE: 'every 1s', PULLTHROUGH_RETENTION_MAX_TAGS: '1' });
  hydrators.push(await startHydrator(config, silentLogger), await startHydrator(config, silentLogger));
  const queue = new Queue(RETENTION_QUEUE, { connection: { host: redis.host, port: redis.port }, prefix });
  try {
    await waitUntil(async () => (await queue.getCompleted()).length >= 4, { what: 'four scheduled retention passes', timeoutMs: 20_000 });
    // Paused workers finish the pass they run; then every pass is in the completed list.
    await Promise.all(hydrators.map((h) => h.retention.worker.pause()));
    const jobs = await queue.getCompleted();
    // Every job comes from the one scheduler, one per tick: their times are a tick apart, never twice in one.
    const ticks = jobs.map((j) => Number(/^repeat:retention-pass:(\d+)$/.exec(j.id ?? '')?.[1])).sort((a, b) => a - b);
    expect(ticks.every((t) => Number.isFinite(t))).toBe(true);
    ticks.slice(1).forEach((t, i) => expect(t - ticks[i]!).toBeGreaterThanOrEqual(900));
    // Each job ran exactly once, on one of the two hydrators.
    const ran = jobs.filter((j) => (j.returnvalue as { skipped?: string }).skipped === undefined).length;
    expect(ran).toBeGreaterThanOrEqual(4);
    expect(hydrators[0]!.retention.runs + hydrators[1]!.retention.runs).toBe(ran);
    expect(await store.listTags('cached/app')).toEqual(['new']);
    // The pass that evicted freed what it left unreferenced with a collection of its own, counted in that hydrator's GC metrics.
    const sweeps = await Promise.all(
      hydrators.map(async (h) => Number(/^pullthrough_gc_runs_total\{mode="sweep"\} (\d+)$/m.exec(await (await fetch(`${h.probeUrl}/metrics`)).text())?.[1] ?? 0)),
    );
    expect(sweeps[0]! + sweeps[1]!).toBeGreaterThanOrEqual(1);
  } finally {
    await queue.close();
  }
}, 60_000);

test('a cron pattern (6 fields, every second, UTC): each tick is a whole second, the next run computed by utcRepeatStrategy', async () => {
  const prefix = uniquePrefix('retention-cron');
  const config = hydratorConfigFor(redis, dir.path, prefix, { PULLTHROUGH_RETENTION_SCHEDULE: '*/1 * * * * *' });
  const hydrator = await startHydrator(config, silentLogger);
  hydrators.push(hydrator);
  const queue = new Queue(RETENTION_QUEUE, { connection: { host: redis.host, port: redis.port }, prefix });
  try {
    await waitUntil(async () => (await queue.getCompleted()).length >= 3, { what: 'three passes on the cron pattern', timeoutMs: 20_000 });
    await hydrator.retention.worker.pause();
    const ticks = (await queue.getCompleted()).map((j) => Number(/^repeat:retention-pass:(\d+)$/.exec(j.id ?? '')?.[1])).sort((a, b) => a - b);
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    for (const t of ticks) expect(t % 1000).toBe(0);
    ticks.slice(1).forEach((t, i) => expect(t - ticks[i]!).toBeGreaterThanOrEqual(1000));
    // The scheduler's next run is the next whole second after the last tick, as cron-parser would say.
    const scheduler = await queue.getJobScheduler('retention-pass');
    expect(scheduler?.pattern).toBe('*/1 * * * * *');
    expect(scheduler?.next).toBeGreaterThan(ticks.at(-1)!);
    expect(scheduler!.next! % 1000).toBe(0);
  } finally {
    await queue.close();
  }
}, 60_000);
