import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { HYDRATION_QUEUE, hydrationJobId, type HydrationStatus } from '@pullthrough/hydration-jobs';
import type { Digest } from '@pullthrough/oci';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { skopeoCopy, tempDir, waitUntil, type RedisServer } from '@pullthrough/test-support';
import { deliveryJobId, SIGNATURE_HEADER, verifySignature, WEBHOOK_QUEUE } from '@pullthrough/webhooks';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { startHydratorFor, type HydratorProcess } from './hydrator-process.js';
import { startReceiver, type WebhookReceiver } from './webhook-receiver.js';

// The issue's acceptance list end to end: real redis-server, a real docker-registry upstream behind
// a counting proxy, the real frontend in-process, the built hydrator as its own process, and real
// HTTP receivers for the webhooks.

const ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
const SECRETS = { alpha: 'alpha-secret-0123456789', bravo: 'bravo-secret-0123456789', flaky: 'flaky-secret-0123456789', other: 'other-secret-0123456789' };

let redis: RedisServer;
let upstream: Upstream;
let upstreamStopped = false;
let cache: Cache;
let hydrator: HydratorProcess;
let connection: Redis;
let hydrationQueue: Queue;
let webhookQueue: Queue;
const receivers: Record<'alpha' | 'bravo' | 'flaky' | 'disabled' | 'scopedOut', WebhookReceiver> = {} as never;

const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${cache.adminUrl}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
const putWebhook = async (name: string, body: Record<string, unknown>) => {
  const res = await admin(`/webhooks/${name}`, { method: 'PUT', body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`PUT webhook ${name}: ${res.status} ${await res.text()}`);
};
const received = (r: WebhookReceiver, action: string) => r.received.filter((x) => (x.json.action ?? (x.json.data as { action?: string })?.action) === action);

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HYDRATION_DELAY_MS: '0' });
  hydrator = await startHydratorFor(cache, redis, upstream, { PULLTHROUGH_WEBHOOK_BACKOFF_MS: '200', PULLTHROUGH_PUBLIC_HOSTS: 'cache.example' });
  connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  hydrationQueue = new Queue(HYDRATION_QUEUE, { connection, prefix: cache.queuePrefix });
  webhookQueue = new Queue(WEBHOOK_QUEUE, { connection, prefix: cache.queuePrefix });

  receivers.alpha = await startReceiver();
  receivers.bravo = await startReceiver();
  receivers.flaky = await startReceiver((n) => (n <= 2 ? 500 : 200));
  receivers.disabled = await startReceiver();
  receivers.scopedOut = await startReceiver();
  expect((await putRule(cache, { name: 'accept-rule', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'hy/*', platforms: 'all' })).status).toBe(201);
  await putWebhook('hook-alpha', { serviceUri: receivers.alpha.url, actions: ['cache.hydrated', 'push'], scope: 'hy/*', secret: SECRETS.alpha, customHeaders: { 'X-Team': 'platform' } });
  await putWebhook('hook-bravo', { serviceUri: receivers.bravo.url, actions: ['cache.hydrated'], secret: SECRETS.bravo, cloudEvents: true });
  await putWebhook('hook-flaky', { serviceUri: receivers.flaky.url, actions: ['cache.hydrated'], scope: 'hy/multiplatform', secret: SECRETS.flaky });
  await putWebhook('hook-disabled', { serviceUri: receivers.disabled.url, actions: ['cache.hydrated', 'push', 'cache.hydration_failed'], status: 'disabled', secret: SECRETS.other });
  await putWebhook('hook-scoped-out', { serviceUri: receivers.scopedOut.url, actions: ['cache.hydrated', 'push', 'cache.hydration_failed'], scope: 'elsewhere/*', secret: SECRETS.other });
}, 120_000);

afterAll(async () => {
  await hydrationQueue?.close();
  await webhookQueue?.close();
  connection?.disconnect();
  await hydrator?.stop();
  await cache?.stop();
  for (const r of Object.values(receivers)) await r?.close();
  if (!upstreamStopped) await upstream?.stop();
  await redis?.stop();
});

