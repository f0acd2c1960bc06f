import { Redis } from 'ioredis';
import { startRedis, uniquePrefix, type RedisServer } from '@pullthrough/test-support';
import { connectedLeases } from '../test/connected-leases.js';
import type { RedisBlobLeases } from './redis-blob-leases.js';

/**
 * How long a claim waits for Redis (`claimTimeoutMs`, PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS): a
 * Redis that stalls (CLIENT PAUSE) longer than that answers nothing in time and the claim is
 * "alone" (the process fetches on its own); a claim given more time than the stall leads.
 */
let redis: RedisServer;
let admin: Redis;
const opened: RedisBlobLeases[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
}, 30_000);
afterEach(() => opened.splice(0).forEach((l) => l.close()));
afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
});

async function claimDuringPause(claimTimeoutMs: number) {
  const leases = await connectedLeases(redis.url, uniquePrefix('claim-timeout'), 5_000, { claimTimeoutMs });
  opened.push(leases);
  await admin.call('CLIENT', 'PAUSE', '400', 'WRITE');
  const started = Date.now();
  const claim = await leases.acquire(`flight-${claimTimeoutMs}`);
  return { claim, waitedMs: Date.now() - started };
}

test('a claim unanswered within its timeout fetches alone; one given longer than the stall leads', async () => {
  const short = await claimDuringPause(50);
  expect(short.claim.kind).toBe('alone');
  expect(short.waitedMs).toBeLessThan(400);
  // Let the first pause end before the next.
  await new Promise((r) => setTimeout(r, 500));
  const long = await claimDuringPause(2_000);
  expect(long.claim.kind).toBe('led');
  expect(long.waitedMs).toBeGreaterThanOrEqual(300);
  if (long.claim.kind === 'led') long.claim.release();
});
