import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { digestOf, type Digest } from '@pullthrough/oci';
import { gcTouchSettings, RedisGcCoordinator } from '@pullthrough/pull-through';
import { startRedis, uniquePrefix, type RedisServer } from '@pullthrough/test-support';

/**
 * A process does not send a touch again for a digest whose touch it had recorded moments ago (no
 * collection can claim it within the grace period after that touch). What is remembered is only a
 * touch Redis recorded: not one that waited on a collector's claim until the claim was released, nor
 * one Redis did not answer.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const digest = (): Digest => digestOf(randomBytes(16));

let redis: RedisServer;
let client: Redis;
const open: RedisGcCoordinator[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
}, 30_000);
afterAll(async () => {
  for (const c of open) c.close();
  client?.disconnect();
  await redis?.stop();
});

function coordinator(prefix: string, options: { recentTouchMs?: number; touchTimeoutMs?: number } = {}): RedisGcCoordinator {
  const c = new RedisGcCoordinator({ url: redis.url, prefix, touchRetentionMs: 60_000, ...options });
  open.push(c);
  return c;
}

const touchedAt = async (prefix: string, d: Digest) => client.zscore(`${prefix}:{gc}:touches`, d);

test('the apps remember a touch for a sixth of the grace period, at most 2 s', () => {
  expect(gcTouchSettings(3_600_000)).toEqual({ touchRetentionMs: 7_200_000, recentTouchMs: 2_000 });
  expect(gcTouchSettings(1_500)).toEqual({ touchRetentionMs: 3_601_500, recentTouchMs: 250 });
  expect(gcTouchSettings(0).recentTouchMs).toBe(0);
});

test('a recorded touch is not sent again within recentTouchMs; after it, it is', async () => {
  const prefix = uniquePrefix('recent');
  const c = coordinator(prefix, { recentTouchMs: 600 });
  const [a, b] = [digest(), digest()];
  await c.touch([a]);
  const first = await touchedAt(prefix, a);
  expect(first).not.toBeNull();
  await sleep(20);
  // a is remembered (its score stays), b is new and is recorded.
  await c.touch([a, b]);
  expect(await touchedAt(prefix, a)).toBe(first);
  expect(await touchedAt(prefix, b)).not.toBeNull();
  await sleep(650);
  await c.touch([a]);
  expect(Number(await touchedAt(prefix, a))).toBeGreaterThan(Number(first));
});

test('without recentTouchMs every touch goes to Redis', async () => {
  const prefix = uniquePrefix('every');
  const c = coordinator(prefix);
  const a = digest();
  await c.touch([a]);
  const first = await touchedAt(prefix, a);
  await sleep(20);
  await c.touch([a]);
  expect(Number(await touchedAt(prefix, a))).toBeGreaterThan(Number(first));
});

test('a touch that waited on a collector is recorded (and remembered) only once the deletion is over', async () => {
  const prefix = uniquePrefix('claimed');
  const collector = coordinator(prefix);
  const c = coordinator(prefix, { recentTouchMs: 5_000 });
  const a = digest();
  expect(await collector.claim(a, (await collector.now()) - 1_000)).toBe(true);
  let done = false;
  const touching = c.touch([a]).then(() => (done = true));
  await sleep(150);
  expect([done, await touchedAt(prefix, a)]).toEqual([false, null]);
  await collector.release(a);
  await touching;
  const recorded = await touchedAt(prefix, a);
  expect(recorded).not.toBeNull();
  // Recorded now, after the deletion: the next claim fails, and a touch right after is not sent.
  expect(await collector.claim(a, (await collector.now()) - 1_000)).toBe(false);
  await sleep(20);
  await c.touch([a]);
  expect(await touchedAt(prefix, a)).toBe(recorded);
});

test('a touch Redis did not answer in time is not remembered: the next one is sent', async () => {
  const prefix = uniquePrefix('unanswered');
  const c = coordinator(prefix, { recentTouchMs: 5_000, touchTimeoutMs: 150 });
  const a = digest();
  await c.touch([digest()]); // connected
  await client.call('CLIENT', 'PAUSE', '600', 'ALL');
  await c.touch([a]); // gives up after 150 ms; Redis runs it once the pause ends
  await sleep(700);
  await client.zrem(`${prefix}:{gc}:touches`, a);
  await c.touch([a]);
  expect(await touchedAt(prefix, a)).not.toBeNull();
});
