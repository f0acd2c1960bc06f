import { RedisBreakerBoard } from '@pullthrough/pull-through';
import { startRedis, type RedisServer } from '@pullthrough/test-support';
import { jobFor, startHydratorEnv, startUpstream, type HydratorEnv, type Upstream } from './harness.js';

// The hydrator shares breaker holds with the frontends through Redis (same queue prefix): a board
// on that prefix stands for a frontend. Real redis-server, BullMQ, docker-registry behind a counting proxy.

let redis: RedisServer;
let upstream: Upstream;
const envs: HydratorEnv[] = [];
const boards: RedisBreakerBoard[] = [];

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
  boards.splice(0).forEach((b) => b.close());
  await Promise.all(envs.splice(0).map((e) => e.stop()));
});

async function hydratorAndBoard(): Promise<{ env: HydratorEnv; board: RedisBreakerBoard }> {
  const env = await startHydratorEnv(redis, upstream, { attempts: 2, backoffMs: 50 });
  envs.push(env);
  const board = new RedisBreakerBoard({ url: redis.url, prefix: env.config.PULLTHROUGH_QUEUE_PREFIX, pollMs: 200 });
  boards.push(board);
  const until = Date.now() + 5000;
  while (!board.connected && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  expect(board.connected).toBe(true);
  return { env, board };
}

test("a 429 with Retry-After seen by the hydrator holds the frontends' view too", async () => {
  const { env, board } = await hydratorAndBoard();
  let throttled = false;
  upstream.proxy.setFault(() => (throttled ? null : ((throttled = true), { status: 429, headers: { 'Retry-After': '3' } })));
  const at = Date.now();
  const jobId = await env.enqueue(jobFor(upstream, upstream.fixtures.small, 'mirror/held-by-hydrator'));
  const deadline = Date.now() + 10_000;
  while (board.hold(upstream.proxy.host) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const hold = board.hold(upstream.proxy.host);
  expect(hold?.throttled).toBe(true);
  expect(hold!.until).toBeGreaterThanOrEqual(at + 3000);
  expect(hold!.until).toBeLessThan(Date.now() + 3500);
  const job = await env.completed(jobId, 30_000);
  expect(job.attemptsMade).toBe(1);
});

test("a frontend's hold defers the hydrator's job with no upstream request until it ends", async () => {
  const { env, board } = await hydratorAndBoard();
  const until = Date.now() + 2500;
  board.announceOpen(upstream.proxy.host, { until, throttled: false });
  await new Promise((r) => setTimeout(r, 300)); // the hydrator's board hears it
  const jobId = await env.enqueue(jobFor(upstream, upstream.fixtures.small, 'mirror/held-by-frontend'));
  await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now() - 300)));
  expect(upstream.proxy.count()).toBe(0);
  const job = await env.completed(jobId, 30_000);
  expect(job.attemptsMade).toBe(1);
  expect(job.finishedOn!).toBeGreaterThanOrEqual(until);
  expect(job.data.deferrals).toBeGreaterThanOrEqual(1);
  // The hydrator's trial call succeeded: the hold is gone for everyone.
  expect(board.hold(upstream.proxy.host)).toBeUndefined();
});
