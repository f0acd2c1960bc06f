import { Redis } from 'ioredis';
import { RedisScript, RedisBlobLeases } from '@pullthrough/pull-through';
import { uniquePrefix, type RedisServer } from '@pullthrough/test-support';
import { startRedis } from './harness.js';

// Scripts called by their SHA1 against a real redis-server: sent as text only when Redis does not know them.
let redis: RedisServer;
let client: Redis;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
}, 60_000);
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

/** Calls so far of `evalsha` and `eval` on the server (INFO commandstats). */
async function scriptCalls(): Promise<{ evalsha: number; eval: number }> {
  const text = await client.info('commandstats');
  const calls = (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { evalsha: calls('evalsha'), eval: calls('eval') };
}

test('a script runs by its hash; its text goes once, and again only after Redis forgot it (SCRIPT FLUSH)', async () => {
  const key = uniquePrefix('script');
  // A script of its own (its hash unknown to this server until now).
  const incr = new RedisScript(`-- ${key}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`);
  const before = await scriptCalls();
  expect(await incr.run(client, [key], [2])).toBe(2);
  expect(await client.script('EXISTS', incr.sha)).toEqual([1]);
  expect(await incr.run(client, [key], [3])).toBe(5);
  expect(await incr.run(client, [key], ['4'])).toBe(9);
  const after = await scriptCalls();
  // Three EVALSHA (the first answered NOSCRIPT), one EVAL: the text crossed once.
  expect(after.evalsha - before.evalsha).toBe(3);
  expect(after.eval - before.eval).toBe(1);

  await client.script('FLUSH');
  expect(await client.script('EXISTS', incr.sha)).toEqual([0]);
  expect(await incr.run(client, [key], [1])).toBe(10);
  expect(await client.script('EXISTS', incr.sha)).toEqual([1]);
  expect((await scriptCalls()).eval - after.eval).toBe(1);
});

test('an error the script raises is the caller\'s, not retried as text', async () => {
  const failing = new RedisScript(`return redis.error_reply('NOPE ${uniquePrefix('x')}')`);
  await failing.run(client, []).catch(() => undefined); // known from now on
  const before = await scriptCalls();
  await expect(failing.run(client, [])).rejects.toThrow(/^NOPE /);
  const after = await scriptCalls();
  expect(after.evalsha - before.evalsha).toBe(1);
  expect(after.eval - before.eval).toBe(0);
});

test('blob leases work on a Redis that forgot their scripts (a restart or failover): claim, see held, release', async () => {
  const prefix = uniquePrefix('leases-flush');
  const a = new RedisBlobLeases({ url: redis.url, prefix });
  const b = new RedisBlobLeases({ url: redis.url, prefix });
  try {
    for (let i = 0; i < 50 && (await a.acquire(`probe-${i}`)).kind !== 'led'; i++) await new Promise((r) => setTimeout(r, 100));
    await client.script('FLUSH');
    const claim = await a.acquire('flight');
    expect(claim.kind).toBe('led');
    await client.script('FLUSH');
    expect((await b.acquire('flight')).kind).toBe('held');
    if (claim.kind === 'led') claim.release();
    let again = await b.acquire('flight');
    for (let i = 0; i < 50 && again.kind !== 'led'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      again = await b.acquire('flight');
    }
    expect(again.kind).toBe('led');
  } finally {
    a.close();
    b.close();
  }
});