describe('50 concurrent pulls of an uncached multi-platform image', () => {
  const repo = 'hy/multiplatform';
  let status: HydrationStatus;
  let answeredAt: number;

  test('collapse into one job that makes every platform local; the long-poll answers within 1 s of completion', async () => {
    const f = upstream.fixtures.multiPlatform;
    // The long-poll starts before the pulls: the job does not exist yet, so the tag is unknown...
    expect(await (await admin(`/hydrations?repository=${repo}&reference=v1`)).json()).toMatchObject({ state: 'unknown' });
    // A slow upstream keeps the job running while the long-poll starts.
    upstream.proxy.delayMs = 250;
    const pulls = await Promise.all(Array.from({ length: 50 }, () => fetch(`${cache.dataUrl}/v2/${repo}/manifests/v1`, { headers: { accept: ACCEPT } })));
    expect(pulls.map((r) => r.status)).toEqual(Array(50).fill(200));
    await cache.frontend.enqueuer.settle();
    // ...and once the tag is local, the long-poll waits for the job.
    const pollStartedAt = Date.now();
    const res = await admin(`/hydrations?repository=${repo}&reference=v1&wait=60`);
    answeredAt = Date.now();
    upstream.proxy.delayMs = 0;
    expect(res.status).toBe(200);
    status = (await res.json()) as HydrationStatus;
    expect(status).toMatchObject({ repository: repo, digest: f.digest, state: 'hydrated', attempts: 1 });

    const job = await hydrationQueue.getJob(hydrationJobId(repo, f.digest));
    expect(job?.finishedOn).toBeDefined();
    expect(pollStartedAt).toBeLessThan(job!.finishedOn!);
    expect(answeredAt - job!.finishedOn!).toBeLessThanOrEqual(1000);
    const counts = await hydrationQueue.getJobCounts('delayed', 'waiting', 'active', 'completed', 'failed', 'prioritized');
    expect(counts).toMatchObject({ completed: 1 });
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1);
    expect(upstream.proxy.count({ method: 'GET', kind: 'manifest', reference: 'v1' })).toBe(1);

    const store = new RegistryStore(new FilesystemDriver(cache.dataDir));
    for (const child of f.manifests ?? []) expect(await store.getManifest(repo, child.digest)).toBeDefined();
    for (const blob of f.blobs) expect((await store.statRepositoryBlob(repo, blob.digest as Digest))?.size).toBe(blob.size);
    expect(status.progress).toEqual({ blobsDone: f.blobs.length, blobsTotal: f.blobs.length, bytesDone: f.blobs.reduce((n, b) => n + b.size, 0) });
    expect(status.timings?.finishedAt).toBeDefined();
  }, 90_000);

  test('one signed cache.hydrated per subscribed webhook; ACR push events for tag, digest and each platform', async () => {
    const f = upstream.fixtures.multiPlatform;
    await waitUntil(async () => received(receivers.alpha, 'cache.hydrated').length >= 1 && received(receivers.bravo, 'cache.hydrated').length >= 1 && receivers.alpha.received.length >= 5, {
      what: 'deliveries to alpha and bravo',
      timeoutMs: 20_000,
    });
    const [hydrated] = received(receivers.alpha, 'cache.hydrated');
    expect(received(receivers.alpha, 'cache.hydrated')).toHaveLength(1);
    expect(hydrated!.json).toMatchObject({ action: 'cache.hydrated', target: { repository: repo, digest: f.digest, tag: 'v1', mediaType: f.mediaType }, request: { host: 'cache.example' } });
    expect(hydrated!.headers['x-team']).toBe('platform');
    for (const r of receivers.alpha.received) expect(verifySignature(SECRETS.alpha, r.body, String(r.headers[SIGNATURE_HEADER.toLowerCase()]))).toBe(true);
    expect(verifySignature(SECRETS.bravo, hydrated!.body, String(hydrated!.headers[SIGNATURE_HEADER.toLowerCase()]))).toBe(false);
    const pushes = received(receivers.alpha, 'push').map((r) => r.json.target as { digest: string; tag?: string });
    // Published in this order (index by tag, by digest, then each platform); deliveries run concurrently, so compare as sets.
    const key = (digest: string, tag?: string) => `${digest}${tag ? `:${tag}` : ''}`;
    expect(pushes.map((t) => key(t.digest, t.tag)).sort()).toEqual([key(f.digest, 'v1'), key(f.digest), ...(f.manifests ?? []).map((m) => key(m.digest))].sort());

    const [cloud] = receivers.bravo.received;
    expect(receivers.bravo.received).toHaveLength(1);
    expect(cloud!.headers['content-type']).toMatch(/^application\/cloudevents\+json/);
    expect(cloud!.json).toMatchObject({ specversion: '1.0', id: (hydrated!.json as { id: string }).id, type: 'io.pullthrough.cache.hydrated', data: { action: 'cache.hydrated' } });
    expect(verifySignature(SECRETS.bravo, cloud!.body, String(cloud!.headers[SIGNATURE_HEADER.toLowerCase()]))).toBe(true);
  }, 30_000);

  test('a receiver that fails twice gets the event on the 3rd attempt with the same id; the attempts are listed', async () => {
    await waitUntil(async () => receivers.flaky.received.length >= 3, { what: 'three attempts at the flaky receiver', timeoutMs: 20_000 });
    const ids = receivers.flaky.received.map((r) => r.json.id);
    expect(receivers.flaky.received.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toBe(received(receivers.alpha, 'cache.hydrated')[0]!.json.id);
    type Deliveries = { deliveries: Array<{ attempt: number; statusCode: number; ok: boolean; eventId: string; latencyMs: number }> };
    let deliveries: Deliveries = { deliveries: [] };
    // The attempt is recorded right after the receiver answers: wait for the record too.
    await waitUntil(async () => (deliveries = (await (await admin('/webhooks/hook-flaky/deliveries')).json()) as Deliveries).deliveries.length >= 3, {
      what: 'three recorded attempts',
      timeoutMs: 10_000,
    });
    expect(deliveries.deliveries.map((d) => [d.attempt, d.statusCode, d.ok])).toEqual([
      [3, 200, true],
      [2, 500, false],
      [1, 500, false],
    ]);
    expect(deliveries.deliveries.every((d) => d.eventId === ids[0] && d.latencyMs >= 0)).toBe(true);
  }, 30_000);

  test('a disabled webhook and a webhook whose scope does not match get nothing', async () => {
    const eventId = String(received(receivers.alpha, 'cache.hydrated')[0]!.json.id);
    // Every delivery that was queued has run (the flaky one took three attempts)...
    await waitUntil(async () => Object.values(await webhookQueue.getJobCounts('waiting', 'active', 'delayed')).every((n) => n === 0), {
      what: 'the webhook queue to drain',
      timeoutMs: 20_000,
    });
    // ...and none was ever queued for these two.
    for (const name of ['hook-disabled', 'hook-scoped-out']) expect(await webhookQueue.getJob(deliveryJobId(name, eventId))).toBeUndefined();
    expect(receivers.disabled.received).toHaveLength(0);
    expect(receivers.scopedOut.received).toHaveLength(0);
    expect(received(receivers.alpha, 'cache.hydrated')).toHaveLength(1);
    expect(received(receivers.bravo, 'cache.hydrated')).toHaveLength(1);
  }, 30_000);
});

