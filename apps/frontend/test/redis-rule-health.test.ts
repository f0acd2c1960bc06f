import { Redis } from 'ioredis';
import { RedisRuleHealth, type RedisRuleHealthOptions, type RuleHealthSnapshot } from '@pullthrough/pull-through';
import { uniquePrefix, type RedisServer } from '@pullthrough/test-support';
import { eventually, sleep } from './fault-helpers.js';
import { startRedis } from './harness.js';

// Rule health shared by the frontends through a real redis-server: batched writes, windowed counts,
// and each process's own view while Redis is down or hung.
const RULE = 'hub-rule';
let redis: RedisServer;
const trackers: RedisRuleHealth[] = [];
const clients: Redis[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 60_000);
afterEach(async () => {
  await Promise.all(trackers.splice(0).map((t) => t.close()));
  clients.splice(0).forEach((c) => c.disconnect());
});
afterAll(async () => {
  await redis?.stop();
});

function tracker(prefix: string, options: Partial<RedisRuleHealthOptions> = {}): RedisRuleHealth {
  const t = new RedisRuleHealth({ url: redis.url, prefix, windowMs: 60_000, flushMs: 200, ...options });
  trackers.push(t);
  return t;
}

function client(): Redis {
  const c = new Redis(redis.url);
  clients.push(c);
  return c;
}

async function healthOf(t: RedisRuleHealth, rule = RULE): Promise<RuleHealthSnapshot & { scope: string }> {
  const reading = await t.read([rule]);
  return { ...reading.health(rule), scope: reading.scope };
}

test('outcomes recorded on A show on B within the flush interval; A sees its own at once; Redis holds names, counts, times and a sanitized message only', async () => {
  const prefix = uniquePrefix('health');
  const [a, b] = [tracker(prefix), tracker(prefix)];
  await eventually('connected', () => a.connected && b.connected, 5000);

  a.served(RULE, 'miss');
  a.served(RULE, 'hit');
  a.served(RULE, 'stale');
  a.upstreamAnswered(RULE, 'mirror.example', true);
  // B's success comes before A's failure (recorded in that order, so never a millisecond after it): the failure is the latest outcome.
  b.served(RULE, 'revalidated');
  a.failed(RULE, 'upstream-unavailable', 'redirect to https://someone:hunter2@blob.example/layer?sig=s3cr3t-sig failed');
  // Unflushed counts are part of the shared view of the process that recorded them.
  expect(await healthOf(a)).toMatchObject({ scope: 'shared', recent: { hits: 1, misses: 1, stale: 1, errors: 1 } });

  await eventually('B sees A', async () => (await healthOf(b)).recent.misses === 1, 2000);
  const onB = await healthOf(b);
  expect(onB).toMatchObject({
    scope: 'shared',
    state: 'failing',
    recent: { windowSeconds: 60, hits: 2, misses: 1, stale: 1, errors: 1 },
    lastFailure: { category: 'upstream-unavailable', message: 'redirect to https://blob.example/layer failed' },
    lastServedBy: { upstream: 'mirror.example', fallback: true },
  });
  await eventually('A sees B', async () => (await healthOf(a)).recent.hits === 2, 2000);
  expect(await healthOf(a)).toEqual(await healthOf(b));
  // A rule nobody pulled is unknown everywhere.
  expect(await healthOf(b, 'other-rule')).toMatchObject({ scope: 'shared', state: 'unknown', recent: { hits: 0, misses: 0, stale: 0, errors: 0 } });

  const raw = client();
  const keys = (await raw.keys(`${prefix}:*`)).sort();
  expect(keys).toEqual([`${prefix}:rule-health:${RULE}`, expect.stringMatching(new RegExp(`^${prefix}:rule-health:${RULE}:4000:\\d+$`))]);
  const dump = JSON.stringify(await Promise.all(keys.map((k) => raw.hgetall(k))));
  expect(dump).not.toMatch(/hunter2|s3cr3t|someone/);
  expect(await raw.hgetall(keys[1]!)).toEqual({ hits: '2', misses: '1', stale: '1', errors: '1' });
  // Counts expire once their bucket has left the window (plus a minute for clock skew); facts after 7 days.
  const bucketTtl = await raw.pttl(keys[1]!);
  expect(bucketTtl).toBeGreaterThan(60_000);
  expect(bucketTtl).toBeLessThanOrEqual(60_000 + 4000 + 60_000);
  expect(await raw.pttl(keys[0]!)).toBeGreaterThan(6 * 24 * 3_600_000);
});

