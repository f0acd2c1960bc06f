import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { EgressPolicy } from '@pullthrough/egress';
import { parseDigest } from '@pullthrough/oci';
import { startRedis, waitUntil, type RedisServer } from '@pullthrough/test-support';
import { eventId, SIGNATURE_HEADER, verifySignature, WebhookStore, type WebhookEvent } from '@pullthrough/webhooks';
import { jobFor, startHydratorEnv, startUpstream, type HydratorEnv, type Upstream } from './harness.js';

// Events from the hydration worker to a real HTTP receiver: cache.hydration_failed for a permanent
// failure (with its category), and a hydration whose events nobody subscribed to sends nothing.

let redis: RedisServer;
let upstream: Upstream;
let env: HydratorEnv;
const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    received.push({ headers: req.headers, body });
    res.end();
  });
});
const SECRET = 'events-secret-0123456789';

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  env = await startHydratorEnv(redis, upstream, { attempts: 3, backoffMs: 50 }, { PULLTHROUGH_PUBLIC_HOSTS: 'cache.example' });
  const webhooks = new WebhookStore(env.store, new EgressPolicy({ allow: '127.0.0.1' }));
  await webhooks.put('failures-only', { serviceUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, actions: ['cache.hydration_failed'], secret: SECRET });
}, 120_000);
afterAll(async () => {
  await env?.stop();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await upstream?.stop();
  await redis?.stop();
});

test('a permanent failure sends one signed cache.hydration_failed naming the category; a success sends nothing to a failures-only webhook', async () => {
  const f = upstream.fixtures.small;
  await env.completed(await env.enqueue(jobFor(upstream, f, 'events/ok')));

  const missing = parseDigest(`sha256:${randomBytes(32).toString('hex')}`);
  const { error } = await env.settle(await env.enqueue(jobFor(upstream, f, 'events/missing', { digest: missing, tag: undefined })));
  expect(error).toBeDefined();
  await waitUntil(async () => received.length >= 1, { what: 'the failure event', timeoutMs: 15_000 });
  await new Promise((r) => setTimeout(r, 300));
  expect(received).toHaveLength(1);
  const [got] = received;
  expect(verifySignature(SECRET, got!.body, String(got!.headers[SIGNATURE_HEADER.toLowerCase()]))).toBe(true);
  const event = JSON.parse(got!.body) as WebhookEvent;
  expect(event).toMatchObject({
    id: eventId('cache.hydration_failed', 'events/missing', missing),
    action: 'cache.hydration_failed',
    target: { repository: 'events/missing', digest: missing },
    request: { host: 'cache.example' },
    failure: { code: 'MANIFEST_UNKNOWN', category: 'upstream-not-found' },
  });
});
