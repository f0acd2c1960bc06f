import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

// What a rule cached is served only under the same rule, upstream and credential set: deleting a rule,
// re-pointing it, or a more specific rule taking a repository over makes the repository forget it.

const SECRETS = { PULLTHROUGH_SECRET_UP_USER: 'someone', PULLTHROUGH_SECRET_UP_PASS: 'upstream-pass' };
const ALICE = 'alice-pw-rule-change';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let redis: RedisServer;
let first: Upstream;
let second: Upstream;
let dir: TempDir;
let cache: Cache;

const alice = `Basic ${Buffer.from(`alice:${ALICE}`).toString('base64')}`;
const admin = (path: string, method = 'GET', body?: unknown) =>
  fetch(`${cache.adminUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const get = (path: string, authorization?: string) => fetch(`${cache.dataUrl}${path}`, { headers: { accept: OCI_MANIFEST, ...(authorization ? { authorization } : {}) } });
const privateRule = (source: Upstream) => ({ name: 'private-u2', sourceRepository: `${source.proxy.host}/fixtures/*`, targetRepository: 'u2/*', credentialSetName: 'up-creds' });
const holds = (repository: string) => existsSync(join(cache.dataDir, 'repositories', repository, '_manifests'));

/** alice pulls the small image (manifest and every blob) through u2. */
async function pullSmall(): Promise<void> {
  expect((await get('/v2/u2/small/manifests/v1', alice)).status).toBe(200);
  for (const blob of upstreamBlobs()) expect((await get(`/v2/u2/small/blobs/${blob}`, alice)).status).toBe(200);
}
const upstreamBlobs = () => first.fixtures.small.blobs.map((b) => b.digest);

beforeAll(async () => {
  redis = await startRedis();
  [first, second] = await Promise.all([startUpstream(), startUpstream()]);
  dir = await tempDir('rule-change-');
  const htpasswd = join(dir.path, 'htpasswd');
  await writeFile(htpasswd, `${execFileSync('htpasswd', ['-nbB', '-C', '5', 'alice', ALICE]).toString().trim()}\n`);
  cache = await startCache(redis, [first.proxy.host, second.proxy.host], { PULLTHROUGH_HTPASSWD_FILE: htpasswd }, SECRETS);
  for (const [name, up] of [['up-creds', first], ['second-creds', second]] as const) {
    const set = await admin(`/credential-sets/${name}`, 'PUT', {
      loginServer: up.proxy.host,
      authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_USER', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_PASS' }],
    });
    expect(set.status).toBe(201);
  }
}, 120_000);
afterAll(async () => {
  await cache?.stop();
  await Promise.all([first?.stop(), second?.stop()]);
  await redis?.stop();
  await dir?.remove();
});

beforeEach(async () => {
  const res = await putRule(cache, privateRule(first));
  expect([200, 201]).toContain(res.status);
  await pullSmall();
  expect(holds('u2/small')).toBe(true);
  first.proxy.reset();
  second.proxy.reset();
});

test('deleting a private rule: its repositories forget what they held, and a repository no rule maps is never anonymous', async () => {
  expect((await admin('/cache-rules/private-u2', 'DELETE')).status).toBe(204);
  expect(holds('u2/small')).toBe(false);
  for (const path of ['/v2/u2/small/manifests/v1', `/v2/u2/small/blobs/${upstreamBlobs()[0]}`, '/v2/u2/small/tags/list']) {
    expect((await get(path)).status).toBe(401);
    expect((await get(path, alice)).status).toBe(404);
  }
  const catalog = (await (await get('/v2/_catalog')).json()) as { repositories: string[] };
  expect(catalog.repositories).not.toContain('u2/small');
  expect(first.proxy.requests).toEqual([]);
});

test('re-pointing a rule to another upstream: nothing cached through the old one is served, the new upstream is asked', async () => {
  const moved = { ...privateRule(second), credentialSetName: 'second-creds' };
  expect((await putRule(cache, moved)).status).toBe(200);
  expect(holds('u2/small')).toBe(false);
  expect((await get('/v2/u2/small/manifests/v1', alice)).status).toBe(200);
  const blob = upstreamBlobs()[0]!;
  const res = await get(`/v2/u2/small/blobs/${blob}`, alice);
  expect(res.status).toBe(200);
  expect(res.headers.get('x-cache')).toBe('revalidated');
  expect(first.proxy.requests).toEqual([]);
  const asked = second.proxy.requests.map((r) => `${r.method} ${r.path}`);
  expect(asked).toEqual(expect.arrayContaining(['GET /v2/fixtures/small/manifests/v1', `HEAD /v2/fixtures/small/blobs/${blob}`]));
});

test('a change that keeps the rule, upstream and credential set (here: its freshness) forgets nothing', async () => {
  expect((await putRule(cache, { ...privateRule(first), tagFreshnessSeconds: 3600 })).status).toBe(200);
  expect(holds('u2/small')).toBe(true);
  expect((await get('/v2/u2/small/manifests/v1', alice)).headers.get('x-cache')).toBe('hit');
  expect(first.proxy.requests).toEqual([]);
});

test('a more specific public rule taking one repository over makes only that repository forget', async () => {
  expect((await get('/v2/u2/multilayer/manifests/v1', alice)).status).toBe(200);
  const takeover = await putRule(cache, { name: 'public-small', sourceRepository: `${second.proxy.host}/fixtures/small`, targetRepository: 'u2/small' });
  expect(takeover.status).toBe(201);
  expect(holds('u2/small')).toBe(false);
  expect(holds('u2/multilayer')).toBe(true);
  // The public rule serves its own upstream's content anonymously; nothing from the private rule.
  const res = await get('/v2/u2/small/manifests/v1');
  expect(res.status).toBe(200);
  expect(res.headers.get('x-cache')).toBe('miss');
  expect((await admin('/cache-rules/public-small', 'DELETE')).status).toBe(204);
});
