import { startJwksServer, unsignedJwt, type JwksServer, type RedisServer } from '@pullthrough/test-support';
import { adminOidcEnv, ADMIN_TOKEN, startCache, startRedis, type Cache } from './harness.js';
import { memoryLogger } from './memory-logger.js';

const AUDIENCE = 'api://pullthrough-admin-test';

let redis: RedisServer;
let issuer: JwksServer;
let cache: Cache;
/** Every line the frontend logged, raw and parsed. */
const log = memoryLogger();
const { lines, raw } = log;
/** Every credential a test sent: none may appear in a log line. */
const sent = new Set<string>([ADMIN_TOKEN]);

beforeAll(async () => {
  [redis, issuer] = await Promise.all([startRedis(), startJwksServer()]);
  cache = await startCache(
    redis,
    [],
    {
      ...adminOidcEnv(issuer, `some-other-app,${AUDIENCE}`, 'Pullthrough.Reader=reader,Pullthrough.Operator=operator,Pullthrough.Admin=admin,Platform.SRE=operator'),
      PULLTHROUGH_METRICS_AUTH: 'true',
    },
    {},
    undefined,
    log.logger,
  );
});
afterAll(async () => {
  await cache?.stop();
  await issuer?.stop();
  await redis?.stop();
});

const nowS = () => Math.floor(Date.now() / 1000);
const claims = (over: Record<string, unknown> = {}) => ({
  iss: issuer.issuer,
  aud: AUDIENCE,
  sub: 'sub-of-alice',
  oid: '00000000-0000-0000-0000-00000000a11c',
  preferred_username: 'alice@example.com',
  exp: nowS() + 600,
  nbf: nowS() - 5,
  ...over,
});
const token = (roles: string[], over: Record<string, unknown> = {}) => {
  const t = issuer.sign(claims({ roles, ...over }));
  sent.add(t);
  return t;
};

