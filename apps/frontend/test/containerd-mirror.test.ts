import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { faultFor, freePort, startContainerd, tempDir, writeHostsToml, type Containerd, type Fixture, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

// A node's containerd using the cache as a mirror for several upstream registries at once: the root
// URL with containerd's `?ns=<registry>` (hosts.toml per registry, one --hosts-dir), the
// override_path form, the generated hosts.toml round trip, fallbacks, and node credentials.

const SECRETS = { PULLTHROUGH_SECRET_UP_USER: 'someone', PULLTHROUGH_SECRET_UP_PASS: 'upstream-pass' };
const NODE = { user: 'node-pool', password: 'node-pool-pw-1' };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let redis: RedisServer;
/** Two upstream registries with different content, each with a rule: `a/*` and `b/*` (+ `whole-b/*`, registry-wide). */
let upA: Upstream;
let upB: Upstream;
/** A third registry whose rule needs a credential set (and so an authenticated client): `priv/*`. */
let upP: Upstream;
let cache: Cache;
let containerd: Containerd;
let work: TempDir;
/** `http://127.0.0.1:<port>` where nothing listens: a fallback `server` that cannot serve anything. */
let closed: string;

const admin = (path: string, init: RequestInit = {}) => fetch(`${cache.adminUrl}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } });
const data = (path: string, init: RequestInit = {}) => fetch(`${cache.dataUrl}${path}`, { ...init, headers: { accept: OCI_MANIFEST, ...(init.headers as Record<string, string>) } });
const errorOf = async (res: Response) => ((await res.json()) as { errors: Array<{ code: string; message: string; detail?: Record<string, unknown> }> }).errors[0]!;
const ns = (host: string) => `ns=${encodeURIComponent(host)}`;

beforeAll(async () => {
  redis = await startRedis();
  [upA, upB, upP] = await Promise.all([startUpstream({}, { seed: 'mirror-a' }), startUpstream({}, { seed: 'mirror-b' }), startUpstream({}, { seed: 'mirror-p' })]);
  work = await tempDir('mirror-');
  const htpasswd = join(work.path, 'htpasswd');
  await writeFile(htpasswd, `${execFileSync('htpasswd', ['-nbB', '-C', '5', NODE.user, NODE.password]).toString().trim()}\n`);
  const insecure = [upA, upB, upP].flatMap((u) => [u.proxy.host, u.registry.host]);
  cache = await startCache(redis, insecure, { PULLTHROUGH_HTPASSWD_FILE: htpasswd }, SECRETS);
  for (const [name, sourceRepository, targetRepository] of [
    ['mirror-a', `${upA.proxy.host}/fixtures/*`, 'a/*'],
    ['mirror-b', `${upB.proxy.host}/fixtures/*`, 'b/*'],
    ['mirror-whole-b', `${upB.proxy.host}/*`, 'whole-b/*'],
  ]) {
    expect((await putRule(cache, { name: name!, sourceRepository: sourceRepository!, targetRepository: targetRepository! })).status).toBe(201);
  }
  const set = await admin('/credential-sets/up-creds', {
    method: 'PUT',
    body: JSON.stringify({ loginServer: upP.proxy.host, authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_USER', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_UP_PASS' }] }),
  });
  expect(set.status).toBe(201);
  expect((await putRule(cache, { name: 'mirror-priv', sourceRepository: `${upP.proxy.host}/fixtures/*`, targetRepository: 'priv/*', credentialSetName: 'up-creds' })).status).toBe(201);
  containerd = await startContainerd();
  closed = `http://127.0.0.1:${await freePort()}`;
}, 180_000);
afterAll(async () => {
  await containerd?.stop();
  await cache?.stop();
  await Promise.all([upA, upB, upP].map((u) => u?.stop()));
  await redis?.stop();
  await work?.remove();
});

/** A fresh --hosts-dir. */
async function hostsDir(name: string): Promise<string> {
  return join(work.path, `${name}-${Math.random().toString(36).slice(2, 8)}`);
}

/** `ctr images pull` every platform through `hosts`, then what containerd holds. */
async function pull(hosts: string, ref: string): Promise<{ images: string; content: string }> {
  await containerd.ctr(['images', 'pull', '--hosts-dir', hosts, '--all-platforms', ref]);
  return { images: (await containerd.ctr(['images', 'ls'])).stdout.toString(), content: (await containerd.ctr(['content', 'ls', '-q'])).stdout.toString() };
}

function expectPulled(held: { images: string; content: string }, f: Fixture): void {
  expect(held.images).toContain(f.digest);
  for (const blob of f.blobs) expect(held.content).toContain(blob.digest);
  for (const child of f.manifests ?? []) expect(held.content).toContain(child.digest);
}

describe('root-URL mirror with ?ns= for two registries in one hosts dir', () => {
  test('ctr pulls a single-platform image and every platform of an index from each registry; the cache served them (a closed fallback), each blob reached its upstream once', async () => {
    const hosts = await hostsDir('ns');
    for (const up of [upA, upB]) await writeHostsToml(hosts, up.proxy.host, { server: closed, mirrors: [{ url: cache.dataUrl }] });
    for (const up of [upA, upB]) {
      up.proxy.reset();
      for (const f of [up.fixtures.small, up.fixtures.multiPlatform]) {
        expectPulled(await pull(hosts, `${up.proxy.host}/${f.repository}:${f.tag}`), f);
        for (const blob of f.blobs) expect([blob.digest, up.proxy.count({ kind: 'blob', method: 'GET', reference: blob.digest })]).toEqual([blob.digest, 1]);
      }
      // Containerd asked with ns, for the upstream path: the cache mapped it to that registry's rule.
      expect(up.proxy.count({ kind: 'manifest', repository: up.fixtures.small.repository })).toBeGreaterThan(0);
    }
    // Same paths, different registries, different content: each went to its own rule.
    expect(upA.fixtures.small.digest).not.toBe(upB.fixtures.small.digest);
    const a = await data(`/v2/a/small/manifests/v1`, { method: 'HEAD' });
    expect(a.headers.get('docker-content-digest')).toBe(upA.fixtures.small.digest);
    const b = await data(`/v2/fixtures/small/manifests/v1?${ns(upB.proxy.host)}`, { method: 'HEAD' });
    expect(b.headers.get('docker-content-digest')).toBe(upB.fixtures.small.digest);
  }, 180_000);

  test('a registry no rule covers: a 404 at once naming why; ctr completes the pull from the real fallback server', async () => {
    const uncovered = upA.registry.host; // the registry itself, not the proxy the rule names
    const started = process.hrtime.bigint();
    const res = await data(`/v2/fixtures/small/manifests/v1?${ns(uncovered)}`, { method: 'GET' });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    expect(res.status).toBe(404);
    const error = await errorOf(res);
    expect(error.code).toBe('MANIFEST_UNKNOWN');
    expect(error.detail).toMatchObject({ ns: uncovered, reason: 'no-rule' });
    expect(error.message).toContain(`no cache rule covers ${uncovered}/fixtures/small`);
    // eslint-disable-next-line no-console
    console.log(`uncovered ns answered 404 in ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(1000);

    const hosts = await hostsDir('fallback');
    await writeHostsToml(hosts, uncovered, { server: upA.registry.url, mirrors: [{ url: cache.dataUrl }] });
    upA.proxy.reset();
    const f = upA.fixtures.multiLayer;
    expectPulled(await pull(hosts, `${uncovered}/${f.repository}:${f.tag}`), f);
    expect(upA.proxy.requests).toEqual([]);
  }, 120_000);

  test('/v2/ and _catalog ignore ns', async () => {
    // htpasswd users exist, so an anonymous /v2/ is challenged with or without ns; the catalog lists what anonymous may pull.
    expect((await data('/v2/?ns=quay.io')).status).toBe((await data('/v2/')).status);
    const catalog = await data('/v2/_catalog?ns=quay.io');
    expect(catalog.status).toBe(200);
    expect(((await catalog.json()) as { repositories: string[] }).repositories).toEqual(expect.arrayContaining(['a/small', 'b/small']));
  });

  test('an invalid manifest reference through the mirror: 404 MANIFEST_UNKNOWN, the upstream never asked', async () => {
    upA.proxy.reset();
    for (const method of ['GET', 'HEAD']) {
      const res = await data(`/v2/fixtures/small/manifests/.INVALID_MANIFEST_NAME?${ns(upA.proxy.host)}`, { method });
      expect([method, res.status]).toEqual([method, 404]);
      if (method === 'GET') expect((await errorOf(res)).code).toBe('MANIFEST_UNKNOWN');
    }
    expect(upA.proxy.requests).toEqual([]);
  });

  test('an upstream that is down: the mirror answers 404 naming the rule and category (never a 5xx), so containerd moves on', async () => {
    await upB.proxy.refuseConnections();
    try {
      const res = await data(`/v2/fixtures/multilayer/manifests/v1?${ns(upB.proxy.host)}`);
      expect(res.status).toBe(404);
      const error = await errorOf(res);
      expect(error.code).toBe('MANIFEST_UNKNOWN');
      expect(error.detail).toMatchObject({ ns: upB.proxy.host, rule: 'mirror-b', category: 'upstream-unavailable', reason: 'UNAVAILABLE' });
      // Cached content is still served through the mirror while the upstream is down.
      const cached = await data(`/v2/fixtures/small/manifests/${upB.fixtures.small.digest}?${ns(upB.proxy.host)}`);
      expect(cached.status).toBe(200);
    } finally {
      await upB.proxy.acceptConnections();
    }
  });
});

describe('override_path form', () => {
  test('[host."<cache>/v2/whole-b"] with override_path = true: ctr pulls through the registry-wide rule (closed fallback)', async () => {
    const hosts = await hostsDir('override');
    await writeHostsToml(hosts, upB.proxy.host, { server: closed, mirrors: [{ url: `${cache.dataUrl}/v2/whole-b`, overridePath: true }] });
    upB.proxy.reset();
    const f = upB.fixtures.docker;
    expectPulled(await pull(hosts, `${upB.proxy.host}/${f.repository}:${f.tag}`), f);
    for (const blob of f.blobs) expect(upB.proxy.count({ kind: 'blob', method: 'GET', reference: blob.digest })).toBe(1);
    // The cache holds it under the rule's downstream name: served with no upstream request.
    upB.proxy.reset();
    const local = await data(`/v2/whole-b/${f.repository}/manifests/${f.digest}`, { headers: { accept: f.mediaType } });
    expect(local.status).toBe(200);
    expect(upB.proxy.requests).toEqual([]);
  }, 120_000);
});

describe('node credentials for a rule with a credential set', () => {
  test('anonymous: 401 with a challenge for the downstream repository; with a Basic header in hosts.toml ctr pulls (closed fallback)', async () => {
    upP.proxy.reset();
    const res = await data(`/v2/fixtures/small/manifests/v1?${ns(upP.proxy.host)}`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${cache.dataUrl}/token",service="pullthrough",scope="repository:priv/small:pull"`);
    expect(upP.proxy.requests).toEqual([]);

    const hosts = await hostsDir('creds');
    await writeHostsToml(hosts, upP.proxy.host, { server: closed, mirrors: [{ url: cache.dataUrl, headers: { Authorization: basic(NODE.user, NODE.password) } }] });
    const f = upP.fixtures.multiPlatform;
    expectPulled(await pull(hosts, `${upP.proxy.host}/${f.repository}:${f.tag}`), f);
  }, 120_000);
});

describe('GET /api/v1/mirror-config/containerd', () => {
  test('one file per upstream registry; the ns form by default; override_path only where a rule covers the whole registry; the credential stanza is a commented template', async () => {
    const res = await admin(`/mirror-config/containerd?cacheUrl=${encodeURIComponent(cache.dataUrl)}&form=override-path`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { cacheUrl: string; form: string; files: Array<{ path: string; namespace: string; form: string; rules: string[]; content: string }> };
    expect(body.cacheUrl).toBe(cache.dataUrl);
    const byPath = Object.fromEntries(body.files.map((f) => [f.path, f]));
    expect(Object.keys(byPath).sort()).toEqual([upA.proxy.host, upB.proxy.host, upP.proxy.host].map((h) => `${h}/hosts.toml`).sort());
    const b = byPath[`${upB.proxy.host}/hosts.toml`]!;
    expect(b).toMatchObject({ form: 'override-path', rules: ['mirror-b', 'mirror-whole-b'] });
    expect(b.content).toContain(`[host."${cache.dataUrl}/v2/whole-b"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n`);
    expect(b.content).toContain(`server = "http://${upB.proxy.host}"`);
    const a = byPath[`${upA.proxy.host}/hosts.toml`]!;
    expect(a.form).toBe('ns');
    expect(a.content).toContain('override_path needs a rule for the whole registry');
    expect(a.content).toContain(`[host."${cache.dataUrl}"]\n  capabilities = ["pull", "resolve"]\n`);
    // htpasswd users are configured: every file says where the node credential goes, never a real one.
    for (const f of body.files) {
      expect(f.content).toContain(`#  [host."${f.form === 'ns' ? cache.dataUrl : `${cache.dataUrl}/v2/whole-b`}".header]`);
      expect(f.content).toContain('#    Authorization = "Basic <base64 of user:password>"');
      expect(f.content).not.toContain(NODE.password);
      expect(f.content).not.toContain(SECRETS.PULLTHROUGH_SECRET_UP_PASS);
    }
  });

  test('round trip: the generated hosts.toml, written into a hosts dir, makes ctr pull through the cache', async () => {
    const res = await admin(`/mirror-config/containerd?host=${encodeURIComponent(upA.proxy.host)}&format=toml&cacheUrl=${encodeURIComponent(cache.dataUrl)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/toml/);
    const toml = await res.text();
    expect(toml).toContain(`server = "http://${upA.proxy.host}"`);
    const hosts = await hostsDir('generated');
    const file = await writeHostsToml(hosts, upA.proxy.host, toml);
    expect(await readFile(file, 'utf8')).toBe(toml);
    upA.proxy.reset();
    const f = upA.fixtures.docker;
    expectPulled(await pull(hosts, `${upA.proxy.host}/${f.repository}:${f.tag}`), f);
    // The cache fetched it (each blob once) and now holds it: a second look asks the upstream nothing.
    for (const blob of f.blobs) expect(upA.proxy.count({ kind: 'blob', method: 'GET', reference: blob.digest })).toBe(1);
    upA.proxy.reset();
    const local = await data(`/v2/a/docker/manifests/v1`, { method: 'HEAD', headers: { accept: f.mediaType } });
    expect([local.status, local.headers.get('docker-content-digest')]).toEqual([200, f.digest]);
    expect(upA.proxy.requests).toEqual([]);
  }, 120_000);

  test.each<[string, string, number, string]>([
    ['an unknown form', 'form=bogus', 400, 'form'],
    ['an unknown format', 'format=yaml', 400, 'format'],
    ['toml without a host', 'format=toml', 400, 'format'],
    ['a host that is not one', 'host=not%20a%20host', 400, 'host'],
    ['a host given twice', 'host=a.example&host=b.example', 400, 'host'],
    ['a cache URL with a path', `cacheUrl=${encodeURIComponent('http://cache.example/v2')}`, 400, 'cacheUrl'],
    ['a cache URL of another scheme', `cacheUrl=${encodeURIComponent('ftp://cache.example')}`, 400, 'cacheUrl'],
    ['a cache URL with credentials', `cacheUrl=${encodeURIComponent('http://u:p@cache.example')}`, 400, 'cacheUrl'],
    ['no cache URL and no public host', '', 400, 'cacheUrl'],
    ['an unknown parameter', 'hosts=x', 400, 'hosts'],
    ['an upstream no rule reads from', 'host=quay.io&cacheUrl=http%3A%2F%2Fcache.example', 404, 'host'],
  ])('%s (%s): %i problem naming %s', async (_what, query, status, field) => {
    const res = await admin(`/mirror-config/containerd?${query}`);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await res.json()) as { status: number; errors: Array<{ field: string; message: string }> };
    expect(problem.status).toBe(status);
    expect(problem.errors.map((e) => e.field)).toContain(field);
  });
});

describe('a slow upstream behind a mirror request', () => {
  let slow: Cache;
  beforeAll(async () => {
    slow = await startCache(redis, [upA.proxy.host], { PULLTHROUGH_MIRROR_MANIFEST_BUDGET_MS: '300' });
    expect((await putRule(slow, { name: 'slow-a', sourceRepository: `${upA.proxy.host}/fixtures/*`, targetRepository: 'slow/*' })).status).toBe(201);
  }, 60_000);
  afterAll(() => slow?.stop());

  test('a manifest not answered within the budget is a 404 naming the budget; the fetch goes on and lands in the cache', async () => {
    upA.proxy.delayMs = 1500;
    try {
      const started = Date.now();
      const res = await fetch(`${slow.dataUrl}/v2/fixtures/artifact/manifests/v1?${ns(upA.proxy.host)}`, { headers: { accept: '*/*' } });
      const ms = Date.now() - started;
      expect(res.status).toBe(404);
      expect((await errorOf(res)).detail).toMatchObject({ reason: 'mirror-budget', budgetMs: 300, ns: upA.proxy.host });
      expect(ms).toBeLessThan(1400);
    } finally {
      upA.proxy.delayMs = 0;
    }
    // Polls by digest: one the cache does not hold yet would be fetched, and that upstream answer is refused.
    const f = upA.fixtures.artifact;
    upA.proxy.setFault(faultFor({ reference: f.digest }, { status: 503 }));
    try {
      let status = 0;
      for (let i = 0; i < 60 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await fetch(`${slow.dataUrl}/v2/slow/artifact/manifests/${f.digest}`, { method: 'HEAD', headers: { accept: '*/*' } })).status;
      }
      expect(status).toBe(200);
    } finally {
      upA.proxy.setFault(null);
    }
  }, 30_000);
});
