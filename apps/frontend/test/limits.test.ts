import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { RedisServer } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

const HEADERS_MS = 1500;
const SLACK_MS = 4000;
const ADMIN_BODY_LIMIT = 1024 * 1024;

let redis: RedisServer;
let upstream: Upstream;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
}, 120_000);

afterAll(async () => {
  await upstream?.stop();
  await redis?.stop();
});

/** Connect, record what comes back, resolve `closed` with the ms from connect to close. */
function rawSocket(url: string): { socket: Socket; received: () => string; connected: Promise<void>; closed: Promise<number> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let started = Date.now();
  let data = '';
  socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
  socket.on('error', () => undefined);
  const connected = new Promise<void>((resolve) => socket.once('connect', () => ((started = Date.now()), resolve())));
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  return { socket, received: () => data, connected, closed };
}

describe('listener limits reach both listeners of the running frontend', () => {
  let cache: Cache;
  beforeAll(async () => {
    cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_HEADERS_TIMEOUT_MS: String(HEADERS_MS), PULLTHROUGH_REQUEST_TIMEOUT_MS: String(HEADERS_MS) });
  });
  afterAll(() => cache?.stop());

  test.each(['data', 'admin'] as const)('%s: a slowloris socket (one header byte at a time) is closed at the header bound, not before', async (which) => {
    const raw = rawSocket(which === 'data' ? cache.dataUrl : cache.adminUrl);
    await raw.connected;
    raw.socket.write(`GET ${which === 'data' ? '/v2/' : '/healthz'} HTTP/1.1\r\nHost: x\r\n`);
    const trickle = setInterval(() => raw.socket.writable && raw.socket.write('X'), 300);
    const ms = await raw.closed.finally(() => clearInterval(trickle));
    expect(ms).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(ms).toBeLessThan(HEADERS_MS + SLACK_MS);
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
  });
});

describe('admin body limit', () => {
  let cache: Cache;
  const bytesRead: number[] = [];
  beforeAll(async () => {
    cache = await startCache(redis, [upstream.proxy.host]);
    cache.frontend.servers.admin.on('connection', (s: Socket) => s.on('close', () => bytesRead.push(s.bytesRead)));
  });
  afterAll(() => cache?.stop());

  async function declare(headers: string): Promise<{ ms: number; received: string; serverRead: number }> {
    bytesRead.length = 0;
    const raw = rawSocket(cache.adminUrl);
    await raw.connected;
    raw.socket.write(`PUT /api/v1/cache-rules/huge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}Content-Length: 10737418240\r\n\r\n{"sourceRe`);
    const ms = await raw.closed;
    await waitFor(() => bytesRead.length === 1);
    return { ms, received: raw.received(), serverRead: bytesRead[0]! };
  }

  test('a declared 10 GB body gets 413 problem JSON at once, the connection ends, and the body is not read', async () => {
    const { ms, received, serverRead } = await declare(`Authorization: Bearer ${ADMIN_TOKEN}\r\n`);
    expect(received).toMatch(/^HTTP\/1\.1 413 /);
    expect(received).toMatch(/\r\nConnection: close\r\n/i);
    expect(received).toMatch(/\r\nContent-Type: application\/problem\+json/i);
    const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) as { status: number; title: string };
    expect(body).toMatchObject({ status: 413, title: 'Content Too Large' });
    expect(ms).toBeLessThan(SLACK_MS); // closed by the server, not by a timeout
    expect(serverRead).toBeLessThan(4096);
  });

  test('an unauthenticated client declaring a large body gets 401 and the connection ends without the body being read', async () => {
    const { received, serverRead } = await declare('');
    expect(received).toMatch(/^HTTP\/1\.1 401 /);
    expect(received).toMatch(/\r\nConnection: close\r\n/i);
    expect(serverRead).toBeLessThan(4096);
  });

  test('a chunked body under the limit is still read and parsed', async () => {
    const { hostname, port } = new URL(cache.adminUrl);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: hostname, port, method: 'PUT', path: '/api/v1/cache-rules/chunked-rule', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } });
      req.on('response', resolve);
      req.on('error', reject);
      req.write(`{"sourceRepository":"${upstream.proxy.host}/chunked/*",`);
      req.end('"targetRepository":"chunked/*"}');
    });
    res.resume();
    expect(res.statusCode).toBe(201);
  });

  test('a chunked body is refused with 413 once it passes the limit, and the rest is not read', async () => {
    bytesRead.length = 0;
    const { hostname, port } = new URL(cache.adminUrl);
    let sent = 0;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: hostname, port, method: 'PUT', path: '/api/v1/cache-rules/huge', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } });
      req.on('response', resolve);
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      req.write('{"pad":"');
      // Keep sending (up to 64 MiB) until the answer comes.
      const pump = (): void => {
        while (sent < 64 * 1024 * 1024 && !req.destroyed && !req.writableEnded && req.socket?.readable !== false) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
      };
      pump();
    });
    const text = await new Promise<string>((resolve) => {
      let t = '';
      res.on('data', (c: Buffer) => (t += c.toString()));
      res.on('end', () => resolve(t));
      res.on('error', () => resolve(t));
    });
    expect(res.statusCode).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(JSON.parse(text)).toMatchObject({ status: 413 });
    await waitFor(() => bytesRead.length === 1);
    // What the parser read up to the limit, plus what was in flight when the answer went out: far from 64 MiB.
    expect(bytesRead[0]).toBeLessThan(ADMIN_BODY_LIMIT * 8);
  });
});

