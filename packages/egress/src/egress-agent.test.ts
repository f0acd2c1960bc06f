import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createTlsCertificate, tempDir } from '@pullthrough/test-support';
import { request } from 'undici';
import { createEgressAgent } from './egress-agent.js';
import { EgressDeniedError } from './egress-denied-error.js';
import { EgressPolicy } from './egress-policy.js';

let server: Server;
let port: number;
let hits = 0;

beforeAll(async () => {
  server = createServer((_req, res) => {
    hits++;
    res.end('hello');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Every TCP client socket the process creates while `fn` runs. */
async function socketsDuring(fn: () => Promise<unknown>): Promise<number> {
  let sockets = 0;
  const count = () => void sockets++;
  subscribe('net.client.socket', count);
  try {
    await fn();
  } finally {
    unsubscribe('net.client.socket', count);
  }
  return sockets;
}

async function get(policy: EgressPolicy, url: string): Promise<string> {
  const agent = createEgressAgent(policy, { connectTimeoutMs: 2000 });
  try {
    const res = await request(url, { dispatcher: agent });
    return await res.body.text();
  } finally {
    await agent.close();
  }
}

async function refusal(policy: EgressPolicy, url: string): Promise<EgressDeniedError> {
  const err = await get(policy, url).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof EgressDeniedError)) throw new Error(`expected an EgressDeniedError for ${url}, got ${String(err)}`);
  return err;
}

describe('connect-time egress check', () => {
  it('refuses a loopback server without the allow-list and reaches it with it', async () => {
    const before = hits;
    const err = await refusal(new EgressPolicy(), `http://127.0.0.1:${port}/`);
    expect(err.code).toBe('EGRESS_DENIED');
    expect(err.category).toBe('rule-config');
    expect(err.detail).toEqual({ host: '127.0.0.1', address: '127.0.0.1', port, addressCategory: 'loopback' });
    expect(hits).toBe(before);
    expect(await get(new EgressPolicy({ allow: '127.0.0.1' }), `http://127.0.0.1:${port}/`)).toBe('hello');
    const sockets = await socketsDuring(async () => expect(await get(new EgressPolicy({ allow: `127.0.0.1:${port}` }), `http://127.0.0.1:${port}/`)).toBe('hello'));
    expect(sockets).toBe(1);
    expect(hits).toBe(before + 2);
  });

  it('checks names on the address the lookup gave, inside the connection', async () => {
    const named = (allow?: string) => new EgressPolicy({ ...(allow ? { allow } : {}), resolve: async (h) => (h === 'registry.test' ? ['127.0.0.1'] : []) });
    const err = await refusal(named(), `http://registry.test:${port}/`);
    expect(err.detail).toMatchObject({ host: 'registry.test', address: '127.0.0.1', addressCategory: 'loopback' });
    expect(await get(named('registry.test'), `http://registry.test:${port}/`)).toBe('hello');
  });

  it.each([
    ['http://169.254.169.254/latest/meta-data/', 'link-local', '169.254.169.254'],
    ['http://10.0.0.1/x', 'private', '10.0.0.1'],
    ['http://[::ffff:127.0.0.1]:1/', 'loopback', '::ffff:7f00:1'],
    ['http://127.1:1/', 'loopback', '127.0.0.1'],
    ['http://0x7f.0.0.1:1/', 'loopback', '127.0.0.1'],
    ['http://2130706433:1/', 'loopback', '127.0.0.1'],
    ['https://169.254.169.254/', 'link-local', '169.254.169.254'],
    ['http://[fe80::1]/', 'link-local', 'fe80::1'],
  ])('refuses %s before any socket exists', async (url, category, address) => {
    let err: EgressDeniedError | undefined;
    const sockets = await socketsDuring(async () => {
      err = await refusal(new EgressPolicy({ allow: 'allowed.example' }), url);
    });
    expect(sockets).toBe(0);
    expect(err!.detail).toMatchObject({ address, addressCategory: category });
    expect(err!.message).toContain('not allowed by the egress policy');
  });

  it('DNS rebinding: the address checked is the address dialled', async () => {
    const answers = ['93.184.215.14', '127.0.0.1'];
    let asked = 0;
    const policy = new EgressPolicy({ resolve: async () => [answers[Math.min(asked++, answers.length - 1)]!] });
    expect(await policy.checkUrl(new URL(`http://rebind.test:${port}/`))).toEqual({ allowed: true });
    const before = hits;
    const err = await refusal(policy, `http://rebind.test:${port}/`);
    expect(asked).toBe(2);
    expect(err.detail).toMatchObject({ host: 'rebind.test', address: '127.0.0.1', addressCategory: 'loopback' });
    expect(hits).toBe(before);
  });

  it('refuses a name when any of its addresses is refused', async () => {
    const policy = new EgressPolicy({ allow: `127.0.0.1:${port}`, resolve: async () => ['127.0.0.1', '10.9.9.9'] });
    const err = await refusal(policy, `http://mixed.test:${port}/`);
    expect(err.detail).toMatchObject({ address: '10.9.9.9', addressCategory: 'private' });
  });

  it("refuses this cache's own listener even when allowed", async () => {
    const policy = new EgressPolicy({ allow: '127.0.0.1' });
    policy.self.add('127.0.0.1', port);
    const err = await refusal(policy, `http://127.0.0.1:${port}/`);
    expect(err.detail).toMatchObject({ addressCategory: 'self' });
  });
});

describe('https through the egress agent', () => {
  it('dials the checked address and still verifies the certificate for the name (SNI + identity)', async () => {
    const dir = await tempDir('egress-tls-');
    const tls = await createTlsCertificate(dir.path);
    const secure = createTlsServer({ key: tls.key, cert: tls.cert }, (_req, res) => res.end('secure hello'));
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    const securePort = (secure.address() as AddressInfo).port;
    const resolve = async (h: string) => (h === 'localhost' || h === 'wrong-name.test' ? ['127.0.0.1'] : []);
    const agent = createEgressAgent(new EgressPolicy({ allow: `127.0.0.1:${securePort}`, resolve }), { tls: { ca: tls.cert } });
    try {
      const res = await request(`https://localhost:${securePort}/`, { dispatcher: agent });
      expect(await res.body.text()).toBe('secure hello');
      // Same address, a name the certificate does not carry: the identity check still runs on the name.
      const err = await request(`https://wrong-name.test:${securePort}/`, { dispatcher: agent }).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      await agent.close();
      await new Promise<void>((r) => secure.close(() => r()));
      await dir.remove();
    }
  });
});
