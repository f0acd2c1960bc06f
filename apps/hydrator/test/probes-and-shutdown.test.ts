import { faultFor, startRedis, type RedisServer } from '@pullthrough/test-support';
import { silentLogger } from '@pullthrough/pull-through';
import { loadHydratorConfig } from '../src/config.js';
import { startHydrator } from '../src/hydrator.js';
import { jobFor, startHydratorEnv, startUpstream, totalSize, type HydratorEnv, type Upstream } from './harness.js';

// The hydrator's HTTP listener (/healthz, /readyz, /metrics) and its shutdown: running jobs finish,
// or (past the deadline) are left locked and completed by another hydrator once the lock expires.

let redis: RedisServer;
let upstream: Upstream;
const envs: HydratorEnv[] = [];

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
}, 120_000);
afterAll(async () => {
  await Promise.all(envs.map((e) => e.stop()));
  await upstream?.stop();
  await redis?.stop();
});
afterEach(() => upstream.proxy.setFault(null));

async function newEnv(env: Record<string, string> = {}): Promise<HydratorEnv> {
  const e = await startHydratorEnv(redis, upstream, {}, env);
  envs.push(e);
  return e;
}
const get = async (env: HydratorEnv, path: string, method = 'GET') => {
  const res = await fetch(`${env.hydrator.probeUrl}${path}`, { method });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};
/** One sample of the metrics text, e.g. sample(text, 'pullthrough_queue_jobs{queue="hydration",state="delayed"}'). */
const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};
/** The fixture's largest blob stops after 1 MiB until `release()`: a job running mid-blob. */
function holdBigBlob(): { release: () => void } {
  const big = [...upstream.fixtures.multiLayer.blobs].sort((x, y) => y.size - x.size)[0]!;
  let release = () => undefined as void;
  const until = new Promise<void>((resolve) => (release = resolve));
  upstream.proxy.setFault(faultFor({ kind: 'blob', reference: big.digest }, { kind: 'hold', atByte: 1024 * 1024, until }));
  return { release };
}

test('/healthz, /readyz and /metrics answer; queue depth and finished jobs are counted', async () => {
  const env = await newEnv();
  expect(await get(env, '/healthz')).toMatchObject({ status: 200, text: '{"status":"ok"}' });
  const ready = await get(env, '/readyz');
  expect(ready.status).toBe(200);
  expect(JSON.parse(ready.text)).toMatchObject({ status: 'ready', checks: { storage: { status: 'up', required: true }, redis: { status: 'up', required: true } } });

  await env.completed(await env.enqueue(jobFor(upstream, upstream.fixtures.small, 'probes/small')));
  const later = await env.queue.add('delayed-one', { note: 'never runs in this test' }, { delay: 600_000, jobId: 'probe-delayed' });
  try {
    const metrics = await get(env, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain');
    expect(sample(metrics.text, 'pullthrough_queue_jobs{queue="hydration",state="delayed"}')).toBe(1);
    expect(sample(metrics.text, 'pullthrough_queue_jobs{queue="hydration",state="waiting"}')).toBe(0);
    expect(sample(metrics.text, 'pullthrough_queue_jobs{queue="webhooks",state="failed"}')).toBe(0);
    expect(sample(metrics.text, 'pullthrough_jobs_total{queue="hydration",outcome="completed"}')).toBe(1);
    expect(sample(metrics.text, 'pullthrough_jobs_total{queue="hydration",outcome="failed"}')).toBe(0);
    expect(sample(metrics.text, 'pullthrough_redis_up')).toBe(1);
    expect(sample(metrics.text, 'pullthrough_process_resident_memory_bytes')).toBeGreaterThan(0);
  } finally {
    await later.remove();
  }
  expect((await get(env, '/metrics', 'POST')).status).toBe(405);
  expect((await get(env, '/nothing')).status).toBe(404);
});

test('Redis down: not ready (503) with the reason; ready again when it returns', async () => {
  const env = await newEnv();
  await redis.kill();
  try {
    const r = await get(env, '/readyz');
    expect(r.status).toBe(503);
    const body = JSON.parse(r.text) as { status: string; checks: { redis: { status: string; reason: string }; storage: { status: string } } };
    expect(body.status).toBe('not-ready');
    expect(body.checks.redis.status).toBe('down');
    expect(body.checks.redis.reason).toMatch(/connection is|no answer within/);
    expect(body.checks.storage.status).toBe('up');
    expect((await get(env, '/healthz')).status).toBe(200);
  } finally {
    await redis.restart();
  }
  const deadline = Date.now() + 15_000;
  while ((await get(env, '/readyz')).status !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect((await get(env, '/readyz')).status).toBe(200);
}, 30_000);

test('close() during a job lets it finish: the job completes and close resolves after it', async () => {
  const env = await newEnv();
  const f = upstream.fixtures.multiLayer;
  const hold = holdBigBlob();
  const id = await env.enqueue(jobFor(upstream, f, 'shutdown/finish'));
  await waitForState(env, id, 'active');
  let closedAt = 0;
  const closed = env.hydrator.close().then(() => (closedAt = Date.now()));
  // Closing waits for the running job: nothing new is taken, the job goes on.
  await new Promise((r) => setTimeout(r, 500));
  expect(closedAt).toBe(0);
  hold.release();
  const job = await env.completed(id, 30_000);
  expect(job.returnvalue).toMatchObject({ blobs: f.blobs.length, bytesFetched: totalSize(f.blobs) });
  expect(await closed).toBeGreaterThanOrEqual(job.finishedOn!);
  await expect(fetch(`${env.hydrator.probeUrl}/healthz`)).rejects.toThrow();
}, 60_000);

test('past the shutdown deadline a running job is left, not lost: another hydrator completes it', async () => {
  const lock = { PULLTHROUGH_SHUTDOWN_TIMEOUT_MS: '300', PULLTHROUGH_HYDRATION_LOCK_MS: '1000', PULLTHROUGH_HYDRATION_STALLED_INTERVAL_MS: '500' };
  const env = await newEnv(lock);
  const f = upstream.fixtures.multiLayer;
  const hold = holdBigBlob();
  const id = await env.enqueue(jobFor(upstream, f, 'shutdown/cut'));
  await waitForState(env, id, 'active');
  const started = Date.now();
  await env.hydrator.close();
  expect(Date.now() - started).toBeLessThan(3000);
  expect(await env.queue.getJobState(id)).toBe('active');

  upstream.proxy.setFault(null);
  hold.release();
  const config = loadHydratorConfig({ ...stringEnv(env.config), ...lock });
  const second = await startHydrator(config, silentLogger);
  try {
    const job = await env.completed(id, 30_000);
    expect(job.returnvalue).toMatchObject({ manifests: 1, blobs: f.blobs.length });
    expect(job.attemptsMade).toBeGreaterThanOrEqual(1);
  } finally {
    await second.close();
  }
}, 60_000);

async function waitForState(env: HydratorEnv, id: string, state: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await env.queue.getJobState(id)) !== state) {
    if (Date.now() > deadline) throw new Error(`job ${id} never became ${state}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function stringEnv(config: object): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v)]));
}
