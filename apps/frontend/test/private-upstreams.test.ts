import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import {
  createTlsCertificate,
  freePort,
  skopeoCopy,
  startIdentityEmulator,
  startKeyVaultEmulator,
  tempDir,
  uniquePrefix,
  type IdentityEmulator,
  type KeyVaultEmulator,
  type RedisServer,
  type TempDir,
  type TlsCertificate,
} from '@pullthrough/test-support';
import { loadFrontendConfig } from '../src/config.js';
import { startFrontend, type RunningFrontend } from '../src/frontend.js';
import { ADMIN_TOKEN, startRedis, startUpstream, type Upstream } from './harness.js';

// Private upstreams end to end: credential sets through the admin API with Key Vault secret URIs,
// read by the real @azure/keyvault-secrets SecretClient over HTTPS (self-signed certificate) with a
// token from the real @azure/identity ManagedIdentityCredential (App Service endpoint emulator:
// MSAL reads IDENTITY_ENDPOINT/IDENTITY_HEADER from the process environment itself).

const USER_SECRET = 'kv-user-name-7f3a';
const PASSWORD_ONE = 'kv-password-one-91bd3c';
const PASSWORD_TWO = 'kv-password-two-0c55e1';
const WRONG_PASSWORD = 'kv-wrong-password-4412aa';
const SECRET_VALUES = [PASSWORD_ONE, PASSWORD_TWO, WRONG_PASSWORD, USER_SECRET];

let redis: RedisServer;
let certDir: TempDir;
let tls: TlsCertificate;
let identity: IdentityEmulator;
let vault: KeyVaultEmulator;
let upstream: Upstream;
let frontend: RunningFrontend;
let dataDir: string;
const logs: string[] = [];
const savedEnv = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };

const admin = (path: string, init: { method?: string; body?: unknown } = {}) =>
  fetch(`${frontend.adminUrl}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
const json = async <T = Record<string, any>>(res: Response) => (await res.json()) as T;
const manifest = (repo: string) => fetch(`${frontend.dataUrl}/v2/${repo}/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });

async function putSet(name: string, user: string, password: string, loginServer = upstream.proxy.host): Promise<Response> {
  return admin(`/credential-sets/${name}`, {
    method: 'PUT',
    body: { loginServer, authCredentials: [{ name: 'Credential1', usernameSecretIdentifier: user, passwordSecretIdentifier: password }] },
  });
}
async function putRule(name: string, target: string, credentialSetName?: string, source = `${upstream.proxy.host}/fixtures/*`): Promise<Response> {
  return admin(`/cache-rules/${name}`, { method: 'PUT', body: { sourceRepository: source, targetRepository: target, ...(credentialSetName ? { credentialSetName, anonymousPull: true } : {}) } });
}

beforeAll(async () => {
  redis = await startRedis();
  certDir = await tempDir('kv-cert-');
  tls = await createTlsCertificate(certDir.path);
  identity = await startIdentityEmulator();
  vault = await startKeyVaultEmulator(tls, identity);
  process.env.IDENTITY_ENDPOINT = identity.endpoint;
  process.env.IDENTITY_HEADER = identity.header;
  upstream = await startUpstream({ auth: 'token', password: PASSWORD_ONE });
  vault.setSecret('upstream-user', upstream.registry.username!);
  vault.setSecret('upstream-password', PASSWORD_ONE);
  dataDir = await mkdtemp(join(tmpdir(), 'pullthrough-private-'));
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const config = loadFrontendConfig({
    PULLTHROUGH_DATA_PORT: '0',
    PULLTHROUGH_ADMIN_PORT: '0',
    PULLTHROUGH_DATA_DIR: dataDir,
    REDIS_URL: redis.url,
    PULLTHROUGH_QUEUE_PREFIX: uniquePrefix('private'),
    PULLTHROUGH_INSECURE_UPSTREAMS: upstream.proxy.host,
    PULLTHROUGH_EGRESS_ALLOW: '127.0.0.1',
    PULLTHROUGH_AZURE_CREDENTIAL: 'managed-identity',
    PULLTHROUGH_AZURE_CLIENT_ID: '0f0e0d0c-1111-2222-3333-444455556666',
    PULLTHROUGH_KEYVAULT_CA_FILE: tls.certPath,
    PULLTHROUGH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE: 'false',
    // The emulator is not on a Key Vault domain: list it (any port: the unreachable-vault case uses another).
    PULLTHROUGH_KEYVAULT_HOSTS: '127.0.0.1',
    // Long: a rotated password must be picked up by the 401-triggered refresh, not by expiry.
    PULLTHROUGH_SECRET_CACHE_SECONDS: '3600',
    PULLTHROUGH_UPSTREAM_CONNECT_TIMEOUT_MS: '2000',
  });
  frontend = await startFrontend({ config, logger: pino({ level: 'trace' }, sink), adminToken: ADMIN_TOKEN });
}, 90_000);

