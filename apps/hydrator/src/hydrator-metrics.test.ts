import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { formatHydrationFailure, HYDRATION_QUEUE } from '@pullthrough/hydration-jobs';
import { startRedis, uniquePrefix, waitUntil, type RedisServer } from '@pullthrough/test-support';
import { WEBHOOK_QUEUE } from '@pullthrough/webhooks';
import type { Registry } from 'prom-client';
import { createHydratorMetrics } from './hydrator-metrics.js';

// The hydrator's job metrics, fed by real BullMQ workers on a real redis-server: durations per
// queue and outcome, hydration failures by category, fetched bytes, webhook delivery outcomes.

let redis: RedisServer;
let connection: Redis;
let queues: Queue[];
let workers: Worker[];
let registry: Registry;

/** The sum of the scraped samples of `name` whose labels include `labels` (0 when none). */
async function value(name: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0;
  for (const line of (await registry.metrics()).split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

beforeAll(async () => {
  redis = await startRedis();
  connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const prefix = uniquePrefix('hmetrics');
  queues = [new Queue(HYDRATION_QUEUE, { connection, prefix }), new Queue(WEBHOOK_QUEUE, { connection, prefix })];
  const hydrate = async (job: Job) => {
    await new Promise((r) => setTimeout(r, 30));
    if (job.data.outcome === 'not-found') throw new UnrecoverableError(formatHydrationFailure({ code: 'MANIFEST_UNKNOWN', category: 'upstream-not-found', message: 'gone' }));
    if (job.data.outcome === 'odd') throw new Error('a failure not written by formatHydrationFailure');
    return { manifests: 1, blobs: 2, blobsFetched: 2, bytesFetched: job.data.bytes as number };
  };
  const deliver = async (job: Job) => {
    if (job.data.outcome === 'skip') return { skipped: 'webhook deleted' };
    if (job.data.outcome === 'fail') throw new Error('receiver answered 500');
    return { statusCode: 204 };
  };
  workers = [new Worker(HYDRATION_QUEUE, hydrate, { connection, prefix }), new Worker(WEBHOOK_QUEUE, deliver, { connection, prefix })];
  registry = createHydratorMetrics(queues, workers, () => true, () => [{ upstream: 'registry.example', status: '2xx', count: 3 }]).registry;
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await Promise.all(queues.map((q) => q.close()));
  connection.disconnect();
  await redis.stop();
});

test('job durations, failures by category, fetched bytes and webhook outcomes move with the jobs', async () => {
  const [hydration, webhooks] = queues as [Queue, Queue];
  expect(await value('pullthrough_hydration_fetched_bytes_total')).toBe(0);
  await hydration.add('hydrate', { outcome: 'ok', bytes: 1000 }, { attempts: 1 });
  await hydration.add('hydrate', { outcome: 'ok', bytes: 234 }, { attempts: 1 });
  await hydration.add('hydrate', { outcome: 'not-found' }, { attempts: 3 });
  await hydration.add('hydrate', { outcome: 'odd' }, { attempts: 1 });
  await webhooks.add('deliver', { outcome: 'ok' }, { attempts: 1 });
  await webhooks.add('deliver', { outcome: 'skip' }, { attempts: 1 });
  await webhooks.add('deliver', { outcome: 'fail' }, { attempts: 1 });
  await waitUntil(async () => (await value('pullthrough_jobs_total', { queue: HYDRATION_QUEUE })) === 4 && (await value('pullthrough_jobs_total', { queue: WEBHOOK_QUEUE })) === 3, { what: 'seven finished jobs' });

  expect(await value('pullthrough_job_duration_seconds_count', { queue: HYDRATION_QUEUE, outcome: 'completed' })).toBe(2);
  expect(await value('pullthrough_job_duration_seconds_count', { queue: HYDRATION_QUEUE, outcome: 'failed' })).toBe(2);
  // Each hydration attempt slept 30 ms: the sum of the two completed ones is at least 60 ms.
  expect(await value('pullthrough_job_duration_seconds_sum', { queue: HYDRATION_QUEUE, outcome: 'completed' })).toBeGreaterThanOrEqual(0.05);
  expect(await value('pullthrough_job_duration_seconds_count', { queue: WEBHOOK_QUEUE, outcome: 'completed' })).toBe(2);
  expect(await value('pullthrough_hydration_failures_total', { category: 'upstream-not-found' })).toBe(1);
  expect(await value('pullthrough_hydration_failures_total', { category: 'hydration' })).toBe(1);
  expect(await value('pullthrough_hydration_fetched_bytes_total')).toBe(1234);
  expect(await value('pullthrough_webhook_deliveries_total', { outcome: 'delivered' })).toBe(1);
  expect(await value('pullthrough_webhook_deliveries_total', { outcome: 'skipped' })).toBe(1);
  expect(await value('pullthrough_webhook_deliveries_total', { outcome: 'failed' })).toBe(1);
  expect(await value('pullthrough_upstream_responses_total', { upstream: 'registry.example', status: '2xx' })).toBe(3);
  // Labels stay bounded: the scrape names no job data.
  expect(await registry.metrics()).not.toMatch(/gone|receiver answered|formatHydrationFailure/);
});
