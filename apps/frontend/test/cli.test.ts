import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, startTlsProxy, tempDir, type RedisServer, type TempDir, type TlsProxy } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, type Cache } from './harness.js';
import { runCli, type CliRun } from './cli-process.js';

// The built CLI (`node packages/cli/dist/main.js`) as its own process against the real frontend
// (real redis-server): what it shows is what the admin API holds, and the reverse.

let redis: RedisServer;
let cache: Cache;
let home: TempDir;
let tls: TlsProxy;
let env: Record<string, string>;

const cli = (args: string[], extra: Record<string, string> = {}, stdin?: string): Promise<CliRun> => runCli(args, { home: home.path, env: { ...env, ...extra }, ...(stdin !== undefined ? { stdin } : {}) });
const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
  const res = await fetch(`${cache.adminUrl}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, body: res.status === 204 ? undefined : ((await res.json()) as Record<string, any>) };
};
const json = (run: CliRun) => JSON.parse(run.stdout) as Record<string, any>;

beforeAll(async () => {
  redis = await startRedis();
  cache = await startCache(redis, []);
  home = await tempDir('cli-home-');
  tls = await startTlsProxy(cache.adminUrl);
  env = { PULLTHROUGH_CLI_URL: cache.adminUrl, PULLTHROUGH_CLI_TOKEN: ADMIN_TOKEN };
}, 60_000);

afterAll(async () => {
  await tls?.stop();
  await cache?.stop();
  await redis?.stop();
  await home?.remove();
});

describe('cache rules: the CLI and the API see the same state', () => {
  test('cache create maps every flag to the rule field the API takes; show/list -o json are the API bodies', async () => {
    const created = await cli([
      'cache', 'create', '-n', 'cli-rule', '-s', 'docker.io/library/*', '-t', 'hub/*',
      '--platforms', 'linux/amd64,linux/arm64', '--freshness', '2h', '--allow-repos', 'library/node', '--allow-tags', 'latest,>=1.25 <2',
      '--no-anonymous-pull', '--upstream-tag-not-found', 'serve-local', '--fallback-registries', 'mirror.gcr.io',
    ]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toMatch(/cache rule "cli-rule" created/);
    expect(created.stdout).toMatch(/source:\s+docker\.io\/library\/\*/);
    const stored = await api('/cache-rules/cli-rule');
    expect(stored).toEqual({
      status: 200,
      body: {
        name: 'cli-rule', sourceRepository: 'docker.io/library/*', targetRepository: 'hub/*', platforms: ['linux/amd64', 'linux/arm64'], tagFreshnessSeconds: 7200,
        upstreamTagNotFound: 'serve-local', anonymousPull: false, allow: { repositories: ['library/node'], tags: ['latest', '>=1.25 <2'] }, fallbackRegistries: ['mirror.gcr.io'],
      },
    });
    const shown = await cli(['cache', 'show', '-n', 'cli-rule', '-o', 'json']);
    expect(shown.code).toBe(0);
    expect(json(shown)).toEqual(stored.body);
    const listed = await cli(['cache', 'list', '--output', 'json']);
    expect(json(listed)).toEqual((await api('/cache-rules')).body);
  });

  test('a rule PUT through the API shows in the CLI table; cache update changes only what its flags name', async () => {
    expect((await putRule(cache, { name: 'api-rule', sourceRepository: 'docker.io/bitnami/nginx', targetRepository: 'bitnami/nginx', tagFreshnessSeconds: 60 })).status).toBe(201);
    const list = await cli(['cache', 'list']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+SOURCE\s+TARGET\s+CRED-SET\s+PLATFORMS\s+FRESHNESS\s+ANONYMOUS$/);
    expect(lines.find((l) => l.startsWith('api-rule'))?.split(/\s+/)).toEqual(['api-rule', 'docker.io/bitnami/nginx', 'bitnami/nginx', '-', 'pulled', '60', 'true']);
    expect(lines.find((l) => l.startsWith('cli-rule'))?.split(/\s+/).slice(0, 3)).toEqual(['cli-rule', 'docker.io/library/*', 'hub/*']);

    const updated = await cli(['cache', 'update', '-n', 'cli-rule', '--freshness', '0', '--unset', 'platforms,allow-tags', '--anonymous-pull']);
    expect(updated.code).toBe(0);
    expect(updated.stdout).toMatch(/cache rule "cli-rule" updated/);
    expect((await api('/cache-rules/cli-rule')).body).toEqual({
      name: 'cli-rule', sourceRepository: 'docker.io/library/*', targetRepository: 'hub/*', tagFreshnessSeconds: 0,
      upstreamTagNotFound: 'serve-local', anonymousPull: true, allow: { repositories: ['library/node'] }, fallbackRegistries: ['mirror.gcr.io'],
    });
  });

  test('cache delete removes it from the API; show of a missing rule exits 3', async () => {
    const deleted = await cli(['cache', 'delete', '-n', 'api-rule']);
    expect(deleted).toMatchObject({ code: 0, stdout: 'cache rule "api-rule" deleted\n' });
    expect((await api('/cache-rules/api-rule')).status).toBe(404);
    const missing = await cli(['cache', 'show', '-n', 'api-rule']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toBe('error: 404 Not Found: cache rule "api-rule" does not exist\n');
  });

  test('create refuses to replace an existing rule (exit 1) and leaves it as it was', async () => {
    const before = (await api('/cache-rules/cli-rule')).body;
    const again = await cli(['cache', 'create', '-n', 'cli-rule', '-s', 'quay.io/*', '-t', 'quay/*']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);
    expect((await api('/cache-rules/cli-rule')).body).toEqual(before);
  });
});

describe('errors and exit codes', () => {
  test("a validation error prints the API's field errors as field: message and exits 1", async () => {
    const bad = await cli(['cache', 'create', '-n', 'bad-rule', '-s', 'docker.io/library/*', '-t', 'hub-static', '--platforms', 'linux']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    const lines = bad.stderr.trim().split('\n');
    expect(lines[0]).toBe('error: 422 Unprocessable Entity: the cache rule is not valid');
    expect(lines).toContain('  platforms[0]: must look like os/arch or os/arch/variant in lowercase (e.g. linux/amd64, linux/arm/v7)');
    expect(lines).toContain('  targetRepository: wildcard on one side only: sourceRepository ends in /* but targetRepository does not');
    expect((await api('/cache-rules/bad-rule')).status).toBe(404);
  });

  test('bad flags exit 2 with the usage, before anything is sent', async () => {
    const missing = await cli(['cache', 'create', '-n', 'some-rule', '-s', 'docker.io/*']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('error: -t/--target-repo is required\nusage: pullthrough cache create [flags]  (--help for the flags)\n');
    const unknown = await cli(['cache', 'list', '--colour']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--colour'/);
    const duration = await cli(['cache', 'update', '-n', 'cli-rule', '--freshness', 'soon']);
    expect(duration.code).toBe(2);
    expect(duration.stderr).toMatch(/--freshness must be seconds or a duration/);
    expect((await cli(['cache', 'list', '-o', 'yaml'])).code).toBe(2);
    expect((await cli(['cache', 'frobnicate'])).code).toBe(2);
  });

  test('--help works for every command and exits 0', async () => {
    const help = await cli(['hydration', 'status', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: pullthrough hydration status <repo> <ref> \[flags\]/);
    expect(help.stdout).toMatch(/--wait/);
    const top = await cli(['--help']);
    expect(top.stdout).toMatch(/exit codes: 0 ok/);
  });

  test('a wrong token exits 4 and is never echoed, not even with --verbose', async () => {
    const wrong = 'wrong-token-7c1d9e0f2a3b';
    for (const run of [await cli(['cache', 'list', '--verbose'], { PULLTHROUGH_CLI_TOKEN: wrong }), await cli(['cache', 'list', '--token', wrong, '--verbose', '-o', 'json'])]) {
      expect(run.code).toBe(4);
      expect(run.stderr).toMatch(/^> GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/cache-rules$/m);
      expect(run.stderr).toMatch(/^> authorization: Bearer \[redacted\]$/m);
      expect(run.stderr).toMatch(/error: 401 Unauthorized/);
      expect(run.stdout + run.stderr).not.toContain(wrong);
    }
    const none = await cli(['cache', 'list'], { PULLTHROUGH_CLI_TOKEN: '' });
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/no token was sent: give --token, set PULLTHROUGH_CLI_TOKEN/);
    // The right token is not echoed by --verbose either.
    const right = await cli(['cache', 'list', '--verbose']);
    expect(right.code).toBe(0);
    expect(right.stdout + right.stderr).not.toContain(ADMIN_TOKEN);
  });

  test('an unreachable URL exits 5', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const run = await cli(['cache', 'list', '--url', url]);
    expect(run.code).toBe(5);
    expect(run.stderr).toBe(`error: cannot reach ${url}/api/v1/cache-rules: connection refused\n`);
  });
});

describe('config file', () => {
  test('a config file holding a token must be owner-only: refused otherwise, used once chmod 600', async () => {
    const dir = join(home.path, 'cfg');
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'config.json');
    await writeFile(path, JSON.stringify({ url: cache.adminUrl, token: ADMIN_TOKEN }));
    await chmod(path, 0o644);
    const refused = await cli(['cache', 'list', '--config', path], { PULLTHROUGH_CLI_URL: '', PULLTHROUGH_CLI_TOKEN: '' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(`error: config file ${path} holds a token but can be read by group or others (mode 0644): run chmod 600 ${path}\n`);
    expect(refused.stderr).not.toContain(ADMIN_TOKEN);
    await chmod(path, 0o600);
    const ok = await cli(['cache', 'list', '-o', 'json', '--config', path], { PULLTHROUGH_CLI_URL: '', PULLTHROUGH_CLI_TOKEN: '' });
    expect(ok.code).toBe(0);
    expect(json(ok)).toEqual((await api('/cache-rules')).body);
  });

  test('the default ~/.config/pullthrough/config.json is read; flags and env win over it', async () => {
    const dir = join(home.path, '.config', 'pullthrough');
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'config.json');
    const dead = `http://127.0.0.1:${await freePort()}`;
    await writeFile(path, JSON.stringify({ url: dead, token: ADMIN_TOKEN }), { mode: 0o600 });
    try {
      expect((await cli(['cache', 'list'], { PULLTHROUGH_CLI_URL: '', PULLTHROUGH_CLI_TOKEN: '' })).code).toBe(5);
      expect((await cli(['cache', 'list', '--url', cache.adminUrl], { PULLTHROUGH_CLI_URL: '', PULLTHROUGH_CLI_TOKEN: '' })).code).toBe(0);
      expect((await cli(['cache', 'list'], { PULLTHROUGH_CLI_TOKEN: '' })).code).toBe(0);
      const bad = await cli(['cache', 'list'], { PULLTHROUGH_CLI_TOKEN: 'wrong-token-from-env-55' });
      expect(bad.code).toBe(4);
    } finally {
      await writeFile(path, '{}');
    }
  });
});