test('counts fall out of the window; the last success and failure stay', async () => {
  const prefix = uniquePrefix('health');
  const [a, b] = [tracker(prefix, { windowMs: 2000, buckets: 4 }), tracker(prefix, { windowMs: 2000, buckets: 4 })];
  await eventually('connected', () => a.connected && b.connected, 5000);
  a.served(RULE, 'miss');
  a.failed(RULE, 'upstream-throttled', 'upstream registry.example is throttling us: upstream answered 429');
  await eventually('B sees A', async () => (await healthOf(b)).recent.errors === 1, 2000);
  expect(await healthOf(b)).toMatchObject({ state: 'failing', recent: { windowSeconds: 2, misses: 1, errors: 1 } });
  await sleep(2600);
  const later = await healthOf(b);
  expect(later).toMatchObject({ scope: 'shared', state: 'healthy', recent: { hits: 0, misses: 0, stale: 0, errors: 0 }, lastFailure: { category: 'upstream-throttled' } });
  expect(Date.parse(later.lastSuccess!)).toBeGreaterThan(Date.now() - 10_000);
});

test('a later fact wins whatever order the replicas flush in', async () => {
  const prefix = uniquePrefix('health');
  const [a, b] = [tracker(prefix, { flushMs: 600_000 }), tracker(prefix, { flushMs: 600_000 })];
  await eventually('connected', () => a.connected && b.connected, 5000);
  a.failed(RULE, 'upstream-unavailable', 'first failure');
  await sleep(5);
  b.failed(RULE, 'upstream-auth', 'second failure');
  await sleep(5);
  b.served(RULE, 'hit');
  await b.flush();
  await a.flush();
  const c = tracker(prefix, { flushMs: 600_000 });
  await eventually('C connected', () => c.connected, 5000);
  // B's failure is the later one, and a success followed it: degraded (errors in the window), not failing.
  expect(await healthOf(c)).toMatchObject({ scope: 'shared', state: 'degraded', lastFailure: { category: 'upstream-auth', message: 'second failure' }, recent: { hits: 1, errors: 2 } });
});

test('Redis killed: each process answers with its own view (scope local) at once; what it recorded meanwhile is shared when Redis is back', async () => {
  const prefix = uniquePrefix('health');
  const [a, b] = [tracker(prefix), tracker(prefix)];
  await eventually('connected', () => a.connected && b.connected, 5000);
  a.served(RULE, 'miss');
  await eventually('B sees A', async () => (await healthOf(b)).recent.misses === 1, 2000);

  await redis.kill();
  try {
    await eventually('A sees Redis down', () => !a.connected, 5000);
    for (let i = 0; i < 5; i++) a.served(RULE, 'hit');
    a.failed(RULE, 'upstream-unavailable', 'upstream registry.example is unavailable: upstream answered 502');
    const started = Date.now();
    const onA = await healthOf(a);
    expect(Date.now() - started).toBeLessThan(300); // no wait on Redis (a hung one is the next test)
    expect(onA).toMatchObject({ scope: 'local', state: 'failing', recent: { hits: 5, misses: 1, errors: 1 } });
    // B pulled nothing itself: its own view knows nothing.
    expect(await healthOf(b)).toMatchObject({ scope: 'local', state: 'unknown', recent: { hits: 0, misses: 0 } });
    await sleep(500); // flushes come and go while Redis is down: they keep their counts
  } finally {
    await redis.restart(); // empty: no persistence
  }
  await eventually('A and B connected again', () => a.connected && b.connected, 10_000);
  await eventually('B sees what A recorded during the outage', async () => (await healthOf(b)).recent.hits === 5, 5000);
  expect(await healthOf(b)).toMatchObject({ scope: 'shared', state: 'failing', recent: { hits: 5, misses: 0, errors: 1 } });
}, 30_000);

test('Redis hung (CLIENT PAUSE): recording never waits, reads answer locally within their timeout, and every count lands exactly once after the pause', async () => {
  const prefix = uniquePrefix('health');
  const [a, b] = [tracker(prefix), tracker(prefix)];
  await eventually('connected', () => a.connected && b.connected, 5000);
  a.served(RULE, 'hit');
  await eventually('B sees A', async () => (await healthOf(b)).recent.hits === 1, 2000);

  const pauseMs = 4000;
  await client().call('CLIENT', 'PAUSE', String(pauseMs), 'ALL');
  const pausedAt = Date.now();
  // Flushes are sent every 200 ms into the paused server, time out after 1 s, and are not resent.
  for (let i = 0; i < 20; i++) {
    a.served(RULE, 'miss');
    await sleep(100);
  }
  const started = Date.now();
  const onA = await healthOf(a);
  const took = Date.now() - started;
  expect(Date.now() - pausedAt).toBeLessThan(pauseMs); // still paused when it answered
  expect(took).toBeLessThan(pauseMs / 2);
  expect(onA).toMatchObject({ scope: 'local', recent: { hits: 1, misses: 20 } });

  await eventually('B sees every miss', async () => (await healthOf(b)).recent.misses === 20, 10_000);
  await sleep(1000); // a count sent twice would show now
  expect(await healthOf(b)).toMatchObject({ scope: 'shared', recent: { hits: 1, misses: 20 } });
}, 30_000);
