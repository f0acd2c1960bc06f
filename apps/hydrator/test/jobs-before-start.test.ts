import type { Queue } from 'bullmq';
import { createGcQueue, enqueueGc, GC_QUEUE } from '@pullthrough/hydration-jobs';
import { silentLogger } from '@pullthrough/pull-through';
import { startRedis, tempDir, uniquePrefix, waitUntil, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startHydrator, type RunningHydrator } from '../src/hydrator.js';
import { hydratorConfigFor } from './harness.js';

// Jobs already queued when a hydrator starts (a restart, a scale-up under a backlog) are taken only
// once the process is wired: each one it finishes is in its metrics.

let redis: RedisServer;
let data: TempDir;
let hydrator: RunningHydrator | undefined;
let queue: Queue;
const prefix = uniquePrefix('jobs-before-start');

beforeAll(async () => {
  [redis, data] = await Promise.all([startRedis(), tempDir('jobs-before-start-')]);
  queue = createGcQueue({ host: redis.host, port: redis.port, maxRetriesPerRequest: null }, prefix);
}, 60_000);
afterAll(async () => {
  await hydrator?.close();
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
