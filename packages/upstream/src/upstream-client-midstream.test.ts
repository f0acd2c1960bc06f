import type { Readable } from 'node:stream';
import { UpstreamUnavailableError, digestOf } from '@pullthrough/oci';
import { EgressPolicy } from '@pullthrough/egress';
import { startFakeUpstream, type FakeUpstream } from '../test/fake-upstream.js';
import { UpstreamClientPool } from './upstream-client-pool.js';

/** Test upstreams listen on loopback: the egress policy lets them through explicitly. */
const LOOPBACK = new EgressPolicy({ allow: '127.0.0.1' });

const BLOB = Buffer.alloc(64 * 1024, 7);
const DIGEST = digestOf(BLOB);

async function drain(body: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of body) n += (chunk as Buffer).length;
  return n;
}

describe('mid-stream failures and rate limits', () => {
  let server: FakeUpstream;
  let pool: UpstreamClientPool;
  afterEach(async () => {
    await pool.close();
    await server.close();
  });

  async function setup(handler: Parameters<typeof startFakeUpstream>[0]) {
    server = await startFakeUpstream(handler);
    pool = new UpstreamClientPool({ insecureRegistries: [server.host], egress: LOOPBACK, idleTimeoutMs: 300, breaker: { volumeThreshold: 2, resetTimeoutMs: 60_000 } });
    return pool.get(server.host, { insecure: true });
  }

  it('a truncated body (fewer bytes than Content-Length) errors the stream and counts on the breaker', async () => {
    const client = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': String(BLOB.length) });
      res.write(BLOB.subarray(0, 1000));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    for (let i = 0; i < 2; i++) {
      const answer = await client.getBlob('team/app', DIGEST);
      if (answer.kind !== 'ok') throw new Error('expected ok');
      await expect(drain(answer.value.body)).rejects.toBeInstanceOf(UpstreamUnavailableError);
    }
    const [status] = pool.status();
    expect(status).toMatchObject({ upstream: server.host, state: 'open', totals: { requests: 2, failures: 2 } });
    await expect(client.getBlob('team/app', DIGEST)).rejects.toThrow(/circuit breaker .* is open/);
    expect(server.requests).toHaveLength(2);
  });

  it('a body that ends cleanly but short of its Content-Length is truncated too', async () => {
    const client = await setup((_req, res) => {
      // HTTP/1.0-style close-delimited body with a lying length: undici may end it cleanly.
      res.writeHead(200, { 'content-length': String(BLOB.length), connection: 'close' });
      res.end(BLOB.subarray(0, 10));
      res.socket?.end();
    });
    const answer = await client.getBlob('team/app', DIGEST);
    if (answer.kind !== 'ok') throw new Error('expected ok');
    await expect(drain(answer.value.body)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(pool.status()[0]!.totals.failures).toBe(1);
  });

  it('a body that stalls past the idle timeout counts as a failure', async () => {
    const client = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': String(BLOB.length) });
      res.write(BLOB.subarray(0, 100));
    });
    const answer = await client.getBlob('team/app', DIGEST);
    if (answer.kind !== 'ok') throw new Error('expected ok');
    await expect(drain(answer.value.body)).rejects.toThrow(/idle timeout/);
    expect(pool.status()[0]!.totals).toEqual({ requests: 1, failures: 1, rejects: 0 });
  });

  it('a complete body is a success, and Docker Hub rate-limit headers are recorded per upstream', async () => {
    const client = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': String(BLOB.length), 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '40;w=21600' });
      res.end(BLOB);
    });
    const answer = await client.getBlob('team/app', DIGEST);
    if (answer.kind !== 'ok') throw new Error('expected ok');
    expect(await drain(answer.value.body)).toBe(BLOB.length);
    expect(pool.status()).toEqual([
      expect.objectContaining({
        upstream: server.host,
        state: 'closed',
        totals: { requests: 1, failures: 0, rejects: 0 },
        rateLimit: expect.objectContaining({ limit: 100, remaining: 40, windowSeconds: 21600, headroom: 0.4 }),
      }),
    ]);
  });
});
