import { execFileSync } from 'node:child_process';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyRing, TokenService } from '@pullthrough/auth';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { skopeoCopy, startContainerd, tempDir, waitUntil, writeHostsToml, type Containerd, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { controlSigningKeyStore } from '../src/access/signing-key-store.js';
import { memoryLogger, type MemoryLog } from './memory-logger.js';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

// Client authentication on the data port, end to end: htpasswd users made by the real htpasswd,
// our token endpoint, skopeo and containerd's ctr as clients, against a real upstream registry.

const PASSWORDS = { alice: 'alice-pw-1', 'pool-a': 'pool-a-pw-2', bob: 'bob-pw-3' } as const;
const SECRETS = { PULLTHROUGH_SECRET_UP_USER: 'someone', PULLTHROUGH_SECRET_UP_PASS: 'upstream-pass' };
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let redis: RedisServer;
let upstream: Upstream;
let dir: TempDir;
let htpasswd: string;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const admin = (cache: Cache, path: string, method = 'GET', body?: unknown) =>
  fetch(`${cache.adminUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const get = (cache: Cache, path: string, authorization?: string, method = 'GET') =>
  fetch(`${cache.dataUrl}${path}`, { method, headers: { accept: OCI_MANIFEST, ...(authorization ? { authorization } : {}) } });
const errorCode = async (res: Response) => ((await res.json()) as { errors: Array<{ code: string }> }).errors[0]?.code;
/** `WWW-Authenticate` parameters of a Bearer challenge. */
function challenge(res: Response): Record<string, string> {
  const header = res.headers.get('www-authenticate') ?? '';
  expect(header.startsWith('Bearer ')).toBe(true);
  return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

/** Every line the cache with users logged, raw and parsed. */
const log = memoryLogger();
const { raw, lines } = log;

/** A cache with `pub/*` (anonymous) and `priv/*` (credential set) over the same upstream. */
async function cacheWith(env: Record<string, string>, privRule: Record<string, unknown> = {}, logger?: MemoryLog['logger']): Promise<Cache> {
  const cache = await startCache(redis, [upstream.proxy.host], env, SECRETS, undefined, logger);
  const set = await admin(cache, '/credential-sets/up-creds', 'PUT', {
    loginServer: upstream.proxy.host,
    authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_USER', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_PASS' }],
  });
  expect(set.status).toBe(201);
  expect((await putRule(cache, { name: 'pub-fixtures', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'pub/*' })).status).toBe(201);
  const priv = await putRule(cache, { name: 'priv-fixtures', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'priv/*', credentialSetName: 'up-creds', ...privRule });
  expect(priv.status).toBe(201);
  return cache;
}

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  dir = await tempDir('client-auth-');
  htpasswd = join(dir.path, 'htpasswd');
  const lines = Object.entries(PASSWORDS).map(([u, p]) => execFileSync('htpasswd', ['-nbB', '-C', '5', u, p]).toString().trim());
  await writeFile(htpasswd, `${lines.join('\n')}\n`);
}, 120_000);
afterAll(async () => {
  await upstream?.stop();
  await redis?.stop();
  await dir?.remove();
});

