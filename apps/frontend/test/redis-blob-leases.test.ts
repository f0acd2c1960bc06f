import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisBlobLeases } from '@pullthrough/pull-through';
import { uniquePrefix, type RedisServer } from '@pullthrough/test-support';
import { eventually, sleep } from './fault-helpers.js';
import { startRedis } from './harness.js';

// The blob fetch leases the frontends and hydrators share, against a real redis-server.
const KEY = JSON.stringify(['registry.example:5000', 'library/alpine', null, [], 'sha256:' + 'a'.repeat(64)]);
let redis: RedisServer;
const leases: RedisBlobLeases[] = [];
let client: Redis;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
}, 60_000);
afterEach(() => leases.splice(0).forEach((l) => l.close()));
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

async function replica(prefix: string, leaseMs = 15_000, peerUrl?: string, claimTimeoutMs?: number): Promise<RedisBlobLeases> {
  const l = new RedisBlobLeases({ url: redis.url, prefix, leaseMs, ...(peerUrl ? { peerUrl } : {}), ...(claimTimeoutMs !== undefined ? { claimTimeoutMs } : {}) });
  leases.push(l);
  await eventually('connected', async () => (await l.acquire('probe-' + Math.random())).kind === 'led', 5000);
  return l;
}

const leaseKey = (prefix: string) => `${prefix}:blob-lease:${createHash('sha256').update(KEY).digest('hex')}`;

test('one owner per flight key: the key holds its id with an expiry; another process sees it held until it is released', async () => {
  const prefix = uniquePrefix('leases');
  const [a, b] = [await replica(prefix), await replica(prefix)];
  const claim = await a.acquire(KEY);
  expect(claim.kind).toBe('led');
  expect(await client.get(leaseKey(prefix))).toBe(a.owner);
  const ttl = await client.pttl(leaseKey(prefix));
  expect(ttl).toBeGreaterThan(14_000);
  expect(ttl).toBeLessThanOrEqual(15_000);
  expect((await b.acquire(KEY)).kind).toBe('held');
  expect((await a.acquire(KEY)).kind).toBe('held'); // a second fetch in the same process is a follower too
  if (claim.kind === 'led') claim.release();
  await eventually('released', async () => (await client.exists(leaseKey(prefix))) === 0, 2000);
  expect((await b.acquire(KEY)).kind).toBe('led');
});

test('with a peer URL the lease holds "<owner> <url>": another process learns the URL with the claim (one round trip); renewal keeps it', async () => {
  const prefix = uniquePrefix('leases');
  const a = await replica(prefix, 600, 'http://10.1.2.3:5003');
  const b = await replica(prefix, 600);
  const claim = await a.acquire(KEY);
  expect(claim.kind).toBe('led');
  expect(await client.get(leaseKey(prefix))).toBe(`${a.owner} http://10.1.2.3:5003`);
  expect(await b.acquire(KEY)).toEqual({ kind: 'held', peerUrl: 'http://10.1.2.3:5003' });
  // Its own lease is never a peer of its own.
  expect(await a.acquire(KEY)).toEqual({ kind: 'held' });
  await sleep(1000); // renewed past its 600 ms
  expect(await b.acquire(KEY)).toEqual({ kind: 'held', peerUrl: 'http://10.1.2.3:5003' });
  // A lease without a URL (a hydrator, or peer streaming off) names none.
  if (claim.kind === 'led') claim.release();
  await eventually('released', async () => (await client.exists(leaseKey(prefix))) === 0, 2000);
  const byB = await b.acquire(KEY);
  expect(byB.kind).toBe('led');
  expect(await a.acquire(KEY)).toEqual({ kind: 'held' });
  expect(await client.get(leaseKey(prefix))).toBe(b.owner);
});

test('renewed while held: it outlives its lease time; once renewal stops (the owner died) it expires and another takes over', async () => {
  const prefix = uniquePrefix('leases');
  const [a, b] = [await replica(prefix, 600), await replica(prefix, 600)];
  const claim = await a.acquire(KEY);
  expect(claim.kind).toBe('led');
  await sleep(1500);
  expect((await b.acquire(KEY)).kind).toBe('held');
  a.close(); // dies without releasing
  await sleep(800);
  const taken = await b.acquire(KEY);
  expect(taken.kind).toBe('led');
  expect(await client.get(leaseKey(prefix))).toBe(b.owner);
  // The dead owner's late release does not delete the new owner's lease.
  if (claim.kind === 'led') claim.release();
  await sleep(100);
  expect(await client.get(leaseKey(prefix))).toBe(b.owner);
});

test('a commit announced by one process wakes the waiters of that digest in another', async () => {
  const prefix = uniquePrefix('leases');
  const [a, b] = [await replica(prefix), await replica(prefix)];
  const started = Date.now();
  const waited = b.waitForCommit('sha256:' + 'b'.repeat(64), 10_000);
  const other = b.waitForCommit('sha256:' + 'c'.repeat(64), 300).then(() => Date.now() - started);
  await sleep(100);
  a.committed('sha256:' + 'b'.repeat(64));
  await waited;
  expect(Date.now() - started).toBeLessThan(2000);
  expect(await other).toBeGreaterThanOrEqual(290); // another digest's waiter waits its time out
});

