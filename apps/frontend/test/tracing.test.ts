import { readFile } from 'node:fs/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { HYDRATION_QUEUE, hydrationJobId } from '@pullthrough/hydration-jobs';
import { startOtlpReceiver, waitUntil, type OtlpReceiver, type ReceivedSpan, type RedisServer } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putEnvCredentialSet, putRule, startCache, startRedis, startUpstream, UPSTREAM_SECRETS, type Cache, type Upstream } from './harness.js';
import { startHydratorProcess, type HydratorProcess } from './hydrator-process.js';
import { sampleSum, scrape } from './prometheus-text.js';
import { startReceiver, type WebhookReceiver } from './webhook-receiver.js';

// Tracing on, end to end: the real frontend in-process and the built hydrator as its own process
// both export to an OTLP/HTTP receiver in test support; the upstream is a real docker-registry with
// token auth, reached through a credential set whose secrets are env: references.

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';
const SERVER = 2;
const CLIENT = 3;
const CONSUMER = 5;

let redis: RedisServer;
let receiver: OtlpReceiver;
let upstream: Upstream;
let cache: Cache;
let hydrator: HydratorProcess;
let webhookReceiver: WebhookReceiver;
const WEBHOOK_SECRET = 'traced-webhook-secret-0123456789';

beforeAll(async () => {
  redis = await startRedis();
  receiver = await startOtlpReceiver();
  upstream = await startUpstream({ auth: 'token', username: UPSTREAM_SECRETS.PULLTHROUGH_SECRET_UP_USER, password: UPSTREAM_SECRETS.PULLTHROUGH_SECRET_UP_PASS });
  // Neither the config nor layers are fetched ahead: the job fetches every blob itself (its span's count is exact).
  cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HYDRATION_DELAY_MS: '0', PULLTHROUGH_OTLP_ENDPOINT: receiver.url, PULLTHROUGH_PREFETCH_CONFIG: 'false', PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: '0' }, UPSTREAM_SECRETS);
  hydrator = await startHydratorProcess({
    PULLTHROUGH_DATA_DIR: cache.dataDir,
    REDIS_URL: redis.url,
    PULLTHROUGH_QUEUE_PREFIX: cache.queuePrefix,
    PULLTHROUGH_INSECURE_UPSTREAMS: upstream.proxy.host,
    PULLTHROUGH_OTLP_ENDPOINT: receiver.url,
    ...UPSTREAM_SECRETS,
  });
  webhookReceiver = await startReceiver();
  const hook = await fetch(`${cache.adminUrl}/api/v1/webhooks/traced-hook`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ serviceUri: webhookReceiver.url, actions: ['cache.hydrated'], scope: 'tr/multilayer', secret: WEBHOOK_SECRET }),
  });
  expect(hook.status).toBe(201);
  expect((await putEnvCredentialSet(cache, 'traced-creds', upstream.proxy.host)).status).toBe(201);
  expect((await putRule(cache, { name: 'traced', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'tr/*', credentialSetName: 'traced-creds', anonymousPull: true })).status).toBe(201);
});
afterAll(async () => {
  await hydrator?.stop();
  await cache?.stop();
  await upstream?.stop();
  await receiver?.stop();
  await webhookReceiver?.close();
  await redis?.stop();
});

/** Is `span` below `ancestor` (through any number of parents)? */
function descendsFrom(span: ReceivedSpan, ancestor: ReceivedSpan, all: ReceivedSpan[]): boolean {
  let current: ReceivedSpan | undefined = span;
  for (let depth = 0; current && depth < 50; depth++) {
    if (current.parentSpanId === ancestor.spanId) return true;
    current = all.find((s) => s.spanId === current!.parentSpanId);
  }
  return false;
}

