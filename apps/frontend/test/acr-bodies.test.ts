import fc from 'fast-check';
import { startJwksServer, type JwksServer, type RedisServer } from '@pullthrough/test-support';
import { armCacheRuleGet, armCredentialSetGet, azCacheRuleShow, azCacheRuleShowAnonymous, azCredentialSetShow } from './acr-fixtures.js';
import { adminOidcEnv, ADMIN_TOKEN, startCache, startRedis, UPSTREAM_SECRETS, type Cache } from './harness.js';

// The cache-rule and credential-set routes take ACR's bodies (ARM's and az's) and answer in ACR's shape on request.
const AUDIENCE = 'api://pullthrough-acr-bodies';
const API = '?api-version=2023-07-01';
const ACR_ID = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/pullthrough/providers/Microsoft.ContainerRegistry/registries/pullthrough';

let redis: RedisServer;
let issuer: JwksServer;
let cache: Cache;

beforeAll(async () => {
  [redis, issuer] = await Promise.all([startRedis(), startJwksServer()]);
  cache = await startCache(
    redis,
    [],
    adminOidcEnv(issuer, AUDIENCE, 'Pullthrough.Operator=operator'),
    UPSTREAM_SECRETS,
  );
}, 60_000);
afterAll(async () => {
  await cache?.stop();
  await issuer?.stop();
  await redis?.stop();
});

type Problem = { status: number; errors?: Array<{ field: string; message: string }> };
type Json = Record<string, unknown>;