test('a leader that committed releases with the digest: one round trip announces it and marks the lease; the next claim leads, saying so', async () => {
  const prefix = uniquePrefix('leases');
  const [a, b] = [await replica(prefix, 800), await replica(prefix, 800)];
  const digest = 'sha256:' + 'e'.repeat(64);
  const claim = await a.acquire(KEY);
  expect(claim).toMatchObject({ kind: 'led', afterCommit: false });
  const started = Date.now();
  const woken = b.waitForCommit(digest, 10_000).then(() => Date.now() - started);
  if (claim.kind === 'led') claim.release(digest);
  expect(await woken).toBeLessThan(2000);
  // The mark is no holder: the next claim leads (in any process), told to look at the store first.
  expect(await client.get(leaseKey(prefix))).toBe('-committed');
  const next = await b.acquire(KEY);
  expect(next).toMatchObject({ kind: 'led', afterCommit: true });
  expect(await client.get(leaseKey(prefix))).toBe(b.owner);
  expect((await a.acquire(KEY)).kind).toBe('held');
  // Released without a commit: nothing is left, and the claim after is a plain one.
  if (next.kind === 'led') next.release();
  await eventually('released', async () => (await client.exists(leaseKey(prefix))) === 0, 2000);
  const plain = await a.acquire(KEY);
  expect(plain).toMatchObject({ kind: 'led', afterCommit: false });
  // The mark lasts leaseMs.
  if (plain.kind === 'led') plain.release(digest);
  await eventually('marked', async () => (await client.get(leaseKey(prefix))) === '-committed', 2000);
  await sleep(900);
  expect(await b.acquire(KEY)).toMatchObject({ kind: 'led', afterCommit: false });
});

test('a leader whose lease was taken over still announces its commit, and leaves the new holder\'s lease as it is', async () => {
  const prefix = uniquePrefix('leases');
  const [a, b] = [await replica(prefix), await replica(prefix)];
  const digest = 'sha256:' + 'f'.repeat(64);
  const claim = await a.acquire(KEY);
  await client.set(leaseKey(prefix), b.owner, 'PX', 15_000); // as if b took it over after a's lease expired
  const started = Date.now();
  const woken = b.waitForCommit(digest, 10_000).then(() => Date.now() - started);
  if (claim.kind === 'led') claim.release(digest);
  expect(await woken).toBeLessThan(2000);
  expect(await client.get(leaseKey(prefix))).toBe(b.owner);
});

test('Redis down: every claim answers "alone" at once (no waiting on Redis)', async () => {
  const prefix = uniquePrefix('leases');
  const a = await replica(prefix);
  await redis.kill();
  try {
    await eventually('disconnected', async () => (await a.acquire(KEY)).kind === 'alone', 5000);
    const started = Date.now();
    for (let i = 0; i < 20; i++) expect((await a.acquire(KEY)).kind).toBe('alone');
    expect(Date.now() - started).toBeLessThan(200);
    a.committed('sha256:' + 'd'.repeat(64)); // no throw, nothing queued
  } finally {
    await redis.restart();
  }
  // Back: claims are shared again (and nothing is left connecting when the connections close).
  await eventually('reconnected', async () => (await a.acquire(KEY)).kind !== 'alone' && client.status === 'ready', 5000);
  // And it listens again (subscribed anew on the reconnection, by its own handler: ioredis's resubscribe is off):
  // another replica's "wanted" reaches it.
  const heard: string[] = [];
  a.onWanted((flightId) => heard.push(flightId));
  await eventually('wanted heard after the restart', async () => (await client.publish(`${prefix}:blob-wanted`, 'flight-1'), heard.includes('flight-1')), 5000);
  expect((a as unknown as { subscriber: Redis }).subscriber.options.autoResubscribe).toBe(false);
});

// How long a claim waits for Redis (claimTimeoutMs, PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS): a Redis that
// stalls (CLIENT PAUSE) longer than that answers nothing in time and the process fetches on its own; a
// claim given more time than the stall leads.
test('a claim unanswered within its timeout fetches alone; one given longer than the stall leads', async () => {
  const claimDuringPause = async (claimTimeoutMs: number) => {
    const l = await replica(uniquePrefix('claim-timeout'), 5_000, undefined, claimTimeoutMs);
    await client.call('CLIENT', 'PAUSE', '400', 'WRITE');
    const started = Date.now();
    const claim = await l.acquire(KEY);
    return { claim, waitedMs: Date.now() - started };
  };
  const short = await claimDuringPause(50);
  expect(short.claim.kind).toBe('alone');
  expect(short.waitedMs).toBeLessThan(400);
  // Let the first pause end before the next.
  await sleep(500);
  const long = await claimDuringPause(2_000);
  expect(long.claim.kind).toBe('led');
  expect(long.waitedMs).toBeGreaterThanOrEqual(300);
  if (long.claim.kind === 'led') long.claim.release();
});
