import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
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

/** A TCP relay to Redis that, once asked, holds back the replies to a connection after it sent SUBSCRIBE. */
async function subscribeHoldingRelay(target: number): Promise<{ url: string; hold(): void; close(): void }> {
  let holding = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    let held = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => (client.destroy(), upstream.destroy()));
    }
    client.on('data', (d: Buffer) => {
      if (holding && /subscribe/i.test(d.toString('latin1'))) held = true;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => void (held || client.write(d)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold: () => void (holding = true),
    close: () => (server.close(), sockets.forEach((s) => s.destroy())),
  };
}

test('closing the bus while it resubscribes after an outage leaves no unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const prefix = uniquePrefix('bus');
    const errors: Error[] = [];
    const relay = await subscribeHoldingRelay(redis.port);
    open.push(relay);
    const connection = new Redis(relay.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    connection.on('error', () => undefined);
    connections.push(connection);
    let resynced = false;
    // Closed from inside the resync callback, while the relay holds back the answer to the resubscription.
    const b: ConfigChangeBus = new ConfigChangeBus({ redis: connection, prefix, onChange: () => undefined, onResync: () => ((resynced = true), b.close()), onError: (e) => errors.push(e) });
    await b.start();
    await redis.kill();
    relay.hold();
    await redis.restart();
    await waitUntil(async () => resynced, { timeoutMs: 10_000, what: 'the resync' });
    await new Promise((r) => setTimeout(r, 200)); // an unhandled rejection is reported after a turn or two
    expect(unhandled).toEqual([]);
    expect(errors.map((e) => e.message)).toContain('Connection is closed.');
  } finally {
    process.removeListener('unhandledRejection', onUnhandled);
  }
}, 30_000);
