import { request } from 'node:http';
import { digestOf, MediaType } from '@pullthrough/oci';
import {
  pushFixtures,
  registryClientFor,
  startCountingProxy,
  startRegistry,
  type CountingProxy,
  type Fixtures,
  type ProxiedRequest,
  type UpstreamRegistry,
} from './index.js';

let registry: UpstreamRegistry;
let proxy: CountingProxy;
let fixtures: Fixtures;
let pushRequests: ProxiedRequest[];

beforeAll(async () => {
  registry = await startRegistry({ auth: 'basic' });
  proxy = await startCountingProxy(registry.url);
  // Push through the proxy: uploads (POST, PATCH/PUT with streamed bodies, relative Locations) must pass.
  fixtures = await pushFixtures({ ...registry, host: proxy.host, url: proxy.url });
  pushRequests = [...proxy.requests];
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});
beforeEach(() => {
  proxy.reset();
  proxy.setFault(null);
  proxy.delayMs = 0;
  proxy.bytesPerSecond = 0;
});

const viaProxy = () => registryClientFor(registry, { via: proxy.url });

test('a skopeo push works through the proxy (uploads, relative Locations, streamed bodies)', () => {
  const pushed = (method: string, kind: string) => pushRequests.filter((r) => r.method === method && r.kind === kind && r.status < 300);
  expect(pushed('POST', 'other').length).toBeGreaterThanOrEqual(10); // one upload session per blob
  expect(pushed('PUT', 'other').length).toBe(pushed('POST', 'other').length);
  const manifests = pushed('PUT', 'manifest').map((r) => `${r.repository}:${r.reference}`);
  expect(manifests).toEqual(expect.arrayContaining(['fixtures/small:v1', 'fixtures/multiplatform:v1', 'fixtures/artifact:v1']));
  expect(manifests).toContain(`fixtures/multiplatform:${fixtures.multiPlatform.manifests![0]!.digest}`);
  expect(pushRequests.filter((r) => r.status >= 500)).toEqual([]);
});

test('counts a manifest GET and a blob GET, with repository and reference', async () => {
  const client = viaProxy();
  const { small } = fixtures;
  const manifest = await client.manifest(small.repository, small.tag);
  expect(manifest.status).toBe(200);
  expect(manifest.digest).toBe(small.digest);
  const layer = small.blobs.find((b) => b.mediaType !== MediaType.OciConfig)!;
  const blob = await client.request(`/v2/${small.repository}/blobs/${layer.digest}`);
  expect(digestOf(Buffer.from(await blob.arrayBuffer()))).toBe(layer.digest);

  // basic auth: the first GET was answered 401, then retried with credentials
  expect(proxy.count({ method: 'GET', kind: 'manifest', repository: small.repository, reference: 'v1' })).toBe(2);
  expect(proxy.count({ method: 'GET', kind: 'manifest', status: 200 })).toBe(1);
  expect(proxy.count({ method: 'GET', kind: 'blob', reference: layer.digest })).toBe(1);
  expect(proxy.count({ kind: 'blob', repository: 'other/repo' })).toBe(0);
  expect(proxy.count()).toBe(proxy.requests.length);
  expect(proxy.requests.at(-1)).toEqual({
    method: 'GET',
    path: `/v2/${small.repository}/blobs/${layer.digest}`,
    status: 200,
    kind: 'blob',
    repository: small.repository,
    reference: layer.digest,
    faulted: false,
    userAgent: 'node', // fetch's own
    receivedAt: expect.any(Number),
    firstByteAt: expect.any(Number),
    endedAt: expect.any(Number),
    bytes: layer.size,
  });
  const last = proxy.requests.at(-1)!;
  expect(last.receivedAt).toBeLessThanOrEqual(last.firstByteAt!);
  expect(last.firstByteAt).toBeLessThanOrEqual(last.endedAt!);
});

test('streams a multi-MiB blob and passes headers through unchanged', async () => {
  const big = fixtures.multiLayer.blobs.reduce((a, b) => (b.size > a.size ? b : a));
  expect(big.size).toBeGreaterThan(3 * 1024 * 1024);
  const client = viaProxy();
  const path = `/v2/${fixtures.multiLayer.repository}/blobs/${big.digest}`;
  const [direct, proxied] = await Promise.all([registryClientFor(registry).request(path), client.request(path)]);
  const body = Buffer.from(await proxied.arrayBuffer());
  await direct.arrayBuffer();
  expect(body.length).toBe(big.size);
  expect(digestOf(body)).toBe(big.digest);
  for (const h of ['content-length', 'content-type', 'docker-content-digest', 'etag', 'docker-distribution-api-version']) {
    expect(proxied.headers.get(h)).toBe(direct.headers.get(h));
  }
  const range = await client.request(path, { headers: { Range: 'bytes=10-19' } });
  expect(range.status).toBe(206);
  expect((await range.arrayBuffer()).byteLength).toBe(10);
});