describe('TLS', () => {
  test('https with a private CA: refused until --ca-file names it; --insecure only with a warning', async () => {
    const untrusted = await cli(['cache', 'list', '--url', tls.url]);
    expect(untrusted.code).toBe(5);
    expect(untrusted.stderr).toMatch(/cannot reach https:\/\/127\.0\.0\.1:\d+\/api\/v1\/cache-rules: TLS: .*not trusted \(use --ca-file\)/);
    const caPath = join(home.path, 'ca.pem');
    await writeFile(caPath, tls.ca);
    const trusted = await cli(['cache', 'list', '-o', 'json', '--url', tls.url, '--ca-file', caPath]);
    expect(trusted).toMatchObject({ code: 0, stderr: '' });
    expect(json(trusted)).toEqual((await api('/cache-rules')).body);
    const insecure = await cli(['cache', 'list', '--url', tls.url, '--insecure']);
    expect(insecure.code).toBe(0);
    expect(insecure.stderr).toMatch(/^warning: --insecure: the server certificate is not verified/);
  });
});

describe('credential sets, webhooks, health, upstreams, mirror config', () => {
  test('credential-set create/show/list/update/delete', async () => {
    const created = await cli(['credential-set', 'create', '-n', 'cli-login', '-l', 'ghcr.io', '-u', 'env:PULLTHROUGH_SECRET_GH_USER', '-p', 'env:PULLTHROUGH_SECRET_GH_PASS']);
    expect(created.code).toBe(0);
    const stored = (await api('/credential-sets/cli-login')).body!;
    expect(stored).toMatchObject({ name: 'cli-login', loginServer: 'ghcr.io', authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_GH_USER', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_GH_PASS' }] });
    expect(json(await cli(['credential-set', 'show', '-n', 'cli-login', '-o', 'json']))).toEqual(stored);
    expect(json(await cli(['credential-set', 'list', '-o', 'json']))).toEqual((await api('/credential-sets')).body);
    expect((await cli(['credential-set', 'update', '-n', 'cli-login', '-p', 'env:PULLTHROUGH_SECRET_GH_TOKEN'])).code).toBe(0);
    expect((await api('/credential-sets/cli-login')).body!.authCredentials).toEqual([{ name: 'Credential1', usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_GH_USER', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_GH_TOKEN' }]);
    const badRef = await cli(['credential-set', 'update', '-n', 'cli-login', '-p', 'env:HOME']);
    expect(badRef.code).toBe(1);
    expect(badRef.stderr).toMatch(/^ {2}authCredentials\[0\]\.passwordSecretIdentifier: /m);
    expect((await cli(['credential-set', 'delete', '-n', 'cli-login'])).code).toBe(0);
    expect((await api('/credential-sets/cli-login')).status).toBe(404);
  });

  test('webhook create/show/update/ping/deliveries/delete; the secret never comes back', async () => {
    const secretPath = join(home.path, 'hook-secret');
    const secret = 'cli-hook-secret-0123456789';
    await writeFile(secretPath, `${secret}\n`);
    const created = await cli(['webhook', 'create', '-n', 'cli-hook', '--uri', 'http://127.0.0.1:9/hook', '--actions', 'cache.hydrated,push', '--scope', 'hub/*', '--headers', 'X-Team=platform', '--secret-file', secretPath, '--verbose']);
    expect(created.code).toBe(0);
    expect(created.stdout + created.stderr).not.toContain(secret);
    const stored = (await api('/webhooks/cli-hook')).body!;
    expect(stored).toMatchObject({ name: 'cli-hook', serviceUri: 'http://127.0.0.1:9/hook', actions: ['cache.hydrated', 'push'], scope: 'hub/*', customHeaders: { 'X-Team': 'platform' }, status: 'enabled' });
    expect(json(await cli(['webhook', 'show', '-n', 'cli-hook', '-o', 'json']))).toEqual(stored);
    expect((await cli(['webhook', 'update', '-n', 'cli-hook', '--status', 'disabled'])).code).toBe(0);
    expect((await api('/webhooks/cli-hook')).body!.status).toBe('disabled');
    const ping = await cli(['webhook', 'ping', '-n', 'cli-hook', '-o', 'json']);
    expect(ping.code).toBe(0);
    expect(json(ping).eventId).toMatch(/\S/);
    expect(json(await cli(['webhook', 'deliveries', '-n', 'cli-hook', '-o', 'json']))).toEqual((await api('/webhooks/cli-hook/deliveries')).body);
    expect((await cli(['webhook', 'delete', '-n', 'cli-hook'])).code).toBe(0);
    expect((await cli(['webhook', 'ping', '-n', 'cli-hook'])).code).toBe(3);
  });

  test('health, upstreams and mirror-config containerd print what the API answers', async () => {
    const health = await cli(['health', '-o', 'json']);
    expect(json(health)).toEqual((await api('/health/cache-rules')).body);
    const table = await cli(['health']);
    expect(table.stdout).toMatch(/^cli-rule\s+unknown\s+registry-1\.docker\.io\s+closed\s+0\s+0\s+0\s+0\s+-$/m);
    expect(json(await cli(['health', 'cli-rule', '-o', 'json']))).toMatchObject({ name: 'cli-rule', state: 'unknown', upstream: 'registry-1.docker.io' });
    expect((await cli(['health', 'no-such-rule'])).code).toBe(3);
    expect(json(await cli(['upstreams', '-o', 'json']))).toEqual((await api('/upstreams')).body);
    const mirror = await cli(['mirror-config', 'containerd', '--cache-url', 'http://cache.example:5000', '-o', 'json']);
    const fromApi = await fetch(`${cache.adminUrl}/api/v1/mirror-config/containerd?cacheUrl=${encodeURIComponent('http://cache.example:5000')}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(json(mirror)).toEqual(await fromApi.json());
    const file = await cli(['mirror-config', 'containerd', '--registry', 'docker.io', '--cache-url', 'http://cache.example:5000']);
    expect(file.code).toBe(0);
    expect(file.stdout).toBe(json(mirror).files.find((f: { namespace: string }) => f.namespace === 'docker.io').content);
    const noRule = await cli(['mirror-config', 'containerd', '--registry', 'quay.io', '--cache-url', 'http://cache.example:5000']);
    expect(noRule.code).toBe(3);
    expect(noRule.stderr).toMatch(/^ {2}host: no cache rule has this upstream registry$/m);
  });
});
