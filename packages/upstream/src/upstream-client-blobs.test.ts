import type { Readable } from 'node:stream';
import { RangeInvalidError, UpstreamUnavailableError, digestOf } from '@pullthrough/oci';
import { EgressPolicy } from '@pullthrough/egress';
import { basicAuth, sendJson, startFakeUpstream, type FakeUpstream } from '../test/fake-upstream.js';
import { UpstreamClient } from './upstream-client.js';

/** Test upstreams listen on loopback: the egress policy lets them through explicitly. */
const LOOPBACK = new EgressPolicy({ allow: '127.0.0.1' });

const BLOB = Buffer.from('layer bytes '.repeat(1000));
const DIGEST = digestOf(BLOB);
const AUTH = basicAuth('puller', 's3cret');

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('UpstreamClient blobs', () => {
  const servers: FakeUpstream[] = [];
  let client: UpstreamClient;

  afterEach(async () => {
    await client.close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function server(handler: Parameters<typeof startFakeUpstream>[0]): Promise<FakeUpstream> {
    const s = await startFakeUpstream(handler);
    servers.push(s);
    return s;
  }

  /** Storage that serves BLOB (honouring a simple Range) at any path. */
  const serveBlob: Parameters<typeof startFakeUpstream>[0] = (req, res) => {
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers['range'] ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Number(range[2]) : BLOB.length - 1;
      res.writeHead(206, { 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${BLOB.length}` });
      return void res.end(BLOB.subarray(start, end + 1));
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BLOB.length) });
    res.end(BLOB);
  };

  /** A registry that insists on basic auth, then redirects blob GETs to `target`. */
  async function redirectingRegistry(target: (self: FakeUpstream) => string, status = 307): Promise<FakeUpstream> {
    let self: FakeUpstream | undefined;
    self = await server((req, res) => {
      if (req.url!.startsWith('/storage/')) return serveBlob(req, res);
      if (req.headers['authorization'] !== AUTH) return sendJson(res, 401, {}, { 'www-authenticate': 'Basic realm="fake"' });
      res.writeHead(status, { location: target(self!) });
      res.end();
    });
    return self;
  }

  it('drops Authorization when a redirect leaves the registry host', async () => {
    const cdn = await server(serveBlob);
    const registry = await redirectingRegistry(() => `${cdn.origin}/blobs/abc?sig=xyz`);
    client = new UpstreamClient({ registry: registry.host, insecure: true, egress: LOOPBACK, credentials: async () => ({ username: 'puller', password: 's3cret' }) });

    const answer = await client.getBlob('library/node', DIGEST);
    if (answer.kind !== 'ok') throw new Error(`expected ok, got ${answer.kind}`);
    expect(answer.value.status).toBe(200);
    expect(answer.value.size).toBe(BLOB.length);
    expect(digestOf(await readAll(answer.value.body))).toBe(DIGEST);
    expect(registry.requests.at(-1)!.headers['authorization']).toBe(AUTH);
    expect(cdn.requests).toHaveLength(1);
    expect(cdn.requests[0]!.url).toBe('/blobs/abc?sig=xyz');
    expect(cdn.requests[0]!.headers['authorization']).toBeUndefined();
  });

  it('keeps Authorization on a same-host redirect and passes the range along', async () => {
    const registry = await redirectingRegistry((self) => `${self.origin}/storage/${DIGEST}`, 302);
    client = new UpstreamClient({ registry: registry.host, insecure: true, egress: LOOPBACK, credentials: async () => ({ username: 'puller', password: 's3cret' }) });

    const answer = await client.getBlob('library/node', DIGEST, { start: 10, end: 19 });
    if (answer.kind !== 'ok') throw new Error(`expected ok, got ${answer.kind}`);
    expect(answer.value).toMatchObject({ status: 206, size: 10 });
    expect(answer.headers['content-range']).toBe(`bytes 10-19/${BLOB.length}`);
    expect(await readAll(answer.value.body)).toEqual(BLOB.subarray(10, 20));
    const storage = registry.requestsTo('/storage/');
    expect(storage).toHaveLength(1);
    expect(storage[0]!.headers['authorization']).toBe(AUTH);
    expect(storage[0]!.headers['range']).toBe('bytes=10-19');
  });

  it('gives up after five redirects', async () => {
    const registry = await server((req, res) => {
      const hop = Number(new URL(req.url!, 'http://x').searchParams.get('hop') ?? 0);
      res.writeHead(308, { location: `/loop?hop=${hop + 1}` });
      res.end();
    });
    client = new UpstreamClient({ registry: registry.host, insecure: true, egress: LOOPBACK });
    await expect(client.getBlob('library/node', DIGEST)).rejects.toThrow(/more than 5 redirects/);
    expect(registry.requests).toHaveLength(6);
  });

  it('errors the stream with UpstreamUnavailableError when the body stalls longer than idleTimeoutMs', async () => {
    const registry = await server((_req, res) => {
      res.writeHead(200, { 'content-length': String(BLOB.length) });
      res.write(BLOB.subarray(0, 100)); // ...and then nothing
    });
    client = new UpstreamClient({ registry: registry.host, insecure: true, egress: LOOPBACK, idleTimeoutMs: 200 });

    const answer = await client.getBlob('library/node', DIGEST);
    if (answer.kind !== 'ok') throw new Error(`expected ok, got ${answer.kind}`);
    const err = await readAll(answer.value.body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect((err as UpstreamUnavailableError).detail).toEqual({ upstream: registry.host, reason: 'idle timeout on the response body' });
  });

  it('answers 404 for a missing blob and throws RangeInvalidError for 416', async () => {
    const registry = await server((req, res) => sendJson(res, req.headers['range'] ? 416 : 404, {}));
    client = new UpstreamClient({ registry: registry.host, insecure: true, egress: LOOPBACK });
    await expect(client.getBlob('library/node', DIGEST)).resolves.toEqual({ kind: 'not-found' });
    await expect(client.getBlob('library/node', DIGEST, { start: 1 << 30 })).rejects.toBeInstanceOf(RangeInvalidError);
  });
});