describe('without users (the embedded default)', () => {
  let cache: Cache;
  beforeAll(async () => {
    cache = await cacheWith({});
  }, 60_000);
  afterAll(() => cache?.stop());

  test('GET /v2/ is open; a public rule pulls anonymously; a rule with a credential set refuses anonymous clients with a challenge and never asks the upstream', async () => {
    expect((await get(cache, '/v2/')).status).toBe(200);
    expect((await get(cache, '/v2/pub/small/manifests/v1')).status).toBe(200);
    // The public image's config is fetched ahead in the background: let that end first.
    const config = upstream.fixtures.small.blobs.find((b) => b.mediaType.includes('config'))!;
    await waitUntil(async () => upstream.proxy.requests.some((r) => r.reference === config.digest && r.endedAt !== undefined), { what: 'the public config fetched ahead', timeoutMs: 10_000 });
    upstream.proxy.reset();
    const res = await get(cache, '/v2/priv/small/manifests/v1');
    expect(res.status).toBe(401);
    expect(challenge(res)).toEqual({ realm: `${cache.dataUrl}/token`, service: 'pullthrough', scope: 'repository:priv/small:pull' });
    expect(await errorCode(res)).toBe('UNAUTHORIZED');
    for (const path of ['/v2/priv/small/tags/list', `/v2/priv/small/blobs/${upstream.fixtures.small.blobs[0]!.digest}`]) {
      expect((await get(cache, path)).status).toBe(401);
    }
    expect(upstream.proxy.requests).toEqual([]);
    const catalog = (await (await get(cache, '/v2/_catalog')).json()) as { repositories: string[] };
    expect(catalog.repositories).toEqual(['pub/small']);
  });

  test('an anonymous token asked for a private scope grants nothing', async () => {
    const res = await get(cache, '/token?service=pullthrough&scope=repository:priv/small:pull&scope=repository:pub/small:pull');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string; access_token: string; expires_in: number; refresh_token?: string };
    expect(body.expires_in).toBe(300);
    expect(body.refresh_token).toBeUndefined();
    const claims = JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) as { access: unknown };
    expect(claims.access).toEqual([{ type: 'repository', name: 'pub/small', actions: ['pull'] }]);
    expect((await get(cache, '/v2/priv/small/manifests/v1', `Bearer ${body.token}`)).status).toBe(401);
    expect((await get(cache, '/v2/pub/small/manifests/v1', `Bearer ${body.token}`)).status).toBe(200);
  });
});

test('a rule with a credential set and anonymousPull: true is public by the operator\'s choice; PULLTHROUGH_ANONYMOUS_PULL=false turns it off again', async () => {
  const open = await cacheWith({}, { anonymousPull: true });
  try {
    expect((await get(open, '/v2/priv/small/manifests/v1')).status).toBe(200);
  } finally {
    await open.stop();
  }
  const closed = await cacheWith({ PULLTHROUGH_ANONYMOUS_PULL: 'false' }, { anonymousPull: true });
  try {
    expect((await get(closed, '/v2/')).status).toBe(401);
    expect((await get(closed, '/v2/pub/small/manifests/v1')).status).toBe(401);
    expect((await get(closed, '/v2/priv/small/manifests/v1')).status).toBe(401);
  } finally {
    await closed.stop();
  }
}, 60_000);

