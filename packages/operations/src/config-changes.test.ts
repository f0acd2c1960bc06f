import { Redis } from 'ioredis';
import { startRedis, uniquePrefix, waitUntil, type RedisServer } from '@pullthrough/test-support';
import { ConfigChangeBus, configChannel, type ConfigChange } from './config-changes.js';

let redis: RedisServer;
const open: { close(): void }[] = [];
const connections: Redis[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const b of open) b.close();
  for (const c of connections) c.disconnect();
  await redis?.stop();
});

function bus(prefix: string, heard: ConfigChange[], resyncs: { n: number } = { n: 0 }) {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  connection.on('error', () => undefined);
  connections.push(connection);
  const b = new ConfigChangeBus({ redis: connection, prefix, onChange: (c) => heard.push(c), onResync: () => resyncs.n++ });
  open.push(b);
  return b;
}

test('another process hears a change; the announcer does not hear itself; other prefixes hear nothing', async () => {
  const prefix = uniquePrefix('bus');
  const [mine, theirs, elsewhere]: [ConfigChange[], ConfigChange[], ConfigChange[]] = [[], [], []];
  const a = bus(prefix, mine);
  const b = bus(prefix, theirs);
  const c = bus(uniquePrefix('other'), elsewhere);
  await Promise.all([a.start(), b.start(), c.start()]);
  expect(await a.announce({ kind: 'cache-rules', name: 'dockerhub' })).toBe(2);
  await waitUntil(async () => theirs.length === 1, { timeoutMs: 2000, what: 'the announcement' });
  expect(theirs).toEqual([{ kind: 'cache-rules', name: 'dockerhub' }]);
  expect(mine).toEqual([]);
  expect(elsewhere).toEqual([]);
});

test('messages that are not well-formed changes are ignored', async () => {
  const prefix = uniquePrefix('bus');
  const heard: ConfigChange[] = [];
  await bus(prefix, heard).start();
  const raw = new Redis(redis.url);
  connections.push(raw);
  for (const text of ['not json', '{"kind":"secrets","name":"x"}', '{"kind":"webhooks"}', '[]']) await raw.publish(configChannel(prefix), text);
  await raw.publish(configChannel(prefix), JSON.stringify({ kind: 'webhooks', name: 'after' }));
  await waitUntil(async () => heard.length > 0, { timeoutMs: 2000, what: 'the valid message' });
  expect(heard).toEqual([{ kind: 'webhooks', name: 'after' }]);
});

test('after Redis comes back the subscriber resubscribes and asks for a full reload', async () => {
  const prefix = uniquePrefix('bus');
  const heard: ConfigChange[] = [];
  const resyncs = { n: 0 };
  const sender = bus(prefix, []);
  await bus(prefix, heard, resyncs).start();
  await sender.start();
  await redis.kill();
  expect(await sender.announce({ kind: 'access-policy', name: 'default' })).toBe(0); // Redis down: nothing announced, no throw
  await redis.restart();
  await waitUntil(async () => resyncs.n >= 1, { timeoutMs: 10_000, what: 'the resync' });
  await waitUntil(async () => (await sender.announce({ kind: 'credential-sets', name: 'hub' })) >= 1 && heard.length > 0, { timeoutMs: 10_000, what: 'an announcement after the restart' });
  expect(heard[0]).toEqual({ kind: 'credential-sets', name: 'hub' });
}, 30_000);
