import { Redis } from 'ioredis';
import { LastPulledBook, RedisRetentionLock, silentLogger } from '@pullthrough/pull-through';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { tempDir, uniquePrefix, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startRedis } from './harness.js';

// Last-pulled times: notes batched in memory, flushed to Redis in one pipeline, snapshotted to
// storage; against a real redis-server and a real filesystem store.
let redis: RedisServer;
let client: Redis;
let dir: TempDir;
let store: RegistryStore;
const DIGEST = `sha256:${'b'.repeat(64)}`;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  dir = await tempDir('last-pulled-');
  store = new RegistryStore(new FilesystemDriver(dir.path));
}, 60_000);
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
  await dir?.remove();
});

const book = (prefix: string, clock?: () => number) => new LastPulledBook({ redis: client, prefix, store, logger: silentLogger, ...(clock ? { clock } : {}) });

test('a thousand pulls cost one flush (one pipeline); the latest time per tag and digest wins, also across processes (ZADD GT)', async () => {
  const prefix = uniquePrefix('lp');
  const [a, b] = [book(prefix), book(prefix)];
  for (let i = 0; i < 1000; i += 1) a.note('team/app', i % 2 ? 'v1' : 'v2', DIGEST, 1_000 + i);
  expect(await client.exists(`${prefix}:last-pulled:repo:team/app`)).toBe(0);
  await a.flush();
  expect(a.flushes).toBe(1);
  b.note('team/app', 'v1', undefined, 500); // older than what a wrote: does not move it back
  b.note('team/app', 'v2', undefined, 5_000);
  await b.flush();
  const times = await a.forRepository('team/app');
  expect(Object.fromEntries(times)).toEqual({ v1: 1_999, v2: 5_000, [DIGEST]: 1_999 });
  await a.flush(); // nothing buffered: no write
  expect(a.flushes).toBe(1);
  expect([...(await b.all()).keys()]).toEqual(['team/app']);
});

test('pull times survive a Redis restart through the storage snapshot; a note made around the restart is flushed once Redis is back', async () => {
  const prefix = uniquePrefix('lp');
  const a = book(prefix);
  a.note('team/db', 'v1', DIGEST, 10_000);
  await a.snapshot();
  expect(a.flushes).toBe(1);
  await redis.restart(); // no persistence: Redis comes back empty
  await new Promise((r) => setTimeout(r, 300));
  a.note('team/db', 'v2', undefined, 20_000);
  const fresh = book(prefix);
  expect(Object.fromEntries(await fresh.forRepository('team/db'))).toEqual({ v1: 10_000, [DIGEST]: 10_000 });
  // The client reconnects; the buffered note reaches Redis.
  for (let i = 0; i < 50 && a.flushes === 1; i += 1) {
    await a.flush();
    if (a.flushes === 1) await new Promise((r) => setTimeout(r, 100));
  }
  expect(a.flushes).toBe(2);
  expect(Object.fromEntries(await fresh.forRepository('team/db'))).toEqual({ v1: 10_000, v2: 20_000, [DIGEST]: 10_000 });
  await fresh.forget('team/db', ['v2']);
  await fresh.snapshot((_repo, member) => member !== 'v1');
  expect(Object.fromEntries(await book(prefix).forRepository('team/db'))).toEqual({ [DIGEST]: 10_000 });
}, 30_000);

test('the retention lock has one holder at a time across processes, and is free again once released', async () => {
  const prefix = uniquePrefix('lock');
  const [a, b] = [new RedisRetentionLock(client, prefix), new RedisRetentionLock(client, prefix)];
  const held = await a.acquire();
  expect(held).not.toBeUndefined();
  expect(await b.acquire()).toBeUndefined();
  await held!.release();
  const again = await b.acquire();
  expect(again).not.toBeUndefined();
  await again!.release();
});
