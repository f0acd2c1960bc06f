import type { IncomingMessage, ServerResponse } from 'node:http';
import { CredentialLookupError, MediaType } from '@pullthrough/oci';
import { EgressPolicy } from '@pullthrough/egress';
import { basicAuth, sendJson, sleep, startFakeUpstream, type FakeUpstream } from '../test/fake-upstream.js';
import { UpstreamBreaker } from './upstream-breaker.js';
import { UpstreamClient, type UpstreamClientOptions } from './upstream-client.js';

/** Test upstreams listen on loopback (a token realm "on another host" on 127.0.0.2): the egress policy lets them through explicitly. */
const LOOPBACK = new EgressPolicy({ allow: '127.0.0.1,127.0.0.2' });

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, layers: [] }));
const CREDENTIALS = { username: 'puller', password: 's3cret' };

function serveManifest(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': MediaType.OciManifest, 'content-length': String(MANIFEST.length) });
  res.end(MANIFEST);
}

describe('UpstreamClient authentication', () => {
  const servers: FakeUpstream[] = [];
  const clients: UpstreamClient[] = [];
  let tokensIssued = 0;

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
    tokensIssued = 0;
  });

  async function server(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>, hostname?: string) {
    const s = await startFakeUpstream(handler, hostname);
    servers.push(s);
    return s;
  }

  function client(options: Omit<UpstreamClientOptions, 'insecure'>): UpstreamClient {
    const c = new UpstreamClient({ insecure: true, egress: LOOPBACK, ...options });
    clients.push(c);
    return c;
  }

  /** A token server: issues tok-N after a short delay (so concurrent requests overlap). */
  async function tokenServer(hostname?: string, body: (n: number) => object = (n) => ({ token: `tok-${n}`, expires_in: 300 })) {
    return server(async (_req, res) => {
      await sleep(50);
      tokensIssued++;
      sendJson(res, 200, body(tokensIssued));
    }, hostname);
  }

  /** A registry that wants `Bearer <accepted>` and challenges with the given realm otherwise. */
  async function bearerRegistry(realm: string, accepted: () => string[]) {
    return server((req, res) => {
      if (accepted().some((t) => req.headers['authorization'] === `Bearer ${t}`)) return serveManifest(res);
      sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, {
        'www-authenticate': `Bearer realm="${realm}",service="fake-registry",scope="repository:library/node:pull"`,
      });
    });
  }

  it('fetches one token for five concurrent requests, caches it and reuses it', async () => {
    const auth = await tokenServer();
    const registry = await bearerRegistry(`${auth.origin}/token`, () => ['tok-1']);
    const c = client({ registry: registry.host, credentials: async () => CREDENTIALS });

    const answers = await Promise.all(Array.from({ length: 5 }, () => c.getManifest('library/node', '20')));
    expect(answers.map((a) => a.kind)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(auth.requests).toHaveLength(1);
    const tokenUrl = new URL(auth.requests[0]!.url, auth.origin);
    expect(tokenUrl.searchParams.get('service')).toBe('fake-registry');
    expect(tokenUrl.searchParams.get('scope')).toBe('repository:library/node:pull');
    // same host (127.0.0.1), operator-listed insecure: the realm may receive the credentials
    expect(auth.requests[0]!.headers['authorization']).toBe(basicAuth('puller', 's3cret'));

    registry.requests.length = 0;
    await expect(c.headManifest('library/node', '20')).resolves.toMatchObject({ kind: 'ok' });
    expect(registry.requests.map((r) => r.headers['authorization'])).toEqual(['Bearer tok-1']);
    expect(auth.requests).toHaveLength(1);
  });

  it('sends no basic credentials to a token realm on another host', async () => {
    const auth = await tokenServer('127.0.0.2');
    const registry = await bearerRegistry(`${auth.origin}/token`, () => ['tok-1']);
    const c = client({ registry: registry.host, credentials: async () => CREDENTIALS });

    await expect(c.getManifest('library/node', '20')).resolves.toMatchObject({ kind: 'ok' });
    expect(auth.requests).toHaveLength(1);
    expect(auth.requests[0]!.headers['authorization']).toBeUndefined();
  });

  it('answers unauthorized when a fresh token is refused, fetching it only once', async () => {
    const auth = await tokenServer();
    const registry = await bearerRegistry(`${auth.origin}/token`, () => []);
    const c = client({ registry: registry.host });

    await expect(c.getManifest('library/node', '20')).resolves.toEqual({ kind: 'unauthorized', message: 'authentication required' });
    expect(auth.requests).toHaveLength(1);
    expect(registry.requests.map((r) => r.headers['authorization'])).toEqual([undefined, 'Bearer tok-1']);
  });

  it('refetches once when a cached token is refused, and after invalidateCredentials', async () => {
    const auth = await tokenServer();
    let accepted = ['tok-1'];
    const registry = await bearerRegistry(`${auth.origin}/token`, () => accepted);
    const c = client({ registry: registry.host });

    await expect(c.getManifest('library/node', '20')).resolves.toMatchObject({ kind: 'ok' });
    accepted = ['tok-2']; // the upstream revoked tok-1 before its expiry
    await expect(c.getManifest('library/node', '20')).resolves.toMatchObject({ kind: 'ok' });
    expect(auth.requests).toHaveLength(2);

    c.invalidateCredentials();
    accepted = ['tok-3'];
    registry.requests.length = 0;
    await expect(c.getManifest('library/node', '20')).resolves.toMatchObject({ kind: 'ok' });
    expect(auth.requests).toHaveLength(3);
    expect(registry.requests.map((r) => r.headers['authorization'])).toEqual([undefined, 'Bearer tok-3']);
  });

  it('answers with the token endpoint refusal', async () => {
    const auth = await server((_req, res) => sendJson(res, 401, { details: 'incorrect username or password' }));
    const registry = await bearerRegistry(`${auth.origin}/token`, () => []);
    const c = client({ registry: registry.host, credentials: async () => CREDENTIALS });
    await expect(c.getManifest('library/node', '20')).resolves.toEqual({ kind: 'unauthorized', message: 'token endpoint answered 401' });
  });

  it('uses basic credentials on a Basic challenge, then up front', async () => {
    const registry = await server((req, res) => {
      if (req.headers['authorization'] === basicAuth('puller', 's3cret')) return serveManifest(res);
      sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'basic auth required' }] }, { 'www-authenticate': 'Basic realm="fake"' });
    });
    let lookups = 0;
    const c = client({ registry: registry.host, credentials: async () => (lookups++, CREDENTIALS) });

    await expect(c.getManifest('library/node', '20')).resolves.toMatchObject({ kind: 'ok' });
    await expect(c.getManifest('library/node', '20')).resolves.toMatchObject({ kind: 'ok' });
    expect(registry.requests.map((r) => r.headers['authorization'])).toEqual([undefined, basicAuth('puller', 's3cret'), basicAuth('puller', 's3cret')]);
    expect(lookups).toBe(2);

    const anonymous = client({ registry: registry.host });
    await expect(anonymous.getManifest('library/node', '20')).resolves.toEqual({ kind: 'unauthorized', message: 'basic auth required' });
  });

  it('raises a failed credential lookup without counting it against the upstream', async () => {
    const registry = await server((_req, res) => sendJson(res, 401, {}, { 'www-authenticate': 'Basic realm="fake"' }));
    const breaker = new UpstreamBreaker(registry.host, { volumeThreshold: 1 });
    const c = client({
      registry: registry.host,
      breaker,
      credentials: async () => {
        throw new Error('vault unreachable');
      },
    });
    const err = await c.getManifest('library/node', '20').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialLookupError);
    expect(JSON.stringify(err)).not.toContain('s3cret');
    expect(breaker.state()).toBe('closed');
    expect(breaker.stats().failures).toBe(0);
    breaker.shutdown();
  });
});
