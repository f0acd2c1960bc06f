import { startJwksServer, type JwksServer, type RedisServer } from '@pullthrough/test-support';
import { adminOidcEnv, startCache, startRedis, type Cache } from './harness.js';
import { memoryLogger } from './memory-logger.js';

// Who may run retention and purge a deleted rule's content, with OIDC role tokens (admin-oidc.test.ts covers the rest).
const AUDIENCE = 'api://pullthrough-retention-roles';

let redis: RedisServer;
let issuer: JwksServer;
let cache: Cache;
const log = memoryLogger();

beforeAll(async () => {
  [redis, issuer] = await Promise.all([startRedis(), startJwksServer()]);
  cache = await startCache(
    redis,
    [],
    adminOidcEnv(issuer, AUDIENCE, 'Pullthrough.Reader=reader,Pullthrough.Operator=operator,Pullthrough.Admin=admin'),
    {},
    undefined,
    log.logger,
  );
}, 60_000);
afterAll(async () => {
  await cache?.stop();
  await issuer?.stop();
  await redis?.stop();
});

const nowS = () => Math.floor(Date.now() / 1000);
const token = (roles: string[]) => issuer.sign({ iss: issuer.issuer, aud: AUDIENCE, sub: 'sub-of-bob', exp: nowS() + 600, nbf: nowS() - 5, roles });
const call = (path: string, bearer: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${cache.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
const auditFor = (requestId: string) => log.lines.filter((l) => l.audit === true && l.requestId === requestId);
const rid = () => `retention-roles-${Math.random().toString(36).slice(2)}`;
const rule = (name: string) => ({ name, sourceRepository: `quay.io/${name}/*`, targetRepository: `${name}/*` });

describe('retention and purge: an operator may look, an admin evicts', () => {
  test('POST /api/v1/retention: reader 403, operator dry run 200 and real run 403 (audited), admin real run 200', async () => {
    const [reader, operator, adminRole] = [token(['Pullthrough.Reader']), token(['Pullthrough.Operator']), token(['Pullthrough.Admin'])];
    expect((await call('/api/v1/retention', reader, 'POST', { dryRun: true })).status).toBe(403);
    const dry = await call('/api/v1/retention', operator, 'POST', { dryRun: true });
    expect(dry.status).toBe(200);
    expect(((await dry.json()) as { dryRun: boolean }).dryRun).toBe(true);
    const id = rid();
    const real = await call('/api/v1/retention', operator, 'POST', { dryRun: false }, { 'x-request-id': id });
    expect(real.status).toBe(403);
    expect(((await real.json()) as { detail: string }).detail).toMatch(/dryRun: false.*needs "admin"/);
    expect(auditFor(id)).toEqual([expect.objectContaining({ outcome: 'denied', reason: 'retention-run' })]);
    const done = await call('/api/v1/retention', adminRole, 'POST', {});
    expect(done.status).toBe(200);
    expect(((await done.json()) as { dryRun: boolean }).dryRun).toBe(false);
  });

  test('DELETE a cache rule with purge=true needs admin; without purge an operator may delete it', async () => {
    const [operator, adminRole] = [token(['Pullthrough.Operator']), token(['Pullthrough.Admin'])];
    for (const name of ['purge-one', 'purge-two']) expect((await call(`/api/v1/cache-rules/${name}`, operator, 'PUT', rule(name))).status).toBe(201);
    expect((await call('/api/v1/cache-rules/purge-one?purge=true', operator, 'DELETE')).status).toBe(403);
    expect((await call('/api/v1/cache-rules/purge-one', operator, 'DELETE')).status).toBe(204);
    const purged = await call('/api/v1/cache-rules/purge-two?purge=true', adminRole, 'DELETE');
    expect(purged.status).toBe(200);
    expect(await purged.json()).toEqual({ rule: 'purge-two', purged: { repositories: [], totals: { repositories: 0, tagsRemoved: 0, manifestsRemoved: 0, blobLinksRemoved: 0 } } });
  });
});