describe('status, prefetch and webhook admin', () => {
  test('status of an unknown reference is unknown, not an error; bad queries are problem JSON naming the field', async () => {
    const unknownTag = await admin('/hydrations?repository=hy/nothing&reference=v9');
    expect(unknownTag.status).toBe(200);
    expect(await unknownTag.json()).toEqual({ repository: 'hy/nothing', reference: 'v9', state: 'unknown' });
    const digest = `sha256:${'0'.repeat(64)}`;
    expect(await (await admin(`/hydrations?repository=hy/nothing&reference=${digest}&wait=0.2`)).json()).toMatchObject({ state: 'unknown', digest });
    const bad = await admin('/hydrations?reference=%20bad&wait=999');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: Array<{ field: string }> }).errors.map((e) => e.field).sort()).toEqual(['repository', 'wait']);
  });

  test('prefetch hydrates a tag nobody pulled; each blob comes from the upstream once', async () => {
    const f = upstream.fixtures.multiLayer;
    upstream.proxy.reset();
    const res = await admin('/cache-rules/accept-rule/prefetch', { method: 'POST', body: JSON.stringify({ repository: 'hy/multilayer', references: ['v1', 'no-such-tag'] }) });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { prefetch: Array<{ reference: string; digest?: string; jobId?: string; error?: { code: string } }> };
    expect(body.prefetch[0]).toMatchObject({ reference: 'v1', digest: f.digest, jobId: hydrationJobId('hy/multilayer', f.digest) });
    expect(body.prefetch[1]).toMatchObject({ reference: 'no-such-tag', error: { code: 'MANIFEST_UNKNOWN' } });
    const status = (await (await admin(`/hydrations?repository=hy/multilayer&reference=${f.digest}&wait=60`)).json()) as HydrationStatus;
    expect(status.state).toBe('hydrated');
    for (const blob of f.blobs) expect(upstream.proxy.count({ method: 'GET', kind: 'blob', reference: blob.digest })).toBe(1);
    expect((await admin('/cache-rules/no-such-rule/prefetch', { method: 'POST', body: JSON.stringify({ references: ['v1'] }) })).status).toBe(404);
    const wildcard = await admin('/cache-rules/accept-rule/prefetch', { method: 'POST', body: JSON.stringify({ references: ['v1'] }) });
    expect(wildcard.status).toBe(422);
    expect(await wildcard.json()).toMatchObject({ errors: [{ field: 'repository' }] });
  }, 60_000);

  test('GET never shows the secret; invalid webhooks are 422 with fields; ping reaches the receiver; nothing secret is logged', async () => {
    const got = await admin('/webhooks/hook-alpha');
    const text = await got.text();
    expect(got.status).toBe(200);
    expect(text).not.toContain(SECRETS.alpha);
    expect(JSON.parse(text)).not.toHaveProperty('secret');
    expect(JSON.stringify(await (await admin('/webhooks')).json())).not.toMatch(/secret-0123/);
    const invalid = await admin('/webhooks/hook-bad1', { method: 'PUT', body: JSON.stringify({ serviceUri: 'ftp://x.example/', actions: ['pull'] }) });
    expect(invalid.status).toBe(422);
    expect(((await invalid.json()) as { errors: Array<{ field: string }> }).errors.map((e) => e.field).sort()).toEqual(['actions.0', 'secret']);
    expect((await admin('/webhooks/hook-none1/deliveries')).status).toBe(404);

    const before = receivers.bravo.received.length;
    const ping = await admin('/webhooks/hook-bravo/ping', { method: 'POST' });
    expect(ping.status).toBe(202);
    const { eventId } = (await ping.json()) as { eventId: string };
    await waitUntil(async () => receivers.bravo.received.length > before, { what: 'the ping', timeoutMs: 10_000 });
    expect(receivers.bravo.received[before]!.json).toMatchObject({ id: eventId, type: 'io.pullthrough.ping' });

    const log = await readFile(hydrator.logPath, 'utf8');
    expect(log).toContain('webhook delivered');
    for (const secret of Object.values(SECRETS)) expect(log).not.toContain(secret);
  }, 30_000);
});

describe('after hydration, with the upstream stopped', () => {
  test('every platform of the image pulls with skopeo from the cache', async () => {
    const f = upstream.fixtures.multiPlatform;
    await upstream.stop();
    upstreamStopped = true;
    const out = await tempDir('skopeo-all-');
    try {
      await skopeoCopy(['--all', '--src-tls-verify=false', '--src-no-creds', `docker://${cache.host}/hy/multiplatform:v1`, `dir:${out.path}`]);
      const files = new Set(await readdir(out.path));
      for (const blob of f.blobs) expect(files.has(blob.digest.slice('sha256:'.length))).toBe(true);
      for (const child of f.manifests ?? []) expect(files.has(`${child.digest.slice('sha256:'.length)}.manifest.json`)).toBe(true);
      expect((await readFile(join(out.path, 'manifest.json'))).equals(f.manifest)).toBe(true);
    } finally {
      await out.remove();
    }
  }, 60_000);
});