afterAll(async () => {
  await frontend?.close();
  await upstream?.stop();
  await vault?.stop();
  await identity?.stop();
  await certDir?.remove();
  await redis?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  process.env.IDENTITY_ENDPOINT = savedEnv.endpoint;
  process.env.IDENTITY_HEADER = savedEnv.header;
  if (savedEnv.endpoint === undefined) delete process.env.IDENTITY_ENDPOINT;
  if (savedEnv.header === undefined) delete process.env.IDENTITY_HEADER;
});

describe('credential sets through the admin API, secrets in Key Vault', () => {
  test('PUT stores references; GET returns them with credentialHealth and never a secret value', async () => {
    const put = await putSet('hub-login', vault.secretUri('upstream-user'), vault.secretUri('upstream-password'));
    expect(put.status).toBe(201);
    const got = await admin('/credential-sets/hub-login');
    expect(got.status).toBe(200);
    const text = await got.text();
    expect(JSON.parse(text)).toMatchObject({
      name: 'hub-login',
      loginServer: upstream.proxy.host,
      authCredentials: [{ usernameSecretIdentifier: vault.secretUri('upstream-user'), passwordSecretIdentifier: vault.secretUri('upstream-password') }],
      credentialHealth: { status: 'Healthy' },
    });
    for (const v of SECRET_VALUES) expect(text).not.toContain(v);
    const listed = await json(await admin('/credential-sets'));
    expect(listed.credentialSets.map((s: { name: string }) => s.name)).toContain('hub-login');
  });

  test('plain-text secrets are refused with field names', async () => {
    const res = await putSet('plain-text', 'alice', PASSWORD_ONE);
    expect(res.status).toBe(422);
    const body = await json(res);
    expect(body.errors.map((e: { field: string }) => e.field)).toEqual(expect.arrayContaining(['authCredentials[0].usernameSecretIdentifier', 'authCredentials[0].passwordSecretIdentifier']));
  });

  test('a rule naming a credential set that does not exist is rejected; a set in use cannot be deleted', async () => {
    const missing = await putRule('needs-missing-set', 'nowhere/*', 'no-such-set');
    expect(missing.status).toBe(422);
    expect((await json(missing)).errors).toEqual([{ field: 'credentialSetName', message: 'credential set "no-such-set" does not exist' }]);
    expect((await putRule('private-hub', 'private/*', 'hub-login')).status).toBe(201);
    const del = await admin('/credential-sets/hub-login', { method: 'DELETE' });
    expect(del.status).toBe(409);
    expect((await json(del)).detail).toContain('private-hub');
  });
});

