import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { createGcQueue } from '@pullthrough/hydration-jobs';
import { silentLogger, type GcReport } from '@pullthrough/pull-through';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { startRedis, tempDir, uniquePrefix, waitUntil, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startHydrator, type RunningHydrator } from '../src/hydrator.js';
import { hydratorConfigFor, storeOldOrphan } from './harness.js';

/** Two hydrators on one Redis and one store, both scheduling collections every 2 s: each firing runs once, one at a time. */

let redis: RedisServer;
let data: TempDir;
let hydrators: RunningHydrator[] = [];
let queue: Queue;
const prefix = uniquePrefix('gc-schedule');

beforeAll(async () => {
  [redis, data] = await Promise.all([startRedis(), tempDir('gc-schedule-')]);
  const config = hydratorConfigFor(redis, data.path, prefix, { PULLTHROUGH_GC_SCHEDULE: '*/2 * * * * *', PULLTHROUGH_GC_GRACE_MINUTES: '1' });
  hydrators = await Promise.all([startHydrator(config, silentLogger), startHydrator(config, silentLogger)]);
  queue = createGcQueue({ host: redis.host, port: redis.port, maxRetriesPerRequest: null }, prefix);
}, 60_000);
afterAll(async () => {
  await Promise.all(hydrators.map((h) => h.close()));
  await queue?.close();
  await data?.remove();
  await redis?.stop();
});

async function runsOf(h: RunningHydrator): Promise<number> {
  const text = await (await fetch(`${h.probeUrl}/metrics`)).text();
  return [...text.matchAll(/^pullthrough_gc_runs_total\{mode="(?:sweep|dry-run)"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

test('the scheduled collection runs once per firing across two hydrators, never two at a time, and frees an old orphan', async () => {
  // An orphan blob, linked to a repository, written two hours ago (past the one-minute grace).
  const store = new RegistryStore(new FilesystemDriver(data.path));
  const digest = await storeOldOrphan(store, data.path, 'old/repo', randomBytes(4096), new Date(Date.now() - 2 * 3600_000));

  await waitUntil(async () => (await queue.getJobs(['completed'])).length >= 3, { what: 'three scheduled collections', timeoutMs: 30_000, intervalMs: 200 });
  // Stop the firings from starting, and let a running one finish: then the counts are still.
  await queue.pause();
  await waitUntil(async () => (await queue.getJobs(['active'])).length === 0, { what: 'the running collection to end', timeoutMs: 30_000, intervalMs: 100 });
  // Both hydrators upserted the same schedule: one scheduler.
  expect((await queue.getJobSchedulers()).map((s) => s.key)).toEqual(['scheduled-gc']);
  const jobs = (await queue.getJobs(['completed'])).sort((a, b) => a.processedOn! - b.processedOn!);
  expect(await queue.getJobs(['failed'])).toEqual([]);
  // One job per firing (distinct ids), each run once, none overlapping another.
  expect(new Set(jobs.map((j) => j.id)).size).toBe(jobs.length);
  for (const j of jobs) expect([j.id, j.attemptsMade]).toEqual([j.id, 1]);
  for (let i = 1; i < jobs.length; i++) expect(jobs[i]!.processedOn!).toBeGreaterThanOrEqual(jobs[i - 1]!.finishedOn!);
  // The two processes together ran exactly one collection per finished job.
  const runs = await Promise.all(hydrators.map(runsOf));
  expect(runs[0]! + runs[1]!).toBe(jobs.length);
  // One run freed the orphan and its link (an earlier one may have scanned before it was two hours old).
  const reports = jobs.map((j) => j.returnvalue as GcReport);
  expect(reports.every((r) => r.dryRun === false)).toBe(true);
  expect(reports.filter((r) => r.freed.count > 0).map((r) => r.freed)).toEqual([{ count: 1, bytes: 4096, links: 1 }]);
  expect(await store.statBlob(digest)).toBeUndefined();
  expect(await store.isBlobLinked('old/repo', digest)).toBe(false);
}, 60_000);
