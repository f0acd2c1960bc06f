import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { skopeoCopy, skopeoInspectRaw, tempDir, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

let redis: RedisServer;
let work: TempDir;

beforeAll(async () => {
  redis = await startRedis();
  work = await tempDir('auth-');
});
afterAll(async () => {
  await work?.remove();
  await redis?.stop();
});

/** A rules file with a credential set whose secrets are references (env: and file:), never values. */
async function rulesFile(upstream: Upstream, withCredentials: boolean): Promise<string> {
  const passwordFile = join(work.path, `password-${upstream.registry.auth}`);
  await writeFile(passwordFile, `${upstream.registry.password ?? ''}\n`, { mode: 0o600 });
  const path = join(work.path, `rules-${upstream.registry.auth}-${withCredentials}.yaml`);
  const lines = [
    'credentialSets:',
    '  - name: upstream-login',
    `    loginServer: ${upstream.proxy.host}`,
    '    authCredentials:',
    '      - usernameSecretIdentifier: env:PULLTHROUGH_SECRET_UPSTREAM_USER',
    `        passwordSecretIdentifier: file:${passwordFile}`,
    'cacheRules:',
    '  - name: private-upstream',
    `    sourceRepository: ${upstream.proxy.host}/fixtures/*`,
    '    targetRepository: private/*',
    ...(withCredentials ? ['    credentialSetName: upstream-login', '    anonymousPull: true'] : []),
  ];
  await writeFile(path, lines.join('\n') + '\n');
  return path;
}

async function pullSmall(cache: Cache, upstream: Upstream): Promise<void> {
  const dir = await tempDir('auth-pull-');
  try {
    await skopeoCopy(['--src-tls-verify=false', '--src-no-creds', `docker://${cache.host}/private/small:v1`, `dir:${dir.path}`]);
    const raw = await skopeoInspectRaw(`${cache.host}/private/small:v1`);
    expect(sha256(raw)).toBe(upstream.fixtures.small.digest);
  } finally {
    await dir.remove();
  }
}

describe.each([
  ['token auth, anonymous pull allowed (Docker Hub style)', { auth: 'token' as const, anonymousPull: true }, false],
  ['token auth with a credential set', { auth: 'token' as const }, true],
  ['basic auth with a credential set', { auth: 'basic' as const }, true],
])('upstream with %s', (_label, options, withCredentials) => {
  let upstream: Upstream;
  let cache: Cache;
  beforeAll(async () => {
    upstream = await startUpstream(options);
    const file = await rulesFile(upstream, withCredentials);
    // The password file lies in the test's own secrets directory, which it lists as the one allowed.
    cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_RULES_FILE: file, PULLTHROUGH_SECRET_FILE_DIRS: work.path }, { PULLTHROUGH_SECRET_UPSTREAM_USER: upstream.registry.username ?? '' });
    upstream.registry.tokenServer?.reset();
  }, 60_000);
  afterAll(async () => {
    await cache?.stop();
    await upstream?.stop();
  });

  test('skopeo pulls through the cache; the second pull makes no upstream request', async () => {
    await pullSmall(cache, upstream);
    expect(upstream.proxy.count({ method: 'GET', kind: 'manifest', status: 200 })).toBe(1);
    upstream.proxy.reset();
    await pullSmall(cache, upstream);
    expect(upstream.proxy.requests.length).toBe(0);
  });

  if (options.auth === 'token') {
    test('the pull-scoped token was fetched once and reused for the manifest and every blob', () => {
      expect(upstream.registry.tokenServer!.tokenRequests).toBe(1);
    });
  }
});

describe('an upstream that needs credentials, without a credential set', () => {
  let upstream: Upstream;
  let cache: Cache;
  beforeAll(async () => {
    upstream = await startUpstream({ auth: 'basic' });
    cache = await startCache(redis, [upstream.proxy.host], { PULLTHROUGH_RULES_FILE: await rulesFile(upstream, false), PULLTHROUGH_SECRET_FILE_DIRS: work.path });
  }, 60_000);
  afterAll(async () => {
    await cache?.stop();
    await upstream?.stop();
  });

  test('the pull fails with DENIED naming the rule and the upstream-auth category', async () => {
    const res = await fetch(`${cache.dataUrl}/v2/private/small/manifests/v1`);
    expect(res.status).toBe(403);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string; detail: Record<string, string> }> };
    expect(body.errors[0]!.code).toBe('DENIED');
    expect(body.errors[0]!.message).toContain('private-upstream');
    expect(body.errors[0]!.detail).toMatchObject({ rule: 'private-upstream', category: 'upstream-auth' });
  });
});
