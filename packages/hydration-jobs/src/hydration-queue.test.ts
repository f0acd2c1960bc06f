import { Worker, UnrecoverableError } from 'bullmq';
import { Redis } from 'ioredis';
import { startRedis, uniquePrefix, waitUntil, type RedisServer } from '@pullthrough/test-support';
import {
  createHydrationQueue,
  enqueueHydration,
  formatHydrationFailure,
  HYDRATION_QUEUE,
  HydrationStatusReader,
  parseHydrationFailure,
  RegistrySemaphore,
  type HydrationJobInput,
} from './index.js';

// Real redis-server and BullMQ: re-enqueue of failed jobs, the status reader, the registry semaphore.

let redis: RedisServer;
let client: Redis;
beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
}, 30_000);
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

const digest = 'sha256:' + 'cd'.repeat(32);
const input: HydrationJobInput = {
  downstreamRepository: 'mirror/app',
  ruleName: 'rule1',
  upstreamRegistry: 'r.example',
  upstreamRepository: 'app',
  digest,
  enqueuedAt: new Date().toISOString(),
};
const connection = () => ({ host: redis.host, port: redis.port, maxRetriesPerRequest: null });

test('failure records round-trip; foreign reasons read as category hydration', () => {
  const f = { code: 'MANIFEST_UNKNOWN', category: 'upstream-not-found' as const, message: 'gone: really' };
  expect(parseHydrationFailure(formatHydrationFailure(f))).toEqual(f);
  expect(parseHydrationFailure('job stalled more than allowable limit')).toEqual({ code: 'UNKNOWN', category: 'hydration', message: 'job stalled more than allowable limit' });
});

test('status goes unknown -> queued -> failed; enqueueing a failed job runs it again with fresh attempts', async () => {
  const prefix = uniquePrefix('hj-status');
  const queue = createHydrationQueue({ connection: connection(), prefix, attempts: 3 });
  const reader = new HydrationStatusReader(queue, { pollIntervalMs: 20 });
  let runs = 0;
  const worker = new Worker(
    HYDRATION_QUEUE,
    async () => {
      runs++;
      if (runs === 1) throw new UnrecoverableError(formatHydrationFailure({ code: 'MANIFEST_UNKNOWN', category: 'upstream-not-found', message: 'not found upstream' }));
      return { manifests: 1, blobs: 0, blobsFetched: 0, bytesFetched: 0 };
    },
    { connection: connection(), prefix, autorun: false },
  );
  try {
    expect((await reader.get('mirror/app', digest)).state).toBe('unknown');
    const id = await enqueueHydration(queue, input);
    expect((await reader.get('mirror/app', digest)).state).toBe('queued');
    void worker.run();
    const failed = await reader.wait('mirror/app', digest, 10_000);
    expect(failed.state).toBe('failed');
    expect(failed.failure).toEqual({ code: 'MANIFEST_UNKNOWN', category: 'upstream-not-found', message: 'not found upstream' });
    expect(failed.attempts).toBe(1);
    expect(failed.timings?.finishedAt).toBeDefined();

    expect(await enqueueHydration(queue, input)).toBe(id);
    const done = await reader.wait('mirror/app', digest, 10_000);
    expect(done.state).toBe('hydrated');
    expect(done.result).toEqual({ manifests: 1, blobs: 0, blobsFetched: 0, bytesFetched: 0 });
    expect(done.attempts).toBe(1);
    expect(runs).toBe(2);
    // A completed job absorbs later enqueues: no third run.
    await enqueueHydration(queue, input);
    expect(await queue.getJobState(id)).toBe('completed');
  } finally {
    await worker.close();
    await queue.close();
  }
});

test('a long-poll on a job that stays queued returns at its timeout, still queued', async () => {
  const prefix = uniquePrefix('hj-wait');
  const queue = createHydrationQueue({ connection: connection(), prefix });
  try {
    await enqueueHydration(queue, input, 60_000);
    const status = await new HydrationStatusReader(queue, { pollIntervalMs: 20 }).wait('mirror/app', digest, 300);
    expect(status.state).toBe('queued');
    await enqueueHydration(queue, input, { promote: true });
    expect(await queue.getJobState(await enqueueHydration(queue, input))).toBe('waiting');
  } finally {
    await queue.close();
  }
});

describe('registry semaphore', () => {
  test('at most `limit` holders per registry; release frees a slot; other registries are independent', async () => {
    const sem = new RegistrySemaphore(client, { prefix: uniquePrefix('sem'), limit: 2, leaseMs: 5_000 });
    const a = await sem.tryAcquire('r1.example', 'job-a');
    const b = await sem.tryAcquire('r1.example', 'job-b');
    expect(a && b).toBeTruthy();
    expect(await sem.tryAcquire('r1.example', 'job-c')).toBeUndefined();
    expect(await sem.tryAcquire('r2.example', 'job-c')).toBeDefined();
    expect((await sem.holders('r1.example')).sort()).toEqual(['job-a', 'job-b']);
    await a!.release();
    const c = await sem.tryAcquire('r1.example', 'job-c');
    expect(c).toBeDefined();
    await Promise.all([b!.release(), c!.release()]);
  });

  test('a holder that stops renewing (a crashed process) loses its lease after leaseMs', async () => {
    const prefix = uniquePrefix('sem-crash');
    const crashed = new Redis(redis.url);
    const dead = new RegistrySemaphore(crashed, { prefix, limit: 1, leaseMs: 300 });
    await dead.tryAcquire('r.example', 'job-dead');
    crashed.disconnect(); // its renewals now fail: like a kill -9
    const live = new RegistrySemaphore(client, { prefix, limit: 1, leaseMs: 300 });
    expect(await live.tryAcquire('r.example', 'job-live')).toBeUndefined();
    let lease: Awaited<ReturnType<RegistrySemaphore['tryAcquire']>>;
    await waitUntil(async () => (lease = await live.tryAcquire('r.example', 'job-live')) !== undefined, { what: 'the dead lease to expire', timeoutMs: 5_000 });
    expect(await live.holders('r.example')).toEqual(['job-live']);
    await lease!.release();
  });
});
