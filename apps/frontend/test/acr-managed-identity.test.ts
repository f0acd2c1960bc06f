import { startIdentityEmulator, type IdentityEmulator, type RedisServer } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

// ACR-to-ACR with a user-assigned managed identity: the real @azure/identity ManagedIdentityCredential
// gets an Entra ID token from the App Service identity endpoint emulator (MSAL reads
// IDENTITY_ENDPOINT/IDENTITY_HEADER itself); the cache exchanges it at an emulated ACR
// `/oauth2/exchange` for a refresh token, then at `/oauth2/token` for pull-scoped access tokens
// that a real token-auth docker-registry accepts.

const CLIENT_ID = '7a1c2b3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const OTHER_CLIENT_ID = '00000000-1111-4222-8333-444444444444';

let redis: RedisServer;
let identity: IdentityEmulator;
let upstream: Upstream;
let cache: Cache;
const savedEnv = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };

const admin = (path: string, method = 'GET', body?: unknown) =>
  fetch(`${cache.adminUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const manifest = (repo: string) => fetch(`${cache.dataUrl}/v2/${repo}/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
const acrCalls = () => upstream.registry.tokenServer!.acrRequests.map((r) => `${r.path} ${r.status}`);

beforeAll(async () => {
  redis = await startRedis();
  identity = await startIdentityEmulator();
  process.env.IDENTITY_ENDPOINT = identity.endpoint;
  process.env.IDENTITY_HEADER = identity.header;
  upstream = await startUpstream({ auth: 'token', acr: { identity, clientId: CLIENT_ID } });
  cache = await startCache(redis, [upstream.proxy.host]);
  upstream.registry.tokenServer!.reset();
}, 90_000);
afterAll(async () => {
  await cache?.stop();
  await upstream?.stop();
  await identity?.stop();
  await redis?.stop();
  process.env.IDENTITY_ENDPOINT = savedEnv.endpoint;
  process.env.IDENTITY_HEADER = savedEnv.header;
  if (savedEnv.endpoint === undefined) delete process.env.IDENTITY_ENDPOINT;
  if (savedEnv.header === undefined) delete process.env.IDENTITY_HEADER;
});

test('a credential set with a user-assigned identity: Entra token -> /oauth2/exchange -> /oauth2/token, tokens cached', async () => {
  const put = await admin('/credential-sets/acr-identity', 'PUT', { loginServer: upstream.proxy.host, identity: { type: 'UserAssigned', clientId: CLIENT_ID } });
  expect(put.status).toBe(201);
  expect(await put.json()).toMatchObject({ identity: { type: 'UserAssigned', clientId: CLIENT_ID }, credentialHealth: { status: 'Healthy' } });
  expect((await putRule(cache, { name: 'acr-mirror', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'mirror/*', credentialSetName: 'acr-identity', anonymousPull: true })).status).toBe(201);

  expect((await manifest('mirror/small')).status).toBe(200);
  expect(acrCalls()).toEqual(['/oauth2/exchange 200', '/oauth2/token 200']);
  const entraCalls = identity.tokenRequests;
  expect(entraCalls).toBe(1);

  // Another repository: a new pull scope, so a new access token, but the refresh token is reused.
  expect((await manifest('mirror/multilayer')).status).toBe(200);
  expect(acrCalls()).toEqual(['/oauth2/exchange 200', '/oauth2/token 200', '/oauth2/token 200']);
  // Blobs of a known scope reuse its cached access token; no new Entra token either.
  const small = (await (await manifest('mirror/small')).json()) as { layers: Array<{ digest: string }> };
  expect((await fetch(`${cache.dataUrl}/v2/mirror/small/blobs/${small.layers[0]!.digest}`)).status).toBe(200);
  expect(acrCalls()).toHaveLength(3);
  expect(identity.tokenRequests).toBe(entraCalls);
  // Only the upstream's token server ever saw the Entra token: the registry got ACR access tokens.
  expect(upstream.registry.tokenServer!.requests.filter((r) => r.status === 200 && r.account !== undefined)).toHaveLength(0);

  const health = (await (await admin('/cache-rules/acr-mirror/health')).json()) as { state: string; recent: { misses: number } };
  expect(health.state).toBe('healthy');

  const verify = (await (await admin('/credential-sets/acr-identity/verify', 'POST')).json()) as { status: string; steps: Array<{ step: string; status: string }> };
  expect(verify.status).toBe('ok');
  expect(verify.steps.map((s) => s.status)).toEqual(['ok', 'ok', 'ok']);
}, 60_000);

test('an identity the upstream ACR does not accept: the pull fails with upstream-auth naming the rule and the exchange step', async () => {
  expect((await admin('/credential-sets/acr-other-identity', 'PUT', { loginServer: upstream.proxy.host, identity: { type: 'UserAssigned', clientId: OTHER_CLIENT_ID } })).status).toBe(201);
  expect((await putRule(cache, { name: 'acr-wrong-id', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'wrongid/*', credentialSetName: 'acr-other-identity', anonymousPull: true })).status).toBe(201);
  const res = await manifest('wrongid/small');
  expect(res.status).toBe(403);
  const body = (await res.json()) as { errors: Array<{ code: string; message: string; detail: Record<string, unknown> }> };
  expect(body.errors[0]!.code).toBe('DENIED');
  expect(body.errors[0]!.message).toMatch(/acr-wrong-id.*\/oauth2\/exchange answered 401/);
  expect(body.errors[0]!.detail).toMatchObject({ rule: 'acr-wrong-id', category: 'upstream-auth' });
  const verify = (await (await admin('/credential-sets/acr-other-identity/verify', 'POST')).json()) as { failedStep: string };
  expect(verify.failedStep).toBe('upstream-accepts-credentials');
  const set = (await (await admin('/credential-sets/acr-other-identity')).json()) as { credentialHealth: { status: string; errorCode: string } };
  expect(set.credentialHealth).toMatchObject({ status: 'Unhealthy', errorCode: 'upstream-auth' });
}, 60_000);

test('a UserAssigned identity needs a clientId', async () => {
  const res = await admin('/credential-sets/acr-no-client', 'PUT', { loginServer: upstream.proxy.host, identity: { type: 'UserAssigned' } });
  expect(res.status).toBe(422);
  expect(((await res.json()) as { errors: Array<{ field: string }> }).errors.map((e) => e.field)).toContain('identity.clientId');
});