describe('pulling through a rule whose credential set lives in Key Vault', () => {
  test('skopeo pulls; secrets are read once and cached; rule health is healthy with the miss counted', async () => {
    const identityCalls = identity.tokenRequests;
    const dir = await tempDir('private-pull-');
    try {
      await skopeoCopy(['--src-tls-verify=false', '--src-no-creds', `docker://127.0.0.1:${new URL(frontend.dataUrl).port}/private/small:v1`, `dir:${dir.path}`]);
    } finally {
      await dir.remove();
    }
    expect(vault.secretReads).toBe(2);
    expect(identity.tokenRequests).toBeGreaterThan(identityCalls);
    expect((await manifest('private/multilayer')).status).toBe(200);
    expect(vault.secretReads).toBe(2);
    const health = await json(await admin('/cache-rules/private-hub/health'));
    expect(health).toMatchObject({ name: 'private-hub', state: 'healthy', credentialSetName: 'hub-login', breaker: { state: 'closed' } });
    expect(health.recent.misses).toBeGreaterThanOrEqual(2);
    expect(health.lastSuccess).toEqual(expect.any(String));
  }, 60_000);

  test('rotating the password in the vault and the upstream: the next pull succeeds after one 401-triggered refresh', async () => {
    vault.setSecret('upstream-password', PASSWORD_TWO);
    upstream.registry.tokenServer!.setPassword(PASSWORD_TWO);
    upstream.registry.tokenServer!.reset();
    const reads = vault.secretReads;
    const res = await manifest('private/artifact');
    expect(res.status).toBe(200);
    const statuses = upstream.registry.tokenServer!.requests.map((r) => r.status);
    expect(statuses).toEqual([401, 200]);
    expect(vault.secretReads).toBe(reads + 2);
  }, 30_000);

  test('verify walks secrets -> upstream -> login and reports every step ok', async () => {
    const set = await json(await admin('/credential-sets/hub-login/verify', { method: 'POST' }));
    expect(set).toMatchObject({ status: 'ok', credentialHealth: { status: 'Healthy' } });
    expect(set.steps.map((s: { step: string; status: string }) => [s.step, s.status])).toEqual([
      ['secrets-readable', 'ok'],
      ['upstream-reachable', 'ok'],
      ['upstream-accepts-credentials', 'ok'],
    ]);
    const rule = await json(await admin('/cache-rules/private-hub/verify', { method: 'POST' }));
    expect(rule).toMatchObject({ rule: 'private-hub', status: 'ok', credentialSetName: 'hub-login' });
  }, 30_000);
});

describe('when secrets cannot be read', () => {
  async function failingPull(ruleName: string, target: string): Promise<{ status: number; error: { code: string; message: string; detail: Record<string, unknown> } }> {
    const res = await manifest(`${target}/small`);
    const body = await json<{ errors: Array<{ code: string; message: string; detail: Record<string, unknown> }> }>(res);
    return { status: res.status, error: body.errors[0]! };
  }

  test.each([
    ['secret missing', 'missing-secret', () => vault.secretUri('no-such-secret'), /does not exist in the vault/],
    ['vault forbids', 'forbidden-vault', () => vault.secretUri('upstream-password'), /forbids access \(403\)/],
    ['vault unreachable', 'unreachable-vault', async () => `https://127.0.0.1:${await freePort()}/secrets/upstream-password`, /vault unreachable/],
  ])('%s: the pull fails naming credential-lookup and the rule; rule health shows it; credential health is Unhealthy', async (_label, name, uri, message) => {
    expect((await putSet(`${name}-set`, vault.secretUri('upstream-user'), await uri())).status).toBe(201);
    expect((await putRule(`${name}-rule`, `${name}/*`, `${name}-set`)).status).toBe(201);
    vault.forbidden = name === 'forbidden-vault';
    try {
      const { status, error } = await failingPull(`${name}-rule`, name);
      expect(status).toBe(502);
      expect(error.code).toBe('UNAVAILABLE');
      expect(error.message).toMatch(message);
      expect(error.detail).toMatchObject({ rule: `${name}-rule`, category: 'credential-lookup', credentialSet: `${name}-set` });
      // The first failing field in order: the forbidden vault refuses the username too.
      expect(error.detail.field).toBe(name === 'forbidden-vault' ? 'authCredentials[0].usernameSecretIdentifier' : 'authCredentials[0].passwordSecretIdentifier');
      expect(JSON.stringify(error)).not.toContain('/secrets/');
    } finally {
      vault.forbidden = false;
    }
    const health = await json(await admin(`/cache-rules/${name}-rule/health`));
    expect(health).toMatchObject({ state: 'failing', lastFailure: { category: 'credential-lookup' }, recent: { errors: 1 } });
    expect(health.lastFailure.message).toMatch(message);
    const set = await json(await admin(`/credential-sets/${name}-set`));
    expect(set.credentialHealth).toMatchObject({ status: 'Unhealthy', errorCode: 'credential-lookup' });
    const summary = await json(await admin('/health/cache-rules'));
    expect(summary.cacheRules.find((r: { name: string }) => r.name === `${name}-rule`).state).toBe('failing');
    expect(summary.states.failing).toBeGreaterThanOrEqual(1);
  }, 30_000);
});

