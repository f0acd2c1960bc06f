import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { startRedis, tempDir, uniquePrefix, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { createWebhookQueue, DeliveryLog, deliveryJobId, pingEvent, sendWebhook, SIGNATURE_HEADER, verifySignature, WebhookPublisher, WebhookStore, WebhookValidationError } from './index.js';

// Real storage (filesystem driver), real redis-server + BullMQ queue, real HTTP receiver on loopback.

let redis: RedisServer;
let client: Redis;
let dir: TempDir;
let store: WebhookStore;
beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  dir = await tempDir('webhooks-');
  store = new WebhookStore(new RegistryStore(new FilesystemDriver(dir.path)), { allowPrivate: true });
}, 30_000);
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
  await dir?.remove();
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
  const strict = new WebhookStore(new RegistryStore(new FilesystemDriver(dir.path)), { allowPrivate: false });
  await expect(strict.put('loopback', { serviceUri: 'http://127.0.0.1:9/x', actions: ['push'], secret: 'first-secret-0123456' })).rejects.toThrow(/loopback, private/);
  expect(await store.delete('keeper')).toBe(true);
  expect(await store.delete('keeper')).toBe(false);
});

test('a delivery is signed over the exact body, carries custom headers and the event id; non-2xx is a failure', async () => {
  let status = 500;
  const r = await receiver(() => status);
  try {
    const { webhook } = await store.put('signed', { serviceUri: r.url, actions: ['push'], secret: 'signing-secret-0123', customHeaders: { 'X-Team': 'platform' } });
    const event = pingEvent({ host: 'cache.example' });
    const failed = await sendWebhook(webhook, event, { policy: { allowPrivate: true }, timeoutMs: 2000 });
    expect(failed).toMatchObject({ ok: false, statusCode: 500, error: 'receiver answered 500' });
    status = 204;
    const ok = await sendWebhook(webhook, event, { policy: { allowPrivate: true }, timeoutMs: 2000 });
    expect(ok).toMatchObject({ ok: true, statusCode: 204 });
    expect(r.received).toHaveLength(2);
    for (const got of r.received) {
      expect(verifySignature('signing-secret-0123', got.body, String(got.headers[SIGNATURE_HEADER.toLowerCase()]))).toBe(true);
      expect(got.headers['x-team']).toBe('platform');
      expect(got.headers['x-pullthrough-event-id']).toBe(event.id);
      expect(JSON.parse(got.body).id).toBe(event.id);
    }
    // The same target is refused at delivery time when private targets are not allowed (DNS can change after save).
    const refused = await sendWebhook(webhook, event, { policy: { allowPrivate: false }, timeoutMs: 2000 });
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/loopback, private/);
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
    const res = await sendWebhook(webhook, pingEvent({ host: 'h' }), { policy: { allowPrivate: true }, timeoutMs: 200 });
    expect(res).toMatchObject({ ok: false, error: 'no answer within 200 ms' });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('publisher fans out one job per wanting webhook and event; republishing collapses; the log is capped', async () => {
  const prefix = uniquePrefix('wh-pub');
  const own = new WebhookStore(new RegistryStore(new FilesystemDriver((await tempDir('wh-pub-')).path)), { allowPrivate: true });
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