describe('tracing across both apps', () => {
  it('one pull: server span, upstream spans below it, and the hydration job in the hydrator continuing the same trace', async () => {
    const f = upstream.fixtures.multiLayer;
    const res = await fetch(`${cache.dataUrl}/v2/tr/multilayer/manifests/v1`, { headers: { accept: ACCEPT } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-cache')).toBe('miss');
    await res.arrayBuffer();

    const hydration = () => receiver.spans.find((s) => s.name === 'hydration job' && s.attributes['pullthrough.repository'] === 'tr/multilayer' && s.attributes['pullthrough.hydration.blobs_fetched'] !== undefined);
    await waitUntil(async () => hydration() !== undefined, { what: 'the hydration job span', timeoutMs: 30_000 });
    const server = receiver.spans.find((s) => s.name === 'GET /v2/:name/manifests/:reference' && s.traceId === hydration()!.traceId);
    expect(server).toMatchObject({
      service: 'pullthrough-frontend',
      kind: SERVER,
      attributes: { 'http.route': '/v2/:name/manifests/:reference', 'http.request.method': 'GET', 'http.response.status_code': 200, 'pullthrough.cache': 'miss', 'pullthrough.plane': 'data' },
    });
    expect(server!.parentSpanId).toBeUndefined();
    const trace = receiver.spans.filter((s) => s.traceId === server!.traceId);

    // The frontend's upstream requests are client spans below the server span: the manifest (401, the
    // challenge), the token realm, the manifest again with the token (200).
    const manifestCalls = trace.filter((s) => s.service === 'pullthrough-frontend' && s.name === 'upstream GET manifests');
    expect(manifestCalls.map((s) => s.attributes['http.response.status_code']).sort()).toEqual([200, 401]);
    for (const call of manifestCalls) {
      expect(call).toMatchObject({ kind: CLIENT, attributes: { 'pullthrough.upstream': upstream.proxy.host, 'pullthrough.upstream.operation': 'manifests', 'http.request.method': 'GET', 'server.address': '127.0.0.1' } });
      expect(descendsFrom(call, server!, trace)).toBe(true);
    }
    const token = trace.find((s) => s.service === 'pullthrough-frontend' && s.name === 'upstream GET token');
    expect(token?.attributes['http.response.status_code']).toBe(200);
    const put = trace.find((s) => s.name === 'storage manifest put' && s.service === 'pullthrough-frontend');
    expect(put?.attributes).toMatchObject({ 'pullthrough.repository': 'tr/multilayer', 'pullthrough.digest': f.digest });

    // The job: same trace, its parent is the pull's server span (through the job data's traceparent).
    const job = hydration()!;
    expect(job).toMatchObject({ service: 'pullthrough-hydrator', kind: CONSUMER, traceId: server!.traceId, parentSpanId: server!.spanId });
    expect(job.attributes).toMatchObject({ 'messaging.system': 'bullmq', 'messaging.destination.name': 'hydration', 'pullthrough.rule': 'traced', 'pullthrough.job.attempt': 1, 'pullthrough.hydration.blobs_fetched': f.blobs.length });
    // The hydrator's own upstream blob requests and commits are below the job span.
    await waitUntil(async () => receiver.spans.filter((s) => s.traceId === server!.traceId && s.name === 'storage blob commit').length >= f.blobs.length, { what: 'the blob commits' });
    const all = receiver.spans.filter((s) => s.traceId === server!.traceId);
    const blobFetches = all.filter((s) => s.service === 'pullthrough-hydrator' && s.name === 'upstream GET blobs');
    expect(blobFetches.length).toBeGreaterThanOrEqual(f.blobs.length);
    expect(blobFetches.every((s) => descendsFrom(s, job, all))).toBe(true);
    const commits = all.filter((s) => s.name === 'storage blob commit');
    expect(commits.map((s) => s.attributes['pullthrough.digest']).sort()).toEqual(f.blobs.map((b) => b.digest).sort());

    // The cache.hydrated event the job published is delivered in a span below the job span.
    await waitUntil(async () => receiver.spans.some((s) => s.name === 'webhook delivery' && s.traceId === server!.traceId), { what: 'the webhook delivery span', timeoutMs: 20_000 });
    const delivery = receiver.spans.find((s) => s.name === 'webhook delivery' && s.traceId === server!.traceId)!;
    expect(delivery).toMatchObject({ service: 'pullthrough-hydrator', kind: CONSUMER, parentSpanId: job.spanId, attributes: { 'pullthrough.webhook': 'traced-hook', 'pullthrough.webhook.action': 'cache.hydrated', 'pullthrough.webhook.outcome': 'delivered', 'http.response.status_code': 200 } });
    expect(webhookReceiver.received.length).toBe(1);

    // The traceparent the frontend put in the job data names the server span.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(HYDRATION_QUEUE, { connection, prefix: cache.queuePrefix });
    try {
      const stored = await queue.getJob(hydrationJobId('tr/multilayer', f.digest));
      expect(stored?.data.traceparent).toBe(`00-${server!.traceId}-${server!.spanId}-01`);
    } finally {
      await queue.close();
      connection.disconnect();
    }

    // The hydrator's metrics moved with it: one completed attempt, every blob fetched.
    const line = (await readFile(hydrator.logPath, 'utf8')).split('\n').find((l) => l.includes('hydrator running'))!;
    const probes = (JSON.parse(line) as { probes: string }).probes;
    const text = await scrape(`${probes}/metrics`);
    expect(sampleSum(text, 'pullthrough_job_duration_seconds_count', { queue: 'hydration', outcome: 'completed' })).toBe(1);
    expect(sampleSum(text, 'pullthrough_hydration_fetched_bytes_total')).toBe(f.blobs.reduce((n, b) => n + b.size, 0));
    expect(sampleSum(text, 'pullthrough_hydration_failures_total')).toBe(0);
  });

  it('no secret in any exported span: no password, token, Authorization, secret reference or URL', async () => {
    // A pull of another image so the token flow runs again, and a blob streamed through the frontend.
    const small = upstream.fixtures.small;
    const m = await fetch(`${cache.dataUrl}/v2/tr/small/manifests/v1`, { headers: { accept: ACCEPT } });
    expect(m.status).toBe(200);
    const blob = await fetch(`${cache.dataUrl}/v2/tr/small/blobs/${small.blobs[0]!.digest}`);
    expect(blob.status).toBe(200);
    await blob.arrayBuffer();
    await waitUntil(async () => receiver.spans.some((s) => s.name === 'GET /v2/:name/blobs/:digest'), { what: 'the blob span' });
    const bodies = receiver.bodies.join('\n');
    expect(bodies.length).toBeGreaterThan(1000);
    for (const forbidden of [UPSTREAM_SECRETS.PULLTHROUGH_SECRET_UP_PASS, WEBHOOK_SECRET, webhookReceiver.url, 'PULLTHROUGH_SECRET_UP', 'env:', 'eyJ', 'authorization', 'Bearer', 'Basic ', 'password', 'secret', '?scope=', '/v2/tr/', 'http://']) {
      expect({ forbidden, found: bodies.toLowerCase().includes(forbidden.toLowerCase()) }).toEqual({ forbidden, found: false });
    }
  });
});