const call = (path: string, init: { method?: string; body?: unknown; headers?: Record<string, string>; bearer?: string } = {}) =>
  fetch(`${cache.adminUrl}/api/v1/${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.bearer ?? ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
const put = (path: string, body: unknown, bearer?: string) => call(path, { method: 'PUT', body, ...(bearer ? { bearer } : {}) });
const json = async (res: Response) => (await res.json()) as Json;
const fields = async (res: Response) => ((await res.json()) as Problem).errors?.map((e) => e.field);

const SOURCE = 'docker.io/library/node';
const TARGET = 'dockerhub/library/node';
const KV_USER = 'https://contoso-kv.vault.azure.net/secrets/registry-user';
const KV_PASS = 'https://contoso-kv.vault.azure.net/secrets/registry-token';

describe('credential sets in ACR shape', () => {
  test('az acr credential-set show -o json, PUT as is, stores the Key Vault identifiers as references', async () => {
    const res = await put('credential-sets/hub-login', azCredentialSetShow('hub-login', 'docker.io', 'contoso-kv'));
    expect(res.status).toBe(201);
    expect(await json(res)).toEqual({
      name: 'hub-login',
      loginServer: 'docker.io',
      authCredentials: [{ name: 'Credential1', usernameSecretIdentifier: KV_USER, passwordSecretIdentifier: KV_PASS }],
      identity: { type: 'SystemAssigned' },
      credentialHealth: { status: 'Healthy' },
    });
  });

  test('GET in ACR shape, PUT back as is: 200 and nothing changes; the ARM GET body of ACR does the same', async () => {
    const before = await json(await call('credential-sets/hub-login'));
    const acr = await json(await call(`credential-sets/hub-login${API}`));
    expect(acr).toEqual({
      id: `${ACR_ID}/credentialSets/hub-login`,
      name: 'hub-login',
      type: 'Microsoft.ContainerRegistry/registries/credentialSets',
      identity: { type: 'SystemAssigned' },
      properties: {
        loginServer: 'docker.io',
        authCredentials: [{ name: 'Credential1', usernameSecretIdentifier: KV_USER, passwordSecretIdentifier: KV_PASS, credentialHealth: { status: 'Healthy' } }],
        credentialHealth: { status: 'Healthy' },
        provisioningState: 'Succeeded',
      },
    });
    const back = await call(`credential-sets/hub-login${API}`, { method: 'PUT', body: acr });
    expect(back.status).toBe(200);
    expect(await json(back)).toEqual(acr);
    expect(await json(await call('credential-sets/hub-login'))).toEqual(before);
    expect((await put('credential-sets/hub-login', armCredentialSetGet('hub-login', 'docker.io', 'contoso-kv'))).status).toBe(200);
    expect(await json(await call('credential-sets/hub-login'))).toEqual(before);
  });

  test('an env: reference stays a reference: the secret value is never in an answer', async () => {
    const body = { properties: { loginServer: 'ghcr.io', authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_USER', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_PASS' }] } };
    const res = await put('credential-sets/ghcr-login', body);
    expect(res.status).toBe(201);
    const answers = [await res.text(), await (await call(`credential-sets/ghcr-login${API}`)).text(), await (await call(`credential-sets${API}`)).text()];
    for (const text of answers) {
      expect(text).toContain('env:PULLTHROUGH_SECRET_UP_PASS');
      expect(text).not.toContain(UPSTREAM_SECRETS.PULLTHROUGH_SECRET_UP_PASS);
    }
  });

  test('bad fields are named where the client put them; nothing is stored', async () => {
    const unknown = await put('credential-sets/bad-set', { properties: { loginServer: 'docker.io', vault: 'contoso-kv', authCredentials: [{ usernameSecretIdentifier: KV_USER, passwordSecretIdentifier: KV_PASS }] } });
    expect(unknown.status).toBe(422);
    expect(await fields(unknown)).toEqual(['properties.vault']);
    const outside = await put('credential-sets/bad-set', { properties: { loginServer: 'docker.io', authCredentials: [{ usernameSecretIdentifier: KV_USER, passwordSecretIdentifier: 'https://vault.attacker.example/secrets/x' }] } });
    expect(outside.status).toBe(422);
    expect(await fields(outside)).toEqual(['properties.authCredentials[0].passwordSecretIdentifier']);
    const host = await put('credential-sets/bad-set', { ...azCredentialSetShow('bad-set', 'https://docker.io/v2', 'contoso-kv') });
    expect(host.status).toBe(422);
    expect(await fields(host)).toEqual(['loginServer']);
    expect((await call('credential-sets/bad-set')).status).toBe(404);
  });

  test('any ACR-shaped body: never 5xx; a refusal is problem JSON naming fields; nothing is stored under a refused name', async () => {
    const secretRef = fc.oneof(fc.constantFrom(KV_USER, 'env:PULLTHROUGH_SECRET_UP_USER', 'file:/etc/shadow', 'https://vault.attacker.example/s/x'), fc.anything());
    const credential = fc.record({ name: fc.anything(), usernameSecretIdentifier: secretRef, passwordSecretIdentifier: secretRef, credentialHealth: fc.anything(), extra: fc.anything() }, { requiredKeys: [] });
    const properties = fc.record(
      { loginServer: fc.oneof(fc.constantFrom('docker.io', 'ghcr.io:443', 'https://x/y', ''), fc.anything()), authCredentials: fc.oneof(fc.array(credential, { maxLength: 2 }), fc.anything()), creationDate: fc.anything(), provisioningState: fc.anything(), credentialHealth: fc.anything() },
      { requiredKeys: [] },
    );
    const identity = fc.oneof(fc.record({ type: fc.oneof(fc.constantFrom('SystemAssigned', 'UserAssigned', 'None'), fc.anything()), principalId: fc.anything(), clientId: fc.anything(), userAssignedIdentities: fc.anything() }, { requiredKeys: [] }), fc.anything());
    const envelope = fc.record({ id: fc.anything(), type: fc.anything(), identity, systemData: fc.anything(), resourceGroup: fc.anything() }, { requiredKeys: [] });
    const body = fc.oneof(
      fc.tuple(envelope, fc.oneof(properties, fc.anything())).map(([e, p]) => ({ ...e, properties: p })),
      fc.tuple(envelope, properties).map(([e, p]) => ({ ...p, ...e, provisioningState: 'Succeeded' })),
    );
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(body, async (doc) => {
        const res = await put('credential-sets/fuzz-set', doc);
        statuses.add(res.status);
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) {
          expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
          const problem = (await res.json()) as Problem;
          for (const e of problem.errors ?? []) expect([typeof e.field, typeof e.message]).toEqual(['string', 'string']);
          return;
        }
        await res.arrayBuffer();
        expect((await call('credential-sets/fuzz-set', { method: 'DELETE' })).status).toBe(204);
      }),
      { numRuns: 150 },
    );
    expect(statuses.has(422)).toBe(true);
    expect((await call('credential-sets/fuzz-set')).status).toBe(404);
  });

  test('the list in ACR shape is {"value": [...]} without nextLink', async () => {
    const list = await json(await call(`credential-sets${API}`));
    expect(Object.keys(list)).toEqual(['value']);
    expect((list.value as Json[]).map((s) => [s.name, s.type])).toEqual(
      expect.arrayContaining([
        ['hub-login', 'Microsoft.ContainerRegistry/registries/credentialSets'],
        ['ghcr-login', 'Microsoft.ContainerRegistry/registries/credentialSets'],
      ]),
    );
  });
});

describe('cache rules in ACR shape', () => {
  const OURS = { name: 'hub-node', sourceRepository: SOURCE, targetRepository: TARGET, credentialSetName: 'hub-login' };

  test('az acr cache show -o json, PUT as is, creates the same rule as our body does', async () => {
    const res = await put('cache-rules/hub-node', azCacheRuleShow('hub-node', 'hub-login', SOURCE, TARGET));
    expect(res.status).toBe(201);
    expect(await json(res)).toEqual(OURS);
    expect(cache.frontend.rules.rules.get('hub-node')).toEqual(OURS);
    const ours = await put('cache-rules/hub-node', OURS);
    expect(ours.status).toBe(200);
    expect(await json(ours)).toEqual(OURS);
    // The ARM GET body of a real ACR rule (another registry's ids) is taken the same way.
    expect((await put('cache-rules/hub-node', armCacheRuleGet('hub-node', 'hub-login', SOURCE, TARGET))).status).toBe(200);
    expect(cache.frontend.rules.rules.get('hub-node')).toEqual(OURS);
  });

  test('GET in ACR shape (api-version or Accept profile), PUT back as is: nothing changes, our fields included', async () => {
    const rule = { ...OURS, platforms: ['linux/amd64', 'linux/arm64'], tagFreshnessSeconds: 600, allow: { tags: ['>=20'] }, fallbackRegistries: ['mirror.gcr.io'], retention: { maxTags: 10 } };
    expect((await put('cache-rules/hub-node', rule)).status).toBe(200);
    const acr = await json(await call(`cache-rules/hub-node${API}`));
    expect(acr).toEqual({
      id: `${ACR_ID}/cacheRules/hub-node`,
      name: 'hub-node',
      type: 'Microsoft.ContainerRegistry/registries/cacheRules',
      properties: {
        sourceRepository: SOURCE,
        targetRepository: TARGET,
        credentialSetResourceId: `${ACR_ID}/credentialSets/hub-login`,
        platforms: ['linux/amd64', 'linux/arm64'],
        tagFreshnessSeconds: 600,
        allow: { tags: ['>=20'] },
        fallbackRegistries: ['mirror.gcr.io'],
        retention: { maxTags: 10 },
        provisioningState: 'Succeeded',
      },
    });
    expect(await json(await call('cache-rules/hub-node', { headers: { accept: 'application/json; profile=acr' } }))).toEqual(acr);
    const back = await call(`cache-rules/hub-node${API}`, { method: 'PUT', body: acr });
    expect(back.status).toBe(200);
    expect(await json(back)).toEqual(acr);
    expect(cache.frontend.rules.rules.get('hub-node')).toEqual(rule);
  });

  test('a rule without a credential set, as az prints it (credentialSetResourceId null)', async () => {
    const res = await put('cache-rules/quay-app', azCacheRuleShowAnonymous('quay-app', 'quay.io/org/app', 'quay/org/app'));
    expect(res.status).toBe(201);
    expect(await json(res)).toEqual({ name: 'quay-app', sourceRepository: 'quay.io/org/app', targetRepository: 'quay/org/app' });
  });

  test.each<[string, Json, string[]]>([
    ['a bad platform inside properties', { properties: { sourceRepository: 'quay.io/a/*', targetRepository: 'qa/*', platforms: ['linux'] } }, ['properties.platforms[0]']],
    ['an unknown field inside properties', { properties: { sourceRepository: 'quay.io/a/*', targetRepository: 'qa/*', syncReferrers: 'Enabled' } }, ['properties.syncReferrers']],
    ['a wildcard on one side only (az flat)', { ...azCacheRuleShowAnonymous('rule-bad', 'quay.io/a/*', 'qa/b'), name: undefined }, ['targetRepository']],
    ['a credential set that does not exist', armCacheRuleGet('rule-bad', 'no-such-set', 'docker.io/library/redis', 'hub/redis'), ['properties.credentialSetResourceId']],
    ['a credentialSetResourceId that names no credential set', { properties: { sourceRepository: 'quay.io/a/*', targetRepository: 'qa/*', credentialSetResourceId: 'hub-login' } }, ['properties.credentialSetResourceId']],
    ["another rule's id", { ...armCacheRuleGet('other-rule', 'hub-login', 'docker.io/library/redis', 'hub/redis'), name: undefined }, ['id']],
  ])('%s is refused (422) with the field named where the client put it', async (_label, body, expected) => {
    const res = await put('cache-rules/rule-bad', body);
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await fields(res)).toEqual(expected);
    expect((await call('cache-rules/rule-bad')).status).toBe(404);
  });

  test('a malformed api-version is a 400 naming it', async () => {
    const res = await call('cache-rules?api-version=latest');
    expect(res.status).toBe(400);
    expect(await fields(res)).toEqual(['api-version']);
  });

  test('the list in ACR shape is {"value": [...]} without nextLink; our list is unchanged', async () => {
    const list = await json(await call(`cache-rules${API}`));
    expect(Object.keys(list)).toEqual(['value']);
    expect((list.value as Json[]).map((r) => r.id).sort()).toEqual([`${ACR_ID}/cacheRules/hub-node`, `${ACR_ID}/cacheRules/quay-app`]);
    const ours = await json(await call('cache-rules'));
    expect((ours.cacheRules as Json[]).map((r) => r.name).sort()).toEqual(['hub-node', 'quay-app']);
  });

  test('an operator cannot change a rule\'s credential set through the ACR shape either (403 needs admin)', async () => {
    const nowS = Math.floor(Date.now() / 1000);
    const operator = issuer.sign({ iss: issuer.issuer, aud: AUDIENCE, sub: 'sub-of-olga', exp: nowS + 600, nbf: nowS - 5, roles: ['Pullthrough.Operator'] });
    const acr = await json(await call(`cache-rules/hub-node${API}`));
    const props = acr.properties as Json;
    const denied = await put('cache-rules/hub-node', { ...acr, properties: { ...props, credentialSetResourceId: null } }, operator);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { detail: string }).detail).toMatch(/credential set \("hub-login"\)/);
    expect(cache.frontend.rules.rules.get('hub-node')?.credentialSetName).toBe('hub-login');
    // The unchanged ACR body is an operator's to apply (freshness change only).
    const allowed = await put('cache-rules/hub-node', { ...acr, properties: { ...props, tagFreshnessSeconds: 60 } }, operator);
    expect(allowed.status).toBe(200);
    expect(cache.frontend.rules.rules.get('hub-node')?.tagFreshnessSeconds).toBe(60);
  });
});
