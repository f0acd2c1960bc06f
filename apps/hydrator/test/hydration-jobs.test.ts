import { randomBytes } from 'node:crypto';
import type { HydrationResult } from '@pullthrough/hydration-jobs';
import { parseDigest } from '@pullthrough/oci';
import { startRedis, type RedisServer } from '@pullthrough/test-support';
import { jobFor, startHydratorEnv, startUpstream, totalSize, type HydratorEnv, type Upstream } from './harness.js';

// Job lifecycle through the real worker: re-runs, duplicate enqueues, permanent and transient
// failures. Real redis-server, BullMQ, and a docker-registry behind a counting proxy; each test
// gets its own hydrator (fresh data dir, fresh queue prefix).

let redis: RedisServer;
let upstream: Upstream;
const envs: HydratorEnv[] = [];

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
}, 120_000);

afterAll(async () => {
  await upstream?.stop();
  await redis?.stop();
});

beforeEach(() => upstream.proxy.reset());

afterEach(async () => {
  upstream.proxy.setFault(null);
  await Promise.all(envs.splice(0).map((e) => e.stop()));
});

async function newEnv(options: Parameters<typeof startHydratorEnv>[2] = {}): Promise<HydratorEnv> {
  const env = await startHydratorEnv(redis, upstream, options);
  envs.push(env);
  return env;
}

const manifestGets = (reference: string) => upstream.proxy.count({ method: 'GET', kind: 'manifest', reference });
const blobGets = (reference: string) => upstream.proxy.count({ method: 'GET', kind: 'blob', reference });

describe('content that is already local', () => {
  test('a re-run of a finished job (removed, then enqueued again) makes zero upstream requests', async () => {
    const env = await newEnv();
    const f = upstream.fixtures.multiLayer;
    const input = jobFor(upstream, f, 'mirror/multilayer');
    const n = f.blobs.length;

    const first = await env.completed(await env.enqueue(input));
    expect(first.returnvalue).toEqual<HydrationResult>({ manifests: 1, blobs: n, blobsFetched: n, bytesFetched: totalSize(f.blobs) });
    expect(manifestGets(f.digest)).toBe(1);
    for (const blob of f.blobs) expect(blobGets(blob.digest)).toBe(1);

    // A kept completed job absorbs enqueues of the same id; once it is removed (retention), a new one runs.
    upstream.proxy.reset();
    await env.enqueue(input);
    expect(await env.queue.getJobState(first.id!)).toBe('completed');
    expect(await env.queue.getJobCounts('waiting', 'active', 'delayed')).toEqual({ waiting: 0, active: 0, delayed: 0 });
    await first.remove();
    const second = await env.completed(await env.enqueue(input));
    expect(second.timestamp).toBeGreaterThan(first.timestamp);
    expect(second.returnvalue).toEqual<HydrationResult>({ manifests: 1, blobs: n, blobsFetched: 0, bytesFetched: 0 });
    expect(upstream.proxy.requests).toEqual([]);
  });

  test('the same image for a second repository fetches only its manifest; the local blobs are linked once its upstream confirms each (HEAD, no download)', async () => {
    const env = await newEnv();
    const f = upstream.fixtures.multiLayer;
    await env.completed(await env.enqueue(jobFor(upstream, f, 'mirror/first')));
    upstream.proxy.reset();

    const job = await env.completed(await env.enqueue(jobFor(upstream, f, 'mirror/second')));
    expect(job.returnvalue).toEqual<HydrationResult>({ manifests: 1, blobs: f.blobs.length, blobsFetched: 0, bytesFetched: 0 });
    expect(manifestGets(f.digest)).toBe(1);
    expect(upstream.proxy.count({ kind: 'blob', method: 'GET' })).toBe(0);
    expect(upstream.proxy.count({ kind: 'blob', method: 'HEAD' })).toBe(f.blobs.length);
    for (const blob of f.blobs) expect(await env.store.isBlobLinked('mirror/second', blob.digest)).toBe(true);
  });
});

describe('duplicate enqueues', () => {
  test('20 enqueues of one (repository, digest) while it is queued collapse into one job and one walk', async () => {
    const env = await newEnv();
    const f = upstream.fixtures.small;
    const input = jobFor(upstream, f, 'mirror/small');
    const completedIds: string[] = [];
    const onCompleted = ({ jobId }: { jobId: string }) => void completedIds.push(jobId);
    env.events.on('completed', onCompleted);
    try {
      // Paused, so all 20 land while the first is still waiting (not merely absorbed by a finished job).
      await env.queue.pause();
      const ids = await Promise.all(Array.from({ length: 20 }, () => env.enqueue(input)));
      expect(new Set(ids).size).toBe(1);
      const queued = await env.queue.getJobCounts();
      expect(Object.values(queued).reduce((a, b) => a + b, 0)).toBe(1);
      expect(await env.queue.getJobState(ids[0]!)).toBe('waiting');
      expect(upstream.proxy.requests).toEqual([]);

      await env.queue.resume();
      const job = await env.completed(ids[0]!);
      expect(job.attemptsMade).toBe(1);
      const counts = await env.queue.getJobCounts();
      expect(counts.completed).toBe(1);
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1);
      expect(completedIds).toEqual([ids[0]]);
      expect(manifestGets(f.digest)).toBe(1);
      for (const blob of f.blobs) expect(blobGets(blob.digest)).toBe(1);
    } finally {
      env.events.off('completed', onCompleted);
    }
  });
});

describe('failures', () => {
  test('a digest the upstream does not have fails permanently on the first attempt (MANIFEST_UNKNOWN)', async () => {
    const env = await newEnv({ attempts: 5, backoffMs: 50 });
    const f = upstream.fixtures.small;
    const missing = parseDigest(`sha256:${randomBytes(32).toString('hex')}`);
    const jobId = await env.enqueue(jobFor(upstream, f, 'mirror/small', { digest: missing }));

    const { job, error } = await env.settle(jobId);
    expect(error?.message).toMatch(/MANIFEST_UNKNOWN/);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/^MANIFEST_UNKNOWN \[upstream-not-found\]: /);
    expect(manifestGets(missing)).toBe(1);
    expect(await env.store.getManifest('mirror/small', missing)).toBeUndefined();
  });

  test('an upstream 503 mid-walk is retried, and the retry fetches only the blobs still missing', async () => {
    const env = await newEnv({ attempts: 3, backoffMs: 50 });
    const f = upstream.fixtures.multiLayer;
    const last = f.blobs[f.blobs.length - 1]!;
    let faulted = false;
    upstream.proxy.setFault((r) => {
      if (faulted || r.kind !== 'blob' || r.reference !== last.digest) return null;
      faulted = true;
      return { status: 503 };
    });

    const job = await env.completed(await env.enqueue(jobFor(upstream, f, 'mirror/retried')));
    expect(job.attemptsMade).toBe(2);
    expect(upstream.proxy.count({ kind: 'blob', reference: last.digest, status: 503 })).toBe(1);
    expect(blobGets(last.digest)).toBe(2);
    for (const blob of f.blobs.slice(0, -1)) expect(blobGets(blob.digest)).toBe(1);
    expect(manifestGets(f.digest)).toBe(1);
    // The result describes the attempt that succeeded: the manifest and the other blobs were already local.
    expect(job.returnvalue).toEqual<HydrationResult>({ manifests: 1, blobs: f.blobs.length, blobsFetched: 1, bytesFetched: last.size });
  });
});