describe('with htpasswd users and an access policy', () => {
  let cache: Cache;
  beforeAll(async () => {
    cache = await cacheWith({ PULLTHROUGH_HTPASSWD_FILE: htpasswd }, {}, log.logger);
    const policy = await admin(cache, '/access-policy', 'PUT', {
      groups: { nodes: ['pool-a'] },
      grants: [
        { groups: ['nodes'], repositories: ['priv/*', 'pub/*'], actions: ['pull'] },
        { users: ['alice'], repositories: ['*'], actions: ['pull', 'push'] },
      ],
    });
    expect(policy.status).toBe(200);
  }, 60_000);
  afterAll(() => cache?.stop());

  test('GET /v2/ challenges anonymous clients and lets users in; a wrong password is 401', async () => {
    const anon = await get(cache, '/v2/');
    expect(anon.status).toBe(401);
    expect(challenge(anon)).toEqual({ realm: `${cache.dataUrl}/token`, service: 'pullthrough' });
    expect((await get(cache, '/v2/', basic('alice', PASSWORDS.alice))).status).toBe(200);
    expect((await get(cache, '/v2/', basic('alice', 'wrong'))).status).toBe(401);
    expect((await get(cache, '/v2/', basic('nobody', PASSWORDS.alice))).status).toBe(401);
    expect((await get(cache, '/v2/', 'Bearer not.a.token')).status).toBe(401);
  });

  test('Basic on /v2/*: a permitted user pulls, a user without a grant gets 403 DENIED', async () => {
    expect((await get(cache, '/v2/priv/small/manifests/v1', basic('pool-a', PASSWORDS['pool-a']))).status).toBe(200);
    const bob = await get(cache, '/v2/priv/small/manifests/v1', basic('bob', PASSWORDS.bob));
    expect(bob.status).toBe(403);
    expect(await errorCode(bob)).toBe('DENIED');
    // bob may still pull what anonymous clients may
    expect((await get(cache, '/v2/pub/small/manifests/v1', basic('bob', PASSWORDS.bob))).status).toBe(200);
  });

  test('token flow: a token for A is refused on B and for push; a pull-only user pushing is DENIED', async () => {
    const res = await get(cache, '/token?service=pullthrough&scope=repository:priv/small:pull,push', basic('pool-a', PASSWORDS['pool-a']));
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const bearer = `Bearer ${token}`;
    expect((await get(cache, '/v2/priv/small/manifests/v1', bearer)).status).toBe(200);
    const other = await get(cache, '/v2/priv/multilayer/manifests/v1', bearer);
    expect(other.status).toBe(401);
    expect(challenge(other)).toMatchObject({ scope: 'repository:priv/multilayer:pull', error: 'insufficient_scope' });
    const push = await get(cache, '/v2/priv/small/blobs/uploads/', bearer, 'POST');
    expect(push.status).toBe(401);
    expect(challenge(push)).toMatchObject({ scope: 'repository:priv/small:push', error: 'insufficient_scope' });
    const basicPush = await get(cache, '/v2/priv/small/blobs/uploads/', basic('pool-a', PASSWORDS['pool-a']), 'POST');
    expect(basicPush.status).toBe(403);
    // alice may push: she passes authorization and meets the rule's push policy (priv/* does not allow pushes)
    const alicePush = await get(cache, '/v2/priv/small/blobs/uploads/', basic('alice', PASSWORDS.alice), 'POST');
    expect(alicePush.status).toBe(403);
    expect(((await alicePush.json()) as { errors: Array<{ detail: unknown }> }).errors[0]?.detail).toEqual({ repository: 'priv/small', rule: 'priv-fixtures' });
    // ...and may push where no rule maps
    expect((await get(cache, '/v2/alice/own/blobs/uploads/', basic('alice', PASSWORDS.alice), 'POST')).status).toBe(202);
    expect((await get(cache, '/token?scope=repository:priv/small:pull', basic('pool-a', 'wrong'))).status).toBe(401);
    expect((await get(cache, '/token?service=elsewhere&scope=repository:priv/small:pull', basic('pool-a', PASSWORDS['pool-a']))).status).toBe(400);
  });

  test('an expired token is refused with invalid_token', async () => {
    // A token signed with this cache's own current key, an hour ago (lifetime 300 s).
    const ring = new KeyRing(controlSigningKeyStore(new RegistryStore(new FilesystemDriver(cache.dataDir))), { rotationMs: 168 * 3600_000, maxTokenLifetimeMs: 7 * 86400_000 });
    await ring.refresh();
    const past = new TokenService(ring, { service: 'pullthrough', issuer: 'pullthrough', accessTtlSeconds: 300, refreshTtlSeconds: 600, now: () => Date.now() - 3600_000 });
    const old = past.issueAccess('pool-a', [{ type: 'repository', name: 'priv/small', actions: ['pull'] }]);
    const res = await get(cache, '/v2/priv/small/manifests/v1', `Bearer ${old.token}`);
    expect(res.status).toBe(401);
    expect(challenge(res).error).toBe('invalid_token');
  });

  test('the signing key is kept owner-only in the control area', async () => {
    const dir = join(cache.dataDir, 'control', 'token-signing-keys');
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    expect((await stat(join(dir, files[0]!))).mode & 0o777).toBe(0o600);
  });

  test('POST /token: password grant with a refresh token, then the refresh grant (as containerd and docker do)', async () => {
    const form = (fields: Record<string, string>) =>
      fetch(`${cache.dataUrl}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
    const first = await form({ grant_type: 'password', username: 'pool-a', password: PASSWORDS['pool-a'], service: 'pullthrough', scope: 'repository:priv/small:pull repository:priv/docker:pull', client_id: 'containerd-client', access_type: 'offline' });
    expect(first.status).toBe(200);
    const one = (await first.json()) as { access_token: string; refresh_token: string; scope: string };
    expect(one.scope).toBe('repository:priv/small:pull repository:priv/docker:pull');
    expect((await get(cache, '/v2/priv/docker/manifests/v1', `Bearer ${one.access_token}`)).status).not.toBe(401);
    const again = await form({ grant_type: 'refresh_token', refresh_token: one.refresh_token, service: 'pullthrough', scope: 'repository:priv/multilayer:pull', client_id: 'docker' });
    expect(again.status).toBe(200);
    const two = (await again.json()) as { access_token: string; refresh_token?: string };
    expect(two.refresh_token).toBeUndefined();
    expect((await get(cache, '/v2/priv/multilayer/manifests/v1', `Bearer ${two.access_token}`)).status).toBe(200);
    expect((await form({ grant_type: 'refresh_token', refresh_token: one.access_token })).status).toBe(401);
    expect((await form({ grant_type: 'password', username: 'pool-a', password: 'wrong' })).status).toBe(401);
    expect((await form({ grant_type: 'client_credentials' })).status).toBe(400);
  });

  test('_catalog and tags/list show only what the caller may pull', async () => {
    expect((await get(cache, '/v2/pub/multilayer/manifests/v1')).status).toBe(200);
    const names = async (authorization?: string) => ((await (await get(cache, '/v2/_catalog', authorization)).json()) as { repositories: string[] }).repositories;
    expect(await names()).toEqual(['pub/multilayer', 'pub/small']);
    expect(await names(basic('bob', PASSWORDS.bob))).toEqual(['pub/multilayer', 'pub/small']);
    expect(await names(basic('pool-a', PASSWORDS['pool-a']))).toEqual(expect.arrayContaining(['priv/small', 'priv/docker', 'priv/multilayer', 'pub/small']));
    expect((await get(cache, '/v2/priv/small/tags/list')).status).toBe(401);
    expect((await get(cache, '/v2/priv/small/tags/list', basic('pool-a', PASSWORDS['pool-a']))).status).toBe(200);
  });

  test('every refusal is one audit line (who, what, where from, why), and no password or token is ever logged', async () => {
    const requestId = 'audit-check-1';
    const res = await fetch(`${cache.dataUrl}/v2/priv/small/manifests/v1`, { headers: { authorization: basic('bob', PASSWORDS.bob), 'x-request-id': requestId } });
    expect(res.status).toBe(403);
    const denied = lines.filter((l) => l.audit === true && l.requestId === requestId);
    expect(denied).toEqual([
      expect.objectContaining({
        event: 'access.denied',
        plane: 'data',
        actor: { kind: 'user', subject: 'bob' },
        method: 'GET',
        route: '/v2/:name/manifests/:reference',
        action: 'pull',
        target: 'priv/small',
        status: 403,
        outcome: 'denied',
        reason: 'not-permitted',
        address: expect.stringMatching(/127\.0\.0\.1/),
      }),
    ]);
    await get(cache, '/token?scope=repository:priv/small:pull', basic('pool-a', 'a-wrong-password'));
    expect(lines).toContainEqual(expect.objectContaining({ event: 'access.denied', route: '/token', reason: 'bad-credentials', status: 401 }));
    expect(lines.filter((l) => l.event === 'access.denied' && l.reason === 'no-credentials').length).toBeGreaterThan(0);
    for (const line of raw) {
      for (const secret of [...Object.values(PASSWORDS), 'a-wrong-password', Buffer.from(`bob:${PASSWORDS.bob}`).toString('base64')]) expect(line).not.toContain(secret);
      expect(line).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/); // no JWT
    }
  });

  test('the access policy is validated field by field on the admin API', async () => {
    const bad = await admin(cache, '/access-policy', 'PUT', { grants: [{ users: ['x'], repositories: ['../etc'], actions: ['pull'] }] });
    expect(bad.status).toBe(422);
    const problem = (await bad.json()) as { errors: Array<{ field: string }> };
    expect(problem.errors.map((e) => e.field)).toEqual(['grants[0].repositories[0]']);
    const current = (await (await admin(cache, '/access-policy')).json()) as { default: boolean; accessPolicy: { groups: unknown } };
    expect(current.default).toBe(false);
    expect(current.accessPolicy.groups).toEqual({ nodes: ['pool-a'] });
  });

  test('skopeo: right credentials pull, a wrong password and anonymous are refused on the private rule, the public one stays anonymous', async () => {
    const out = await tempDir('skopeo-auth-');
    try {
      const src = (repo: string) => `docker://${cache.host}/${repo}:v1`;
      await skopeoCopy(['--src-tls-verify=false', '--src-creds', `pool-a:${PASSWORDS['pool-a']}`, src('priv/small'), `dir:${join(out.path, 'a')}`]);
      await expect(skopeoCopy(['--src-tls-verify=false', '--src-creds', 'pool-a:wrong', src('priv/small'), `dir:${join(out.path, 'b')}`])).rejects.toThrow(/unauthorized|401/i);
      await expect(skopeoCopy(['--src-tls-verify=false', '--src-no-creds', src('priv/small'), `dir:${join(out.path, 'c')}`])).rejects.toThrow(/unauthorized|401|denied/i);
      await skopeoCopy(['--src-tls-verify=false', '--src-no-creds', src('pub/small'), `dir:${join(out.path, 'd')}`]);
    } finally {
      await out.remove();
    }
  }, 60_000);

  test('skopeo with a bearer token: the repository it was issued for pulls; a token for another repository and an expired one are refused', async () => {
    const out = await tempDir('skopeo-token-');
    try {
      const res = await get(cache, '/token?service=pullthrough&scope=repository:priv/small:pull', basic('pool-a', PASSWORDS['pool-a']));
      const { token } = (await res.json()) as { token: string };
      const copy = (tok: string, repo: string, to: string) => skopeoCopy(['--src-tls-verify=false', '--src-registry-token', tok, `docker://${cache.host}/${repo}:v1`, `dir:${join(out.path, to)}`]);
      await copy(token, 'priv/small', 'a');
      await expect(copy(token, 'priv/multilayer', 'b')).rejects.toThrow(/unauthorized|401|denied/i);
      const ring = new KeyRing(controlSigningKeyStore(new RegistryStore(new FilesystemDriver(cache.dataDir))), { rotationMs: 168 * 3600_000, maxTokenLifetimeMs: 7 * 86400_000 });
      await ring.refresh();
      const past = new TokenService(ring, { service: 'pullthrough', issuer: 'pullthrough', accessTtlSeconds: 300, refreshTtlSeconds: 600, now: () => Date.now() - 3600_000 });
      const expired = past.issueAccess('pool-a', [{ type: 'repository', name: 'priv/small', actions: ['pull'] }]).token;
      await expect(copy(expired, 'priv/small', 'c')).rejects.toThrow(/unauthorized|401|denied/i);
    } finally {
      await out.remove();
    }
  }, 60_000);

  describe('containerd with a node credential in hosts.toml', () => {
    let containerd: Containerd;
    let hosts: TempDir;
    beforeAll(async () => {
      containerd = await startContainerd();
      hosts = await tempDir('hosts-');
    }, 60_000);
    afterAll(async () => {
      await containerd?.stop();
      await hosts?.remove();
    });

    const writeHosts = (authorization?: string) =>
      writeHostsToml(hosts.path, cache.host, { server: `http://${cache.host}`, mirrors: [{ url: `http://${cache.host}`, ...(authorization ? { headers: { Authorization: authorization } } : {}) }] });

    test('the injected Basic header pulls the private rule; without it the pull is refused', async () => {
      const ref = `${cache.host}/priv/multiplatform:v1`;
      await writeHosts();
      await expect(containerd.ctr(['images', 'pull', '--hosts-dir', hosts.path, '--all-platforms', ref])).rejects.toThrow(/pull access denied|401|unauthorized/i);
      await writeHosts(basic('pool-a', PASSWORDS['pool-a']));
      await containerd.ctr(['images', 'pull', '--hosts-dir', hosts.path, '--all-platforms', ref]);
      expect((await containerd.ctr(['images', 'ls'])).stdout.toString()).toContain(upstream.fixtures.multiPlatform.digest);
    }, 90_000);
  });
});
