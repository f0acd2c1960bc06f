import { Queue } from 'bullmq';
import { CACHE_RULES_KIND } from '@pullthrough/cache-rules';
import { createGcQueue, enqueueGc, GC_QUEUE, RETENTION_QUEUE } from '@pullthrough/hydration-jobs';
import { digestOf } from '@pullthrough/oci';
import { silentLogger } from '@pullthrough/pull-through';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { startRedis, tempDir, uniquePrefix, waitUntil, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startHydrator, type RunningHydrator } from '../src/hydrator.js';
import { hydratorConfigFor } from './harness.js';

// Jobs already queued when a hydrator starts (a restart, a scale-up under a backlog) are taken only
// once the process is wired: each one it finishes is in its metrics.

let redis: RedisServer;
let data: TempDir;
let hydrator: RunningHydrator | undefined;
let retentionHydrator: RunningHydrator | undefined;
let queue: Queue;
const prefix = uniquePrefix('jobs-before-start');

beforeAll(async () => {
  [redis, data] = await Promise.all([startRedis(), tempDir('jobs-before-start-')]);
  queue = createGcQueue({ host: redis.host, port: redis.port, maxRetriesPerRequest: null }, prefix);
}, 60_000);
afterAll(async () => {
  await hydrator?.close();
  await retentionHydrator?.close();
  await queue?.close();
  await data?.remove();
  await redis?.stop();
});

test('collections queued before the hydrator started are run by it and counted in its metrics', async () => {
  const ids = [await enqueueGc(queue, { dryRun: true, requestedBy: 'test' }), await enqueueGc(queue, { dryRun: false, requestedBy: 'test' })];
  hydrator = await startHydrator(hydratorConfigFor(redis, data.path, prefix), silentLogger);
  await waitUntil(async () => (await queue.getJobs(['completed'])).length === ids.length, { what: 'the queued collections to run', timeoutMs: 30_000, intervalMs: 50 });
  expect((await queue.getJobs(['completed'])).map((j) => j.id).sort()).toEqual([...ids].sort());
  const text = await (await fetch(`${hydrator.probeUrl}/metrics`)).text();
  const sample = (series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1));
  expect({
    dryRuns: sample('pullthrough_gc_runs_total{mode="dry-run"}'),
    sweeps: sample('pullthrough_gc_runs_total{mode="sweep"}'),
    completed: sample(`pullthrough_jobs_total{queue="${GC_QUEUE}",outcome="completed"}`),
  }).toEqual({ dryRuns: 1, sweeps: 1, completed: 2 });
}, 60_000);

test('a retention pass queued before the hydrator started runs once it is wired: the collection it starts is in its metrics', async () => {
  const retentionPrefix = uniquePrefix('retention-before-start');
  const dir = await tempDir('retention-before-start-');
  const store = new RegistryStore(new FilesystemDriver(dir.path));
  // Something to evict: a cached repository with two tags, one checked an hour ago, and a limit of one tag.
  await store.putControl(CACHE_RULES_KIND, 'cached-rule', { name: 'cached-rule', sourceRepository: 'registry.example/team/*', targetRepository: 'cached/*' });
  for (const [tag, at] of [['old', new Date(Date.now() - 3_600_000)], ['new', new Date()]] as const) {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(Buffer.from(tag)), size: tag.length }, layers: [] }));
    const { digest } = await store.putManifest('cached/app', { digest: digestOf(bytes), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes });
    await store.putTag('cached/app', tag, digest, at);
  }
  const retention = new Queue(RETENTION_QUEUE, { connection: { host: redis.host, port: redis.port }, prefix: retentionPrefix });
  try {
    await retention.add('retention-pass', {});
    const completed = async () => (await retention.getCompleted()).length;
    const config = hydratorConfigFor(redis, dir.path, retentionPrefix, { PULLTHROUGH_RETENTION_SCHEDULE: 'off', PULLTHROUGH_RETENTION_MAX_TAGS: '1' });
    // Start-up held once the workers exist, for as long as the pass would take if it were taken then.
    const workersMade = () => waitUntil(async () => (await completed()) > 0, { what: 'a pass during start-up', timeoutMs: 3_000, intervalMs: 50 }).catch(() => undefined);
    retentionHydrator = await startHydrator(config, silentLogger, {}, { workersMade });
    await waitUntil(async () => (await completed()) > 0, { what: 'the queued retention pass', timeoutMs: 30_000, intervalMs: 50 });
    expect(await store.listTags('cached/app')).toEqual(['new']);
    const text = await (await fetch(`${retentionHydrator.probeUrl}/metrics`)).text();
    expect(/^pullthrough_gc_runs_total\{mode="sweep"\} (\d+)$/m.exec(text)?.[1]).toBe('1');
  } finally {
    await retentionHydrator?.close();
    retentionHydrator = undefined;
    await retention.close();
    await dir.remove();
  }
}, 60_000);