describe('per-client rate limit on upstream-bound requests', () => {
  let cache: Cache;
  beforeAll(async () => {
    // Neither the config nor layers are fetched ahead: the client's own config request is one of its 3 (a prefetched one is not counted).
    cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_CLIENT_MISS_RATE: '0.01', PULLTHROUGH_CLIENT_MISS_BURST: '3', PULLTHROUGH_PREFETCH_CONFIG: 'false', PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: '0' });
    expect((await putRule(cache, { name: 'fixtures-upstream', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'up/*' })).status).toBe(201);
  });
  afterAll(() => cache?.stop());

  /** GET on the data port from a given source address (127.0.0.2 is another client on Linux loopback). */
  function get(path: string, from: string, accept = '*/*'): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
    const { hostname, port } = new URL(cache.dataUrl);
    return new Promise((resolve, reject) => {
      const req = request({ host: hostname, port, path, localAddress: from, agent: false, headers: { accept } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      });
      req.on('error', reject);
      req.end();
    });
  }
  const MANIFESTS = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json';

  test('a client over its allowance gets 429 TOOMANYREQUESTS with Retry-After; hits still work for it; another client keeps pulling', async () => {
    const small = upstream.fixtures.small;
    const repo = `up/${small.repository.replace(/^fixtures\//, '')}`;
    const before = upstream.proxy.requests.length;
    // Three misses: the manifest by tag and two blobs.
    expect((await get(`/v2/${repo}/manifests/${small.tag}`, '127.0.0.1', MANIFESTS)).status).toBe(200);
    const [first, second] = small.blobs;
    expect((await get(`/v2/${repo}/blobs/${first!.digest}`, '127.0.0.1')).status).toBe(200);
    expect((await get(`/v2/${repo}/blobs/${second!.digest}`, '127.0.0.1')).status).toBe(200);

    const multi = upstream.fixtures.multiLayer;
    const multiRepo = `up/${multi.repository.replace(/^fixtures\//, '')}`;
    const upstreamSeen = upstream.proxy.requests.length;
    const refused = await get(`/v2/${multiRepo}/manifests/${multi.tag}`, '127.0.0.1', MANIFESTS);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(90); // 1 token at 0.01/s
    const error = (JSON.parse(refused.body.toString()) as { errors: Array<{ code: string }> }).errors[0];
    expect(error?.code).toBe('TOOMANYREQUESTS');
    expect(upstream.proxy.requests.length).toBe(upstreamSeen); // the upstream was not asked

    // Local content is still served to the limited client: the manifest by tag and by digest, and a blob.
    expect((await get(`/v2/${repo}/manifests/${small.tag}`, '127.0.0.1', MANIFESTS)).headers['x-cache']).toBe('hit');
    const byDigest = await get(`/v2/${repo}/manifests/${small.digest}`, '127.0.0.1', MANIFESTS);
    expect(byDigest.status).toBe(200);
    expect(byDigest.body.equals(small.manifest)).toBe(true);
    expect((await get(`/v2/${repo}/blobs/${first!.digest}`, '127.0.0.1')).status).toBe(200);

    // Another client (another source address) pulls a miss.
    const other = await get(`/v2/${multiRepo}/manifests/${multi.tag}`, '127.0.0.2', MANIFESTS);
    expect(other.status).toBe(200);
    expect(other.headers['x-cache']).toBe('miss');
    expect(other.headers['docker-content-digest']).toBe(multi.digest);
    expect(upstream.proxy.requests.length).toBeGreaterThan(before);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
