import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createEgressAgent, EgressPolicy } from '@pullthrough/egress';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { startRedis, tempDir, uniquePrefix, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { createWebhookQueue, DeliveryLog, deliveryJobId, pingEvent, sendWebhook, SIGNATURE_HEADER, verifySignature, WebhookPublisher, WebhookStore, WebhookValidationError } from './index.js';

// Real storage (filesystem driver), real redis-server + BullMQ queue, real HTTP receiver on loopback.
// The receivers listen on 127.0.0.1: the egress policy lets it through explicitly.
const LOOPBACK = new EgressPolicy({ allow: '127.0.0.1' });
const loopbackAgent = createEgressAgent(LOOPBACK);
const strictAgent = createEgressAgent(new EgressPolicy());

let redis: RedisServer;
let client: Redis;
let dir: TempDir;
let store: WebhookStore;
beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  dir = await tempDir('webhooks-');
  store = new WebhookStore(new RegistryStore(new FilesystemDriver(dir.path)), LOOPBACK);
}, 30_000);
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
  await dir?.remove();
  await Promise.all([loopbackAgent.close(), strictAgent.close()]);
});

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}
async function receiver(status: () => number) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = status();
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('put keeps the stored secret when a later PUT omits it; the service URI policy applies on save', async () => {
  const first = await store.put('keeper', { serviceUri: 'http://127.0.0.1:9/x', actions: ['push'], secret: 'first-secret-0123456' });
  expect(first.created).toBe(true);
  const second = await store.put('keeper', { serviceUri: 'http://127.0.0.1:9/y', actions: ['push', 'cache.hydrated'] });
  expect(second.created).toBe(false);
  expect((await store.get('keeper'))?.secret).toBe('first-secret-0123456');
  await expect(store.put('keeper', { name: 'other', serviceUri: 'http://127.0.0.1:9/y', actions: ['push'] })).rejects.toThrow(WebhookValidationError);
  const strict = new WebhookStore(new RegistryStore(new FilesystemDriver(dir.path)), new EgressPolicy());
  await expect(strict.put('loopback', { serviceUri: 'http://127.0.0.1:9/x', actions: ['push'], secret: 'first-secret-0123456' })).rejects.toThrow(/loopback address/);
  expect(await store.delete('keeper')).toBe(true);
  expect(await store.delete('keeper')).toBe(false);
});

test('a delivery is signed over the exact body, carries custom headers and the event id; non-2xx is a failure', async () => {
  let status = 500;
  const r = await receiver(() => status);
  try {
    const { webhook } = await store.put('signed', { serviceUri: r.url, actions: ['push'], secret: 'signing-secret-0123', customHeaders: { 'X-Team': 'platform' } });
    const event = pingEvent({ host: 'cache.example' });
    const failed = await sendWebhook(webhook, event, { dispatcher: loopbackAgent, timeoutMs: 2000 });
    expect(failed).toMatchObject({ ok: false, statusCode: 500, error: 'receiver answered 500' });
    status = 204;
    const ok = await sendWebhook(webhook, event, { dispatcher: loopbackAgent, timeoutMs: 2000 });
    expect(ok).toMatchObject({ ok: true, statusCode: 204 });
    expect(r.received).toHaveLength(2);
    for (const got of r.received) {
      expect(verifySignature('signing-secret-0123', got.body, String(got.headers[SIGNATURE_HEADER.toLowerCase()]))).toBe(true);
      expect(got.headers['x-team']).toBe('platform');
      expect(got.headers['x-pullthrough-event-id']).toBe(event.id);
      expect(JSON.parse(got.body).id).toBe(event.id);
    }
    // The same target is refused when it is dialled through an agent whose policy does not allow it.
    const refused = await sendWebhook(webhook, event, { dispatcher: strictAgent, timeoutMs: 2000 });
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/127\.0\.0\.1:\d+ is a loopback address, not allowed by the egress policy/);
    expect(r.received).toHaveLength(2);
  } finally {
    await r.close();
  }
});

test('a receiver that does not answer in time fails with a timeout', async () => {
  const server = createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const { webhook } = await store.put('slowpoke', { serviceUri: url, actions: ['push'], secret: 'signing-secret-0123' });
    const res = await sendWebhook(webhook, pingEvent({ host: 'h' }), { dispatcher: loopbackAgent, timeoutMs: 200 });
    expect(res).toMatchObject({ ok: false, error: 'no answer within 200 ms' });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('publisher fans out one job per wanting webhook and event; republishing collapses; the log is capped', async () => {
  const prefix = uniquePrefix('wh-pub');
  const own = new WebhookStore(new RegistryStore(new FilesystemDriver((await tempDir('wh-pub-')).path)), LOOPBACK);
  await own.put('all-push', { serviceUri: 'http://127.0.0.1:9/', actions: ['push'], secret: 'signing-secret-0123' });
  await own.put('scoped-out', { serviceUri: 'http://127.0.0.1:9/', actions: ['push'], scope: 'elsewhere/*', secret: 'signing-secret-0123' });
  await own.put('disabled', { serviceUri: 'http://127.0.0.1:9/', actions: ['push'], status: 'disabled', secret: 'signing-secret-0123' });
  const queue = createWebhookQueue({ host: redis.host, port: redis.port, maxRetriesPerRequest: null }, prefix);
  try {
    const event = { ...pingEvent({ host: 'h' }), action: 'push' as const, target: { mediaType: 'm', size: 1, digest: 'sha256:' + 'e'.repeat(64), length: 1, repository: 'hy/app' } };
    const publisher = new WebhookPublisher(own, queue);
    expect(await publisher.publish([event])).toBe(1);
    expect(await publisher.publish([event])).toBe(1);
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
    expect(await queue.getJob(deliveryJobId('all-push', event.id))).toBeDefined();

    const log = new DeliveryLog(client, prefix, 3);
    for (let i = 1; i <= 5; i++) await log.record('all-push', { eventId: event.id, action: 'push', attempt: i, at: new Date().toISOString(), ok: i === 5, latencyMs: 1 });
    expect((await log.list('all-push')).map((a) => a.attempt)).toEqual([5, 4, 3]);
  } finally {
    await queue.close();
  }
});

test('DNS rebinding: a name that resolved to a public address on save and to 127.0.0.1 at delivery is refused when dialled', async () => {
  const r = await receiver(() => 204);
  const port = new URL(r.url).port;
  const answers: string[][] = [['93.184.215.14'], ['127.0.0.1']];
  const asked: string[] = [];
  const rebinding = new EgressPolicy({
    resolve: async (host) => {
      asked.push(host);
      return answers[Math.min(asked.length - 1, answers.length - 1)]!;
    },
  });
  const agent = createEgressAgent(rebinding);
  try {
    const saving = new WebhookStore(new RegistryStore(new FilesystemDriver(dir.path)), rebinding);
    const { webhook } = await saving.put('rebinder', { serviceUri: `http://hooks.rebind.test:${port}/hook`, actions: ['push'], secret: 'signing-secret-0123' });
    expect(asked).toEqual(['hooks.rebind.test']);
    const res = await sendWebhook(webhook, pingEvent({ host: 'h' }), { dispatcher: agent, timeoutMs: 2000 });
    expect(asked).toEqual(['hooks.rebind.test', 'hooks.rebind.test']);
    expect(res.ok).toBe(false);
    expect(res.statusCode).toBeUndefined();
    expect(res.error).toBe(`egress refused: hooks.rebind.test (127.0.0.1:${port}) is a loopback address, not allowed by the egress policy`);
    expect(r.received).toHaveLength(0);
  } finally {
    await agent.close();
    await r.close();
  }
});