function call(path: string, bearer: string | undefined, method = 'GET', body?: unknown, headers: Record<string, string> = {}) {
  if (bearer) sent.add(bearer);
  return fetch(`${cache.adminUrl}${path}`, {
    method,
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** The audit lines for one request id (the X-Request-Id the test sent). */
const auditFor = (requestId: string) => lines.filter((l) => l.audit === true && l.requestId === requestId);
let seq = 0;
const rid = () => `oidc-test-${++seq}`;

const rule = (name: string) => ({ name, sourceRepository: `quay.io/${name}/*`, targetRepository: `${name}/*` });

describe('admin API with OIDC bearer tokens', () => {
  test('key rotation: a token with a new kid works after one JWKS fetch, and the next one needs none', async () => {
    // Warm: the issuer's keys are held.
    expect((await call('/api/v1/cache-rules', token(['Pullthrough.Reader']))).status).toBe(200);
    const before = issuer.jwksRequests;
    const rotated = issuer.addKey('ES256');
    const fresh = issuer.sign(claims({ roles: ['Pullthrough.Operator'], sub: 'after-rotation' }), rotated);
    sent.add(fresh);
    expect((await call('/api/v1/cache-rules/quay-rotated', fresh, 'PUT', rule('quay-rotated'))).status).toBe(201);
    expect(issuer.jwksRequests).toBe(before + 1);
    expect((await call('/api/v1/cache-rules/quay-rotated', fresh, 'DELETE')).status).toBe(204);
    expect(issuer.jwksRequests).toBe(before + 1);
    // Made-up kids right after: at most one unknown-kid fetch per minute, and this one was spent on the rotation.
    const stranger = issuer.unpublishedKey('ES256');
    for (let i = 0; i < 3; i++) expect((await call('/api/v1/cache-rules', issuer.sign(claims({ roles: ['Pullthrough.Reader'] }), stranger))).status).toBe(401);
    expect(issuer.jwksRequests).toBe(before + 1);
  });

  test('a reader may GET rules but not PUT one: 403 problem JSON, audited with who, what, target and where', async () => {
    const reader = token(['Pullthrough.Reader']);
    const list = await call('/api/v1/cache-rules', reader);
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ cacheRules: [] });

    const id = rid();
    const put = await call('/api/v1/cache-rules/quay-reader', reader, 'PUT', rule('quay-reader'), { 'x-request-id': id });
    expect(put.status).toBe(403);
    expect(put.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(put.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
    const problem = (await put.json()) as { status: number; detail: string };
    expect(problem.status).toBe(403);
    expect(problem.detail).toMatch(/reader.*operator/);
    expect((await call('/api/v1/cache-rules/quay-reader', reader)).status).toBe(404);

    expect(auditFor(id)).toEqual([
      expect.objectContaining({
        audit: true,
        event: 'access.denied',
        plane: 'admin',
        actor: { kind: 'oidc', subject: 'sub-of-alice', oid: '00000000-0000-0000-0000-00000000a11c', name: 'alice@example.com', role: 'reader' },
        method: 'PUT',
        route: '/api/v1/cache-rules/:name',
        action: 'cache-rule.put',
        target: 'quay-reader',
        address: '127.0.0.1',
        status: 403,
        outcome: 'denied',
        reason: 'insufficient-role',
      }),
    ]);
    expect(Date.parse(auditFor(id)[0]!.at as string)).toBeGreaterThan(Date.now() - 60_000);
    // A reader's GETs are not audited (reads are not changes).
    expect(lines.filter((l) => l.event === 'admin.change' && l.method === 'GET')).toEqual([]);
  });

  test('an operator may PUT and DELETE a rule (each audited with its outcome) but not a credential set', async () => {
    const operator = token(['Platform.SRE'], { sub: 'sub-of-bob', preferred_username: 'bob@example.com', oid: undefined });
    const id = rid();
    expect((await call('/api/v1/cache-rules/quay-operator', operator, 'PUT', rule('quay-operator'), { 'x-request-id': id })).status).toBe(201);
    expect(auditFor(id)).toEqual([
      expect.objectContaining({
        event: 'admin.change',
        actor: { kind: 'oidc', subject: 'sub-of-bob', name: 'bob@example.com', role: 'operator' },
        method: 'PUT',
        route: '/api/v1/cache-rules/:name',
        action: 'cache-rule.put',
        target: 'quay-operator',
        status: 201,
        outcome: 'succeeded',
      }),
    ]);
    // A failed change is audited too, with its status.
    const bad = rid();
    expect((await call('/api/v1/cache-rules/quay-broken', operator, 'PUT', { sourceRepository: 'quay.io/*', targetRepository: 'x/y' }, { 'x-request-id': bad })).status).toBe(422);
    expect(auditFor(bad)).toEqual([expect.objectContaining({ event: 'admin.change', target: 'quay-broken', status: 422, outcome: 'failed' })]);

    const denied = rid();
    const secretRef = 'env:OPERATOR_MUST_NOT_SEE_THIS';
    const set = await call('/api/v1/credential-sets/quay-creds', operator, 'PUT', { loginServer: 'quay.io', authCredentials: [{ name: 'c1', usernameSecretIdentifier: secretRef, passwordSecretIdentifier: secretRef }] }, { 'x-request-id': denied });
    expect(set.status).toBe(403);
    expect(auditFor(denied)).toEqual([expect.objectContaining({ event: 'access.denied', action: 'credential-set.put', target: 'quay-creds', status: 403 })]);
    expect(raw.filter((l) => l.includes(secretRef))).toEqual([]);

    const del = rid();
    expect((await call('/api/v1/cache-rules/quay-operator', operator, 'DELETE', undefined, { 'x-request-id': del })).status).toBe(204);
    expect(auditFor(del)).toEqual([expect.objectContaining({ event: 'admin.change', action: 'cache-rule.delete', target: 'quay-operator', status: 204 })]);
  });

  test('an OIDC admin may PUT a credential set (audited, no secret reference in the log); the static token is admin-token', async () => {
    const adminToken = token(['Pullthrough.Reader', 'Pullthrough.Admin']);
    const id = rid();
    const ref = 'env:PULLTHROUGH_SECRET_QUAY_PASSWORD';
    const put = await call('/api/v1/credential-sets/quay-creds', adminToken, 'PUT', { loginServer: 'quay.io', authCredentials: [{ name: 'c1', usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_QUAY_USER', passwordSecretIdentifier: ref }] }, { 'x-request-id': id });
    expect(put.status).toBe(201);
    expect(auditFor(id)).toEqual([expect.objectContaining({ event: 'admin.change', actor: expect.objectContaining({ kind: 'oidc', role: 'admin' }), action: 'credential-set.put', target: 'quay-creds', status: 201 })]);
    expect(raw.filter((l) => l.includes(ref))).toEqual([]);

    const del = rid();
    expect((await call('/api/v1/credential-sets/quay-creds', ADMIN_TOKEN, 'DELETE', undefined, { 'x-request-id': del })).status).toBe(204);
    expect(auditFor(del)).toEqual([expect.objectContaining({ event: 'admin.change', actor: { kind: 'admin-token', subject: 'admin-token', role: 'admin' }, action: 'credential-set.delete', status: 204 })]);
  });

  test('a token that maps to no role is authenticated but refused (403, reason no-role)', async () => {
    const id = rid();
    const res = await call('/api/v1/cache-rules', token(['Some.Other.Role']), 'GET', undefined, { 'x-request-id': id });
    expect(res.status).toBe(403);
    expect(auditFor(id)).toEqual([expect.objectContaining({ event: 'access.denied', reason: 'no-role', status: 403, actor: expect.objectContaining({ subject: 'sub-of-alice' }) })]);
  });

  test.each<[string, () => string, string]>([
    ['no token', () => '', 'no-credentials'],
    ['an unknown opaque token', () => 'not-a-jwt-and-not-the-admin-token', 'bad-token'],
    ['an expired token', () => token(['Pullthrough.Admin'], { exp: nowS() - 3600 }), 'expired'],
    ['a token for another audience', () => token(['Pullthrough.Admin'], { aud: 'api://another-service' }), 'wrong-audience'],
    ['a token from another issuer', () => token(['Pullthrough.Admin'], { iss: 'https://login.microsoftonline.com/other-tenant/v2.0' }), 'wrong-issuer'],
    ['a token signed by a key the issuer never published (unknown kid)', () => issuer.sign(claims({ roles: ['Pullthrough.Admin'] }), issuer.unpublishedKey('RS256')), 'unknown-key'],
    ['alg none', () => unsignedJwt({ kid: issuer.keys[0]!.kid }, claims({ roles: ['Pullthrough.Admin'] })), 'unsupported-algorithm'],
    ['a tampered signature', () => {
      const [h, p, s] = token(['Pullthrough.Reader']).split('.');
      return `${h}.${p}.${s!.slice(0, 10)}${s![10] === 'A' ? 'B' : 'A'}${s!.slice(11)}`;
    }, 'bad-signature'],
    ['a reader token whose roles were rewritten to admin', () => {
      const [h, , s] = token(['Pullthrough.Reader']).split('.');
      return `${h}.${Buffer.from(JSON.stringify(claims({ roles: ['Pullthrough.Admin'] }))).toString('base64url')}.${s}`;
    }, 'bad-signature'],
  ])('%s: 401 problem JSON with WWW-Authenticate, audited', async (_label, make, reason) => {
    const bearer = make();
    const id = rid();
    const res = await call('/api/v1/credential-sets/quay-creds', bearer || undefined, 'PUT', { loginServer: 'quay.io' }, { 'x-request-id': id });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('www-authenticate')).toBe(reason === 'no-credentials' ? 'Bearer realm="pullthrough-admin"' : 'Bearer realm="pullthrough-admin", error="invalid_token"');
    expect(((await res.json()) as { status: number }).status).toBe(401);
    expect(auditFor(id)).toEqual([
      expect.objectContaining({ event: 'access.denied', actor: { kind: 'anonymous' }, method: 'PUT', route: '/api/v1/credential-sets/:name', target: 'quay-creds', status: 401, reason }),
    ]);
  });

  test('/metrics needs a credential when PULLTHROUGH_METRICS_AUTH is on; a reader may scrape', async () => {
    const anonymous = await call('/metrics', undefined);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="pullthrough-admin"');
    const scraped = await call('/metrics', token(['Pullthrough.Reader']));
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^# HELP /m);
    expect((await call('/healthz', undefined)).status).toBe(200);
  });

  test('X-Forwarded-For is not believed without PULLTHROUGH_TRUST_PROXY_HOPS', async () => {
    const id = rid();
    await call('/api/v1/cache-rules/x-forwarded', undefined, 'DELETE', undefined, { 'x-request-id': id, 'x-forwarded-for': '203.0.113.7' });
    expect(auditFor(id)).toEqual([expect.objectContaining({ address: '127.0.0.1', status: 401 })]);
  });

  test('no log line holds a token, the admin token, or a signature', () => {
    expect(raw.length).toBeGreaterThan(10);
    const leaks = raw.filter((line) => [...sent].some((t) => t !== '' && (line.includes(t) || (t.split('.')[2]?.length ?? 0) > 20 && line.includes(t.split('.')[2]!))));
    expect(leaks).toEqual([]);
  });
});

describe('behind a trusted reverse proxy', () => {
  test('the audited address is the client X-Forwarded-For names, one hop back', async () => {
    const { logger: ownLogger, lines: own } = memoryLogger();
    const proxied = await startCache(redis, [], { PULLTHROUGH_TRUST_PROXY_HOPS: '1' }, {}, undefined, ownLogger);
    try {
      const res = await fetch(`${proxied.adminUrl}/api/v1/cache-rules/quay-proxied`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.1, 203.0.113.7', 'x-request-id': 'proxied-1' },
        body: JSON.stringify(rule('quay-proxied')),
      });
      expect(res.status).toBe(201);
      expect(own.filter((l) => l.audit === true)).toEqual([expect.objectContaining({ event: 'admin.change', address: '203.0.113.7', requestId: 'proxied-1', target: 'quay-proxied' })]);
    } finally {
      await proxied.stop();
    }
  });
});

describe('when the issuer cannot be reached', () => {
  test('an OIDC token gets 503 with Retry-After (audited, jwks-unavailable); the admin token still works', async () => {
    const { logger: ownLogger, lines: own } = memoryLogger();
    const env = { PULLTHROUGH_ADMIN_OIDC_ISSUER: issuer.issuer, PULLTHROUGH_ADMIN_OIDC_AUDIENCE: AUDIENCE };
    const fresh = await startCache(redis, [], env, {}, undefined, ownLogger);
    issuer.failWith(503);
    try {
      const before = issuer.discoveryRequests;
      const res = await fetch(`${fresh.adminUrl}/api/v1/cache-rules`, { headers: { authorization: `Bearer ${token(['Pullthrough.Admin'])}`, 'x-request-id': 'down-1' } });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('10');
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      // No JWKS URL configured: it was discovered from the issuer's OpenID configuration.
      expect(issuer.discoveryRequests).toBe(before + 1);
      expect(own.filter((l) => l.audit === true)).toEqual([expect.objectContaining({ event: 'access.denied', status: 503, reason: 'jwks-unavailable', requestId: 'down-1' })]);
      // The operator's log says why (the client is told only to retry).
      expect(own.filter((l) => l.msg === 'admin API: the OIDC issuer keys are unavailable').map((l) => l.err)).toEqual([expect.stringMatching(/answered 503/)]);
      expect((await fetch(`${fresh.adminUrl}/api/v1/cache-rules`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);
    } finally {
      issuer.failWith(undefined);
      await fresh.stop();
    }
  });
});

describe('cache rules with a credential set: who may pull their content is an admin\'s call', () => {
  const SET = 'quay-private';
  const RULE = 'quay-private-rule';
  const base = { sourceRepository: 'quay.io/private/*', targetRepository: 'quay-private/*', credentialSetName: SET };
  let operator: string;
  let admin: string;

  beforeAll(async () => {
    operator = token(['Pullthrough.Operator'], { sub: 'sub-of-olivia' });
    admin = token(['Pullthrough.Admin'], { sub: 'sub-of-ada' });
    const set = { loginServer: 'quay.io', authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_QUAY_USER', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_QUAY_PASSWORD' }] };
    expect((await call(`/api/v1/credential-sets/${SET}`, ADMIN_TOKEN, 'PUT', set)).status).toBe(201);
    // An operator may create a rule with a credential set: its content stays private.
    expect((await call(`/api/v1/cache-rules/${RULE}`, operator, 'PUT', { name: RULE, ...base })).status).toBe(201);
  });

  const stored = async () => (await (await call(`/api/v1/cache-rules/${RULE}`, ADMIN_TOKEN)).json()) as Record<string, unknown>;

  test.each([
    ['anonymousPull: true', { ...base, anonymousPull: true }, 'credential-set-rule-made-anonymous', /anonymous clients pull what credential set "quay-private" fetches/],
    ['another credential set', { ...base, credentialSetName: 'quay-other' }, 'credential-set-rule-credential-set-changed', /credential set \("quay-private"\)/],
    ['no credential set', { sourceRepository: base.sourceRepository, targetRepository: base.targetRepository }, 'credential-set-rule-credential-set-changed', /changing or removing the credential set/],
    ['another sourceRepository', { ...base, sourceRepository: 'quay.io/other/*' }, 'credential-set-rule-source-changed', /sourceRepository/],
    ['another targetRepository', { ...base, targetRepository: 'quay-moved/*' }, 'credential-set-rule-target-changed', /targetRepository/],
  ])('an operator PUT with %s: 403 problem naming the reason, audited as denied (no change line), the rule unchanged', async (_label, body, reason, detail) => {
    const before = await stored();
    const id = rid();
    const res = await call(`/api/v1/cache-rules/${RULE}`, operator, 'PUT', body, { 'x-request-id': id });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await res.json()) as { status: number; title: string; detail: string };
    expect(problem).toMatchObject({ status: 403, title: 'Forbidden' });
    expect(problem.detail).toMatch(detail);
    expect(problem.detail).toMatch(/role "operator" may not make this change: .* needs "admin"/);
    expect(auditFor(id)).toEqual([
      expect.objectContaining({
        event: 'access.denied',
        actor: expect.objectContaining({ kind: 'oidc', subject: 'sub-of-olivia', role: 'operator' }),
        method: 'PUT',
        route: '/api/v1/cache-rules/:name',
        action: 'cache-rule.put',
        target: RULE,
        status: 403,
        outcome: 'denied',
        reason,
      }),
    ]);
    expect(await stored()).toEqual(before);
  });

  test('an operator may still change what does not touch who pulls (freshness); an admin may make the rule anonymous, and then an operator may keep it as is', async () => {
    expect((await call(`/api/v1/cache-rules/${RULE}`, operator, 'PUT', { ...base, tagFreshnessSeconds: 60 })).status).toBe(200);
    const id = rid();
    expect((await call(`/api/v1/cache-rules/${RULE}`, admin, 'PUT', { ...base, anonymousPull: true }, { 'x-request-id': id })).status).toBe(200);
    expect(auditFor(id)).toEqual([expect.objectContaining({ event: 'admin.change', action: 'cache-rule.put', status: 200, actor: expect.objectContaining({ role: 'admin' }) })]);
    expect((await call(`/api/v1/cache-rules/${RULE}`, operator, 'PUT', { ...base, anonymousPull: true, tagFreshnessSeconds: 120 })).status).toBe(200);
    expect(await stored()).toMatchObject({ anonymousPull: true, tagFreshnessSeconds: 120, credentialSetName: SET });
  });

  test('an operator may not create a rule whose target lies inside that of a rule with a credential set (it would serve that content)', async () => {
    const id = rid();
    const res = await call('/api/v1/cache-rules/quay-shadow', operator, 'PUT', { sourceRepository: 'quay.io/public/*', targetRepository: 'quay-private/secret/*' }, { 'x-request-id': id });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/overlapping that of cache rule "quay-private-rule"/);
    expect(auditFor(id)).toEqual([expect.objectContaining({ event: 'access.denied', target: 'quay-shadow', reason: 'credential-set-rule-shadowed' })]);
    expect((await call('/api/v1/cache-rules/quay-shadow', operator, 'PUT', { sourceRepository: 'quay.io/public/*', targetRepository: 'quay-public/*' })).status).toBe(201);
    expect((await call('/api/v1/cache-rules/quay-shadow', operator, 'DELETE')).status).toBe(204);
  });

  test('an operator may not DELETE a rule with a credential set (403, credential-set-rule-deleted); an admin may', async () => {
    const id = rid();
    const res = await call(`/api/v1/cache-rules/${RULE}`, operator, 'DELETE', undefined, { 'x-request-id': id });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/deleting a cache rule that uses credential set "quay-private"/);
    expect(auditFor(id)).toEqual([expect.objectContaining({ event: 'access.denied', action: 'cache-rule.delete', target: RULE, status: 403, reason: 'credential-set-rule-deleted' })]);
    expect((await call(`/api/v1/cache-rules/${RULE}`, ADMIN_TOKEN)).status).toBe(200);
    expect((await call(`/api/v1/cache-rules/${RULE}`, admin, 'DELETE')).status).toBe(204);
  });

  test('an operator may not create a rule that is anonymous with a credential set', async () => {
    const id = rid();
    const res = await call('/api/v1/cache-rules/quay-private-new', operator, 'PUT', { ...base, targetRepository: 'quay-private-new/*', anonymousPull: true }, { 'x-request-id': id });
    expect(res.status).toBe(403);
    expect(auditFor(id)).toEqual([expect.objectContaining({ event: 'access.denied', reason: 'credential-set-rule-made-anonymous' })]);
    expect((await call('/api/v1/cache-rules/quay-private-new', ADMIN_TOKEN)).status).toBe(404);
  });
});

describe('under the egress policy', () => {
  test('an issuer on an address the operator did not allow is never contacted: OIDC tokens get 503, the log says why', async () => {
    const { logger: ownLogger, lines: own } = memoryLogger();
    // Loopback is allowed only on another address, so the issuer's 127.0.0.1 is refused at connect time.
    const env = { ...adminOidcEnv(issuer, AUDIENCE), PULLTHROUGH_EGRESS_ALLOW: '127.0.0.2' };
    const fenced = await startCache(redis, [], env, {}, undefined, ownLogger);
    try {
      const before = issuer.jwksRequests;
      const res = await fetch(`${fenced.adminUrl}/api/v1/cache-rules`, { headers: { authorization: `Bearer ${token(['Pullthrough.Admin'])}` } });
      expect(res.status).toBe(503);
      expect(issuer.jwksRequests).toBe(before);
      expect(own.filter((l) => l.msg === 'admin API: the OIDC issuer keys are unavailable').map((l) => l.err)).toEqual([expect.stringMatching(/loopback|egress|refus/i)]);
    } finally {
      await fenced.stop();
    }
  });
});
