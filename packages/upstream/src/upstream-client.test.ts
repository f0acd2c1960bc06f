import { MANIFEST_ACCEPT, ManifestInvalidError, MediaType, NameInvalidError, UpstreamUnavailableError, digestOf } from '@pullthrough/oci';
import { EgressPolicy } from '@pullthrough/egress';
import { sendJson, startFakeUpstream, type FakeUpstream } from '../test/fake-upstream.js';
import { UpstreamClient } from './upstream-client.js';

/** Test upstreams listen on loopback: the egress policy lets them through explicitly. */
const LOOPBACK = new EgressPolicy({ allow: '127.0.0.1' });

const MANIFEST = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: 'sha256:' + 'a'.repeat(64), size: 2 }, layers: [] }),
);
const DIGEST = digestOf(MANIFEST);

describe('UpstreamClient manifests', () => {
  let upstream: FakeUpstream;
  let client: UpstreamClient;

  afterEach(async () => {
    await client.close();
    await upstream.close();
  });

  async function start(handler: Parameters<typeof startFakeUpstream>[0], options: Partial<ConstructorParameters<typeof UpstreamClient>[0]> = {}) {
    upstream = await startFakeUpstream(handler);
    client = new UpstreamClient({ registry: upstream.host, insecure: true, userAgent: 'pullthrough-test', egress: LOOPBACK, ...options });
  }

  function serveManifest(req: { method?: string }, res: import('node:http').ServerResponse, body = MANIFEST): void {
    res.writeHead(200, {
      'content-type': `${MediaType.OciManifest}; charset=utf-8`,
      'content-length': String(body.length),
      'docker-content-digest': DIGEST,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  it('gets a manifest anonymously, asking for every manifest type we store', async () => {
    await start((req, res) => serveManifest(req, res));
    const answer = await client.getManifest('library/node', '20');
    expect(answer).toEqual({
      kind: 'ok',
      value: { bytes: MANIFEST, mediaType: MediaType.OciManifest, digest: DIGEST },
      headers: expect.objectContaining({ 'docker-content-digest': DIGEST }),
    });
    const [seen] = upstream.requests;
    expect(seen).toMatchObject({ method: 'GET', url: '/v2/library/node/manifests/20' });
    expect(seen!.headers['accept']).toBe(MANIFEST_ACCEPT);
    expect(seen!.headers['user-agent']).toBe('pullthrough-test');
    expect(seen!.headers['authorization']).toBeUndefined();
  });

  it('heads a manifest by digest: digest, media type and size, no body', async () => {
    await start((req, res) => serveManifest(req, res));
    const answer = await client.headManifest('library/node', DIGEST);
    expect(answer).toMatchObject({ kind: 'ok', value: { digest: DIGEST, mediaType: MediaType.OciManifest, size: MANIFEST.length } });
    expect(upstream.requests[0]).toMatchObject({ method: 'HEAD', url: `/v2/library/node/manifests/${DIGEST}` });
  });

  it('heads a blob: its size, no body', async () => {
    await start((req, res) => {
      res.writeHead(200, { 'content-length': '1234', 'docker-content-digest': DIGEST });
      res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(1234));
    });
    const answer = await client.headBlob('library/node', DIGEST);
    expect(answer).toMatchObject({ kind: 'ok', value: { size: 1234 } });
    expect(upstream.requests[0]).toMatchObject({ method: 'HEAD', url: `/v2/library/node/blobs/${DIGEST}` });
  });

  it('takes the media type from the manifest when the upstream sends no Content-Type', async () => {
    await start((_req, res) => {
      res.writeHead(200, { 'content-length': String(MANIFEST.length) });
      res.end(MANIFEST);
    });
    const answer = await client.getManifest('library/node', '20');
    expect(answer.kind === 'ok' && answer.value.mediaType).toBe(MediaType.OciManifest);
    expect(answer.kind === 'ok' && answer.value.digest).toBeUndefined();
  });

  it('answers 404, 401 and 403 instead of failing', async () => {
    await start((req, res) => {
      if (req.url!.includes('/missing/')) sendJson(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
      else if (req.url!.includes('/private/')) sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
      else sendJson(res, 403, { errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] });
    });
    await expect(client.getManifest('missing/app', '1')).resolves.toEqual({ kind: 'not-found' });
    await expect(client.getManifest('private/app', '1')).resolves.toEqual({ kind: 'unauthorized', message: 'authentication required' });
    await expect(client.getManifest('denied/app', '1')).resolves.toEqual({ kind: 'forbidden', message: 'requested access to the resource is denied' });
    await expect(client.headManifest('private/app', '1')).resolves.toEqual({ kind: 'unauthorized', message: 'upstream requires authentication' });
  });

  it('refuses a manifest larger than maxManifestBytes, declared or streamed', async () => {
    const big = Buffer.alloc(2048, 0x20);
    await start(
      (req, res) => {
        if (req.url!.endsWith('/declared')) return serveManifest(req, res, big);
        res.writeHead(200, { 'content-type': MediaType.OciManifest });
        res.end(big);
      },
      { maxManifestBytes: 1024 },
    );
    await expect(client.getManifest('library/node', 'declared')).rejects.toBeInstanceOf(ManifestInvalidError);
    await expect(client.getManifest('library/node', 'chunked')).rejects.toThrow(/larger than 1024 bytes/);
  });

  it('fails with UpstreamUnavailableError when the headers stall longer than idleTimeoutMs', async () => {
    await start(() => undefined, { idleTimeoutMs: 200 });
    const err = await client.getManifest('library/node', '20').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect((err as UpstreamUnavailableError).detail).toEqual({ upstream: upstream.host, reason: 'idle timeout waiting for response headers' });
  });

  it('fails with UpstreamUnavailableError when nothing listens', async () => {
    await start((req, res) => serveManifest(req, res));
    await upstream.close();
    const err = await client.getManifest('library/node', '20').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect((err as UpstreamUnavailableError).detail).toEqual({ upstream: upstream.host, reason: 'network error (ECONNREFUSED)' });
  });

  it('rejects bad names and references before any request', async () => {
    await start((req, res) => serveManifest(req, res));
    await expect(client.getManifest('../etc', 'latest')).rejects.toBeInstanceOf(NameInvalidError);
    await expect(client.getManifest('library/node', 'a/b')).rejects.toThrow();
    await expect(client.getBlob('library/node', 'sha256:nothex')).rejects.toThrow();
    expect(upstream.requests).toHaveLength(0);
  });

  it('answers a 5xx with a rejection naming the upstream and status', async () => {
    await start((_req, res) => sendJson(res, 503, {}, { 'retry-after': '7' }));
    const err = await client.getManifest('library/node', '20').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect(err).toMatchObject({ retryAfterSeconds: 7, detail: { upstream: upstream.host, status: 503, reason: 'upstream answered 503' } });
  });
});