test('HEAD requests are counted by method', async () => {
  const client = viaProxy();
  await client.manifest(fixtures.docker.repository, 'v1', { method: 'HEAD' });
  expect(proxy.count({ method: 'HEAD', kind: 'manifest', status: 200 })).toBe(1);
  expect(proxy.count({ method: 'GET' })).toBe(0);
});

test('setFault answers every request with the status instead of forwarding', async () => {
  proxy.setFault({ status: 503, headers: { 'Retry-After': '7' }, body: '{"errors":[]}' });
  const res = await fetch(`${proxy.url}/v2/${fixtures.small.repository}/manifests/v1`);
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe('7');
  expect(await res.text()).toBe('{"errors":[]}');
  expect(proxy.requests).toEqual([expect.objectContaining({ status: 503, faulted: true, kind: 'manifest' })]);
  proxy.setFault(null);
  expect((await viaProxy().manifest(fixtures.small.repository, 'v1')).status).toBe(200);
});

test('a fault function picks which requests fail', async () => {
  proxy.setFault((r) => (r.kind === 'blob' ? { status: 500 } : null));
  const client = viaProxy();
  const { small } = fixtures;
  expect((await client.manifest(small.repository, 'v1')).status).toBe(200);
  const res = await client.request(`/v2/${small.repository}/blobs/${small.blobs[0]!.digest}`);
  await res.arrayBuffer();
  expect(res.status).toBe(500);
  expect(proxy.requests.filter((r) => r.faulted).map((r) => r.kind)).toEqual(['blob']);
});

test('delayMs holds each request back', async () => {
  proxy.delayMs = 300;
  const started = Date.now();
  const res = await fetch(`${proxy.url}/v2/`);
  await res.arrayBuffer();
  expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  expect(proxy.count({ kind: 'base' })).toBe(1);
});

test('bytesPerSecond: concurrent bodies share one bandwidth-limited link; each body\'s first and last byte are recorded', async () => {
  const big = fixtures.multiLayer.blobs.reduce((a, b) => (b.size > a.size ? b : a));
  const path = `/v2/${fixtures.multiLayer.repository}/blobs/${big.digest}`;
  const client = viaProxy();
  await (await client.request(`/v2/${fixtures.multiLayer.repository}/manifests/v1`)).arrayBuffer(); // log in first
  proxy.reset();
  proxy.bytesPerSecond = 4 * 1024 * 1024;
  const started = Date.now();
  const bodies = await Promise.all([client.request(path), client.request(path)].map(async (r) => Buffer.from(await (await r).arrayBuffer())));
  const took = Date.now() - started;
  for (const body of bodies) expect(digestOf(body)).toBe(big.digest);
  // Two bodies of 3+ MiB through one 4 MiB/s link: at least 1.5 s in all, each streamed over most of it.
  expect(took).toBeGreaterThanOrEqual(1400);
  const gets = proxy.requests.filter((r) => r.kind === 'blob');
  expect(gets.map((r) => r.bytes)).toEqual([big.size, big.size]);
  for (const r of gets) expect(r.endedAt! - r.firstByteAt!).toBeGreaterThanOrEqual(1000);
});

test('an unreachable target gives 502 and is recorded', async () => {
  const dead = await startCountingProxy('http://127.0.0.1:1');
  try {
    const res = await fetch(`${dead.url}/v2/`);
    expect(res.status).toBe(502);
    expect(dead.requests).toEqual([expect.objectContaining({ status: 502, kind: 'base', faulted: false })]);
  } finally {
    await dead.stop();
  }
});

test('a client that disconnects mid-body does not break the proxy', async () => {
  const big = fixtures.multiLayer.blobs.reduce((a, b) => (b.size > a.size ? b : a));
  const auth = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;
  await new Promise<void>((resolve, reject) => {
    const req = request(`${proxy.url}/v2/${fixtures.multiLayer.repository}/blobs/${big.digest}`, { headers: { Authorization: auth } }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
  expect((await viaProxy().manifest(fixtures.small.repository, 'v1')).status).toBe(200);
});