describe('verify names the failing step', () => {
  const stepOf = async (path: string) => {
    const body = await json(await admin(path, { method: 'POST' }));
    return { status: body.status as string, failedStep: body.failedStep as string, message: body.steps.at(-1).message as string };
  };

  test('bad vault URI: secrets-readable', async () => {
    expect((await putSet('bad-uri-set', vault.secretUri('upstream-user'), `${vault.url}/keys/upstream-password`)).status).toBe(201);
    expect(await stepOf('/credential-sets/bad-uri-set/verify')).toMatchObject({ status: 'failed', failedStep: 'secrets-readable', message: expect.stringMatching(/not a Key Vault secret URI/) });
  });

  test('forbidden: secrets-readable', async () => {
    vault.forbidden = true;
    try {
      expect(await stepOf('/credential-sets/hub-login/verify')).toMatchObject({ failedStep: 'secrets-readable', message: expect.stringMatching(/forbids access/) });
    } finally {
      vault.forbidden = false;
    }
  });

  test('wrong upstream password: upstream-accepts-credentials, for the set and for its rule', async () => {
    vault.setSecret('wrong-password', WRONG_PASSWORD);
    expect((await putSet('wrong-password-set', vault.secretUri('upstream-user'), vault.secretUri('wrong-password'))).status).toBe(201);
    expect(await stepOf('/credential-sets/wrong-password-set/verify')).toMatchObject({ failedStep: 'upstream-accepts-credentials', message: expect.stringMatching(/refused/) });
    expect((await json(await admin('/credential-sets/wrong-password-set'))).credentialHealth).toMatchObject({ status: 'Unhealthy', errorCode: 'upstream-auth' });
    expect((await putRule('wrong-password-rule', 'wrongpw/small', 'wrong-password-set', `${upstream.proxy.host}/fixtures/small`)).status).toBe(201);
    expect(await stepOf('/cache-rules/wrong-password-rule/verify')).toMatchObject({ failedStep: 'upstream-accepts-credentials' });
  });

  test('upstream down: upstream-reachable', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    expect((await putSet('down-set', vault.secretUri('upstream-user'), vault.secretUri('upstream-password'), down)).status).toBe(201);
    expect(await stepOf('/credential-sets/down-set/verify')).toMatchObject({ failedStep: 'upstream-reachable', message: expect.stringMatching(/unavailable/) });
  });
});

test('no secret value nor secret reference appears in any log line', () => {
  expect(logs.length).toBeGreaterThan(0);
  const all = logs.join('');
  for (const v of SECRET_VALUES) expect(all).not.toContain(v);
  expect(all).toContain('credential-lookup');
  // Nor a secret reference: failures name the credential set and the field.
  expect(all).not.toContain(`${vault.url}/secrets/`);
  expect(all).toMatch(/credential set \\"[a-z-]+\\" authCredentials\[0\]\.passwordSecretIdentifier/);
});
