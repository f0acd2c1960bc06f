import { Redis } from 'ioredis';
import { RedisBreakerBoard } from '@pullthrough/pull-through';
import { uniquePrefix, type RedisServer } from '@pullthrough/test-support';
import { eventually, sleep } from './fault-helpers.js';
import { startRedis } from './harness.js';

// The board the frontends and hydrators share breaker holds through, against a real redis-server.
const HOST = 'registry.example:5000';
let redis: RedisServer;
const boards: RedisBreakerBoard[] = [];
const clients: Redis[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 60_000);
afterEach(() => {
  boards.splice(0).forEach((b) => b.close());
  clients.splice(0).forEach((c) => c.disconnect());
});
afterAll(async () => {
  await redis?.stop();
});

function board(prefix: string): RedisBreakerBoard {
  const b = new RedisBreakerBoard({ url: redis.url, prefix, pollMs: 200 });
  boards.push(b);
  return b;
}

function client(): Redis {
  const c = new Redis(redis.url);
  clients.push(c);
  return c;
}

test('a hold announced on one board reaches the others by pub/sub and by poll; a later hold wins; keys and messages carry hosts and times only', async () => {
  const prefix = uniquePrefix('board');
  const [a, b] = [board(prefix), board(prefix)];
  const watcher = client();
  const messages: string[] = [];
  await watcher.subscribe(`${prefix}:breaker-events`);
  watcher.on('message', (_c: string, m: string) => messages.push(m));
  await eventually('boards connected', () => boards.every((x) => x.connected), 5000);

  const until = Date.now() + 5000;
  a.announceOpen(HOST, { until, throttled: true });
  await eventually('B learns the hold', () => b.hold(HOST)?.until === until, 2000);
  expect(b.hold(HOST)).toEqual({ until, throttled: true });
  expect(b.upstreams()).toEqual([HOST]);

  // An earlier hold does not shorten it, here or in Redis.
  b.announceOpen(HOST, { until: until - 3000, throttled: false });
  await sleep(300);
  expect(a.hold(HOST)).toEqual({ until, throttled: true });
  const stored = await client().get(`${prefix}:breaker:${HOST}`);
  expect(JSON.parse(stored!)).toEqual({ until, throttled: true });
  expect(await client().pttl(`${prefix}:breaker:${HOST}`)).toBeGreaterThan(5000);
  expect(messages.map((m) => JSON.parse(m) as unknown)).toEqual([{ upstream: HOST, until, throttled: true }]);

  // A board that starts later (it missed the message) reads the hold at once.
  const late = board(prefix);
  await eventually('the late board polls', () => late.hold(HOST)?.until === until, 2000);
  // Another prefix is another deployment: it sees nothing.
  const other = board(uniquePrefix('board'));
  await sleep(400);
  expect(other.hold(HOST)).toBeUndefined();
});

test('after a hold, exactly one board wins the trial call; its close reaches every board and their listeners', async () => {
  const prefix = uniquePrefix('board');
  const [a, b, c] = [board(prefix), board(prefix), board(prefix)];
  await eventually('boards connected', () => boards.every((x) => x.connected), 5000);
  const closed: string[] = [];
  b.onClosed((upstream) => closed.push(`b:${upstream}`));
  c.onClosed((upstream) => closed.push(`c:${upstream}`));
  const until = Date.now() + 200;
  a.announceOpen(HOST, { until, throttled: false });
  await eventually('every board learns the hold', () => [b, c].every((x) => x.hold(HOST)?.until === until), 2000);
  await sleep(Math.max(0, until - Date.now()));

  const claims = await Promise.all([a, b, c, a, b, c].map((x) => x.claimProbe(HOST, until)));
  const winners = [0, 1, 2].filter((i) => claims[i]);
  expect(winners).toHaveLength(1);
  // Claiming again (a retry after a slow answer) gives the same answer to the same board.
  expect(claims.slice(3)).toEqual(claims.slice(0, 3));
  // The next hold has its own claim.
  expect(await b.claimProbe(HOST, until + 1)).toBe(true);

  const winner = [a, b, c][winners[0]!]!;
  winner.announceClosed(HOST);
  await eventually('every board forgets the hold', () => [a, b, c].every((x) => x.hold(HOST) === undefined), 2000);
  // Every board hears it (the winner's own message too: closing an already closed breaker is harmless).
  await eventually('the listeners hear it', () => closed.length === 2, 2000);
  expect(closed.sort()).toEqual([`b:${HOST}`, `c:${HOST}`]);
  expect(await client().exists(`${prefix}:breaker:${HOST}`)).toBe(0);
});

test('the rate-limit view travels the same way: the newest wins, a late board reads it, numbers and a time only', async () => {
  const prefix = uniquePrefix('board');
  const [a, b] = [board(prefix), board(prefix)];
  await eventually('boards connected', () => boards.every((x) => x.connected), 5000);
  const observedAt = Date.now();
  a.announceRateLimit(HOST, { limit: 100, remaining: 7, windowSeconds: 21600, observedAt });
  await eventually('B learns the view', () => b.rateLimit(HOST)?.remaining === 7, 2000);
  expect(b.rateLimit(HOST)).toEqual({ limit: 100, remaining: 7, windowSeconds: 21600, observedAt });
  expect(b.upstreams()).toEqual([HOST]);
  b.announceRateLimit(HOST, { limit: 100, remaining: 9, windowSeconds: 21600, observedAt: observedAt - 1000 });
  await sleep(300);
  expect(a.rateLimit(HOST)?.remaining).toBe(7);
  expect(JSON.parse((await client().get(`${prefix}:ratelimit:${HOST}`))!)).toEqual({ limit: 100, remaining: 9, windowSeconds: 21600, observedAt: observedAt - 1000 });
  const late = board(prefix);
  await eventually('the late board polls', () => late.rateLimit(HOST) !== undefined, 2000);
  expect(late.rateLimit(HOST)?.remaining).toBe(9); // what Redis holds (a poll); pub/sub had the newer one for the others
});

test('Redis down: claims answer at once (this replica decides alone), the known holds stay, and they are shared again when Redis returns', async () => {
  const prefix = uniquePrefix('board');
  const a = board(prefix);
  await eventually('board connected', () => a.connected, 5000);
  await redis.kill();
  try {
    const until = Date.now() + 10_000;
    a.announceOpen(HOST, { until, throttled: false });
    expect(a.hold(HOST)).toEqual({ until, throttled: false });
    const started = Date.now();
    expect(await a.claimProbe(HOST, until)).toBe(true);
    expect(Date.now() - started).toBeLessThan(20);
  } finally {
    await redis.restart();
  }
  // Back (empty): the board shares what it knew, and a new board reads it.
  await eventually('the hold is in Redis again', async () => (await client().exists(`${prefix}:breaker:${HOST}`)) === 1, 10_000);
  const b = board(prefix);
  await eventually('a new board reads it', () => b.hold(HOST) !== undefined, 3000);
}, 30_000);
