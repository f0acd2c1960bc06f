import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { EgressDeniedError, EgressPolicy } from '@pullthrough/egress';
import { digestOf } from '@pullthrough/oci';
import { sendJson, startFakeUpstream, type FakeUpstream } from '../test/fake-upstream.js';
import { UpstreamBreaker } from './upstream-breaker.js';
import { UpstreamClient } from './upstream-client.js';
import { checkUpstreamLogin } from './upstream-login-check.js';

const BLOB = Buffer.from('blob behind a redirect');
const DIGEST = digestOf(BLOB);

/** Every hop of an upstream call (registry, token realm, redirect) is checked on the address it dials. */
describe('UpstreamClient under the egress policy', () => {
  const servers: FakeUpstream[] = [];
  let client: UpstreamClient | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function server(handler: Parameters<typeof startFakeUpstream>[0]): Promise<FakeUpstream> {
    const s = await startFakeUpstream(handler);
    servers.push(s);
    return s;
  }
  const storage = () =>
    server((_req, res) => {
      res.writeHead(200, { 'content-length': String(BLOB.length) });
      res.end(BLOB);
    });
  /** A registry that redirects every blob GET to `location`. */
  const redirecting = (location: string) =>
    server((_req, res) => {
      res.writeHead(307, { location });
      res.end();
    });
  const clientFor = (registry: FakeUpstream, allow: string, breaker?: UpstreamBreaker) =>
    (client = new UpstreamClient({ registry: registry.host, insecure: true, egress: new EgressPolicy({ allow }), ...(breaker ? { breaker } : {}) }));

  it('refuses a redirect to the metadata endpoint at that hop, before any socket is opened, without counting against the upstream', async () => {
    const registry = await redirecting('http://169.254.169.254/latest/meta-data/iam/');
    const breaker = new UpstreamBreaker(registry.host, { volumeThreshold: 1 });
    const c = clientFor(registry, registry.host, breaker);
    let sockets = 0;
    const count = () => void sockets++;
    subscribe('net.client.socket', count);
    const err = await c.getBlob('library/app', DIGEST).catch((e: unknown) => e);
    unsubscribe('net.client.socket', count);
    expect(err).toBeInstanceOf(EgressDeniedError);
    expect((err as EgressDeniedError).detail).toEqual({ host: '169.254.169.254', address: '169.254.169.254', port: 80, addressCategory: 'link-local' });
    expect((err as EgressDeniedError).message).not.toContain('meta-data');
    expect(sockets).toBe(1); // the registry's own connection only
    expect(registry.requests).toHaveLength(1);
    expect(breaker.stats()).toMatchObject({ state: 'closed', failures: 0 });
    breaker.shutdown();
  });

  it('refuses a redirect to a loopback port the allow-list does not open; the same redirect works once it is allowed', async () => {
    const target = await storage();
    const registry = await redirecting(`${target.origin}/blob`);
    const err = await clientFor(registry, registry.host).getBlob('library/app', DIGEST).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EGRESS_DENIED', detail: { host: '127.0.0.1', port: Number(target.host.split(':')[1]), addressCategory: 'loopback' } });
    expect(target.requests).toHaveLength(0);
    await client!.close();

    const answer = await clientFor(registry, `${registry.host},${target.host}`).getBlob('library/app', DIGEST);
    expect(answer.kind).toBe('ok');
    expect(target.requests).toHaveLength(1);
  });

  it('refuses a token realm the allow-list does not open', async () => {
    const realm = await server((_req, res) => sendJson(res, 200, { token: 'T' }));
    const registry = await server((_req, res) => sendJson(res, 401, {}, { 'www-authenticate': `Bearer realm="${realm.origin}/token",service="fake"` }));
    const err = await clientFor(registry, registry.host).getManifest('library/app', 'v1').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EGRESS_DENIED', detail: { addressCategory: 'loopback' } });
    expect(realm.requests).toHaveLength(0);
  });

  it('the login check goes through the same policy: a refused upstream is a rule-config failure', async () => {
    const registry = await server((_req, res) => sendJson(res, 200, {}));
    const refused = await checkUpstreamLogin({ registry: registry.host, insecure: true, egress: new EgressPolicy() });
    expect(refused).toMatchObject({ status: 'failed', failedStep: 'upstream-reachable' });
    expect(refused.steps.at(-1)).toMatchObject({ category: 'rule-config', message: expect.stringContaining('loopback address') });
    expect(registry.requests).toHaveLength(0);
    const allowed = await checkUpstreamLogin({ registry: registry.host, insecure: true, egress: new EgressPolicy({ allow: registry.host }) });
    expect(allowed.status).toBe('ok');
  });
});
