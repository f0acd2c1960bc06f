import { createVerify, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaType } from '@pullthrough/oci';
import {
  registryClientFor,
  skopeoCopy,
  skopeoInspectRaw,
  skopeoRegistryFlags,
  startRegistry,
  tempDir,
  writeFixtureLayout,
  type TempDir,
  type UpstreamRegistry,
} from './index.js';

let work: TempDir;
let closed: UpstreamRegistry; // token auth, anonymous clients get nothing
let open: UpstreamRegistry; // token auth, anonymous clients may pull (Docker Hub style)

beforeAll(async () => {
  work = await tempDir('token-test-');
  const layout = await writeFixtureLayout(join(work.path, 'oci'), { layerSizes: [10] });
  [closed, open] = await Promise.all([startRegistry({ auth: 'token' }), startRegistry({ auth: 'token', anonymousPull: true })]);
  for (const registry of [closed, open]) {
    const creds = skopeoRegistryFlags('dest-', { username: registry.username, password: registry.password });
    await skopeoCopy([...creds, `oci:${layout.dir}:small`, `docker://${registry.host}/it/small:v1`]);
  }
});
afterAll(async () => {
  await Promise.all([closed?.stop(), open?.stop()]);
  await work.remove();
});
beforeEach(() => {
  closed.tokenServer!.reset();
  open.tokenServer!.reset();
});

async function getToken(registry: UpstreamRegistry, scope: string, basic?: string) {
  const ts = registry.tokenServer!;
  const url = `${ts.realm}?service=${encodeURIComponent(ts.service)}&scope=${encodeURIComponent(scope)}`;
  const res = await fetch(url, { headers: basic ? { Authorization: `Basic ${Buffer.from(basic).toString('base64')}` } : {} });
  return { status: res.status, body: (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string } };
}

const decode = (part: string): Record<string, unknown> => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;

test('tokens are RS256 JWTs whose x5c is the registry root certificate, scoped to what was granted', async () => {
  const { status, body } = await getToken(closed, 'repository:it/small:pull,push', `${closed.username}:${closed.password}`);
  expect(status).toBe(200);
  expect(body.access_token).toBe(body.token);
  expect(body.expires_in).toBe(300);
  expect(Date.parse(body.issued_at)).toBeLessThanOrEqual(Date.now());
  const [header, claims, signature] = body.token.split('.') as [string, string, string];
  const h = decode(header);
  expect(h).toMatchObject({ alg: 'RS256', typ: 'JWT' });
  const certPem = await readFile(closed.tokenServer!.certPath, 'utf8');
  const cert = new X509Certificate(certPem);
  expect(Buffer.from((h.x5c as string[])[0]!, 'base64').equals(cert.raw)).toBe(true);
  const ok = createVerify('RSA-SHA256').update(`${header}.${claims}`).verify(cert.publicKey, Buffer.from(signature, 'base64url'));
  expect(ok).toBe(true);
  expect(decode(claims)).toMatchObject({
    iss: closed.tokenServer!.issuer,
    aud: closed.tokenServer!.service,
    sub: closed.username,
    access: [{ type: 'repository', name: 'it/small', actions: ['pull', 'push'] }],
  });
});

test('without anonymousPull an anonymous client gets a token with no access, and the registry says 401', async () => {
  const { status, body } = await getToken(closed, 'repository:it/small:pull');
  expect(status).toBe(200);
  expect(decode(body.token.split('.')[1]!).access).toEqual([]);
  expect((await registryClientFor(closed, { anonymous: true }).manifest('it/small', 'v1')).status).toBe(401);
  await expect(skopeoInspectRaw(`${closed.host}/it/small:v1`)).rejects.toThrow(/unauthorized|authentication required/i);
  expect(closed.tokenServer!.requests.every((r) => r.account === undefined && r.granted.length === 0)).toBe(true);
});

test('with anonymousPull anonymous clients may pull but not push', async () => {
  const anonymous = registryClientFor(open, { anonymous: true });
  expect((await anonymous.manifest('it/small', 'v1')).status).toBe(200);
  expect(JSON.parse((await skopeoInspectRaw(`${open.host}/it/small:v1`)).toString('utf8'))).toHaveProperty('layers');
  await expect(anonymous.pushBlob('it/small', Buffer.from('nope'))).rejects.toThrow(/expected HTTP 202, got 401/);
  const { body } = await getToken(open, 'repository:it/small:pull,push');
  expect(decode(body.token.split('.')[1]!).access).toEqual([{ type: 'repository', name: 'it/small', actions: ['pull'] }]);
});

test('wrong credentials: the token server answers 401', async () => {
  const { status } = await getToken(closed, 'repository:it/small:pull', `${closed.username}:wrong`);
  expect(status).toBe(401);
  expect(closed.tokenServer!.requests.at(-1)).toMatchObject({ account: closed.username, status: 401, granted: [] });
});

test('tokenRequests counts /token requests; reset() clears them', async () => {
  expect(closed.tokenServer!.tokenRequests).toBe(0);
  const client = registryClientFor(closed);
  expect((await client.manifest('it/small', 'v1')).status).toBe(200);
  expect((await client.manifest('it/small', 'v1')).status).toBe(200); // token reused
  expect(closed.tokenServer!.tokenRequests).toBe(1);
  expect(closed.tokenServer!.requests[0]).toMatchObject({ account: closed.username, scopes: ['repository:it/small:pull'] });
  closed.tokenServer!.reset();
  expect(closed.tokenServer!.tokenRequests).toBe(0);
});

test('short-lived tokens: the registry refuses them once expires_in has passed', async () => {
  const ts = closed.tokenServer!;
  ts.expiresInSeconds = 2;
  try {
    const { body } = await getToken(closed, 'repository:it/small:pull', `${closed.username}:${closed.password}`);
    expect(body.expires_in).toBe(2);
    const headers = { Authorization: `Bearer ${body.token}`, Accept: MediaType.OciManifest };
    const get = () => fetch(`${closed.url}/v2/it/small/manifests/v1`, { method: 'HEAD', headers });
    expect((await get()).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2_100));
    expect((await get()).status).toBe(401);
  } finally {
    ts.expiresInSeconds = 300;
  }
});
