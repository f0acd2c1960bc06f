import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CACHE_RULES_KIND } from '@pullthrough/cache-rules';
import { CREDENTIAL_SETS_KIND } from '@pullthrough/credentials';
import { tempDir, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, type Cache } from './harness.js';

// A credential set's secrets go only to its loginServer, from references the operator allows:
// refused at save time with field-level problems, and again at use time (pull, verify, hydration).

type Problem = { status: number; title: string; detail?: string; errors?: Array<{ field: string; message: string }> };

const USER = 'binding-user-7c1e';
const PASSWORD = 'binding-password-44d0a9';

/** An upstream that wants Basic credentials: records every Authorization header it is sent. */
interface RecordingUpstream {
  host: string;
  requests: Array<{ path: string; authorization?: string }>;
  close(): Promise<void>;
}
async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const requests: RecordingUpstream['requests'] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    req.resume();
    requests.push({ path: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    res.writeHead(401, { 'www-authenticate': 'Basic realm="recording"', 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let redis: RedisServer;
let work: TempDir;
let secretsDir: string;
let outsideDir: string;
let upstream: RecordingUpstream;
let elsewhere: RecordingUpstream;
let cache: Cache;

beforeAll(async () => {
  redis = await startRedis();
  work = await tempDir('binding-');
  secretsDir = join(work.path, 'secrets');
  outsideDir = join(work.path, 'outside');
  await mkdir(secretsDir);
  await mkdir(outsideDir);
  await writeFile(join(secretsDir, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
  await writeFile(join(outsideDir, 'shadow'), 'not-a-registry-password\n');
  await symlink(join(outsideDir, 'shadow'), join(secretsDir, 'escape'));
  upstream = await startRecordingUpstream();
  elsewhere = await startRecordingUpstream();
  cache = await startCache(
    redis,
    [upstream.host, elsewhere.host],
    { PULLTHROUGH_SECRET_FILE_DIRS: secretsDir, PULLTHROUGH_WEBHOOK_ALLOW_PRIVATE: 'true' },
    { PULLTHROUGH_SECRET_USER: USER, PULLTHROUGH_ADMIN_TOKEN: ADMIN_TOKEN },
  );
}, 60_000);
afterAll(async () => {
  await cache?.stop();
  await upstream?.close();
  await elsewhere?.close();
  await work?.remove();
  await redis?.stop();
});

const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${cache.adminUrl}/api/v1/${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
const putSet = (name: string, body: Record<string, unknown>) => admin(`credential-sets/${name}`, { method: 'PUT', body: JSON.stringify(body) });
const creds = (user: string, password: string) => ({ authCredentials: [{ name: 'Credential1', usernameSecretIdentifier: user, passwordSecretIdentifier: password }] });
const goodSet = (loginServer: string) => ({ loginServer, ...creds('env:PULLTHROUGH_SECRET_USER', `file:${join(secretsDir, 'password')}`) });

async function problem(res: Response, status: number): Promise<Problem> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await res.json()) as Problem;
}

describe('secret references are limited to what the operator allows (save time)', () => {
  test.each<[string, string, string, string]>([
    ['file:/etc/shadow', 'env:PULLTHROUGH_SECRET_USER', 'file:/etc/shadow', 'authCredentials[0].passwordSecretIdentifier'],
    ['a .. path out of the allowed dir', 'env:PULLTHROUGH_SECRET_USER', 'file:/x/../etc/shadow', 'authCredentials[0].passwordSecretIdentifier'],
    ['env: outside the prefix', 'env:PULLTHROUGH_ADMIN_TOKEN', 'file:/etc/hostname', 'authCredentials[0].usernameSecretIdentifier'],
    ['a Key Vault URI on another host', 'env:PULLTHROUGH_SECRET_USER', 'https://evil.example/secrets/pw', 'authCredentials[0].passwordSecretIdentifier'],
  ])('%s is refused with the field named, and nothing is stored', async (_label, user, password, field) => {
    const body = await problem(await putSet('refused-set', { loginServer: upstream.host, ...creds(user, password) }), 422);
    expect(body.errors?.map((e) => e.field)).toContain(field);
    expect(JSON.stringify(body)).not.toContain('/etc/shadow');
    expect((await admin('credential-sets/refused-set')).status).toBe(404);
  });

  test('a symlink inside the allowed dir that points at a file outside it is refused (real path checked, file not read)', async () => {
    const body = await problem(await putSet('symlink-set', { loginServer: upstream.host, ...creds('env:PULLTHROUGH_SECRET_USER', `file:${join(secretsDir, 'escape')}`) }), 422);
    expect(body.errors).toEqual([{ field: 'authCredentials[0].passwordSecretIdentifier', message: expect.stringMatching(/PULLTHROUGH_SECRET_FILE_DIRS/) }]);
    expect(JSON.stringify(body)).not.toContain(work.path);
  });

  test('a symlink swapped in after save is refused when the secret is read: the pull names the set and field, never the path', async () => {
    await writeFile(join(secretsDir, 'later'), 'fine-for-now\n');
    expect((await putSet('swapped-set', { loginServer: upstream.host, ...creds('env:PULLTHROUGH_SECRET_USER', `file:${join(secretsDir, 'later')}`) })).status).toBe(201);
    expect((await putRule(cache, { name: 'swapped-rule', sourceRepository: `${upstream.host}/swapped/*`, targetRepository: 'swapped/*', credentialSetName: 'swapped-set', anonymousPull: true })).status).toBe(201);
    // Replaced, after the save, by a link to a file outside the allowed dir.
    await rm(join(secretsDir, 'later'));
    await symlink(join(outsideDir, 'shadow'), join(secretsDir, 'later'));
    const before = upstream.requests.length;
    const res = await fetch(`${cache.dataUrl}/v2/swapped/app/manifests/v1`);
    expect(res.status).toBe(502);
    const text = await res.text();
    const error = (JSON.parse(text) as { errors: Array<{ code: string; message: string; detail: Record<string, unknown> }> }).errors[0]!;
    expect(error.detail).toMatchObject({ rule: 'swapped-rule', category: 'credential-lookup', credentialSet: 'swapped-set', field: 'authCredentials[0].passwordSecretIdentifier', reason: 'reference-not-allowed' });
    expect(text).not.toContain(work.path);
    expect(text).not.toContain('not-a-registry-password');
    expect(upstream.requests.slice(before).every((r) => r.authorization === undefined)).toBe(true);
  });

  test('an allowed set is stored and read back with its references', async () => {
    const res = await putSet('good-set', goodSet(upstream.host));
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name: 'good-set', loginServer: upstream.host, authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_USER' }] });
  });
});

describe('a rule may use a credential set only for the set\'s loginServer', () => {
  test('a rule for another registry naming the set is refused on credentialSetName, naming both hosts', async () => {
    expect((await putSet('ghcr-login', { ...goodSet('ghcr.io') })).status).toBe(201);
    const res = await putRule(cache, { name: 'wrong-registry', sourceRepository: `${upstream.host}/team/*`, targetRepository: 'wrong/*', credentialSetName: 'ghcr-login' });
    const body = await problem(res, 422);
    expect(body.errors).toEqual([{ field: 'credentialSetName', message: expect.stringContaining('ghcr.io') }]);
    expect(body.errors![0]!.message).toContain(upstream.host);
    expect((await admin('cache-rules/wrong-registry')).status).toBe(404);
  });

  test('Docker Hub names are one registry: a docker.io set serves an index.docker.io rule; case does not matter, ports do', async () => {
    expect((await putSet('hub-login', goodSet('docker.io'))).status).toBe(201);
    expect((await putRule(cache, { name: 'hub-alias', sourceRepository: 'index.docker.io/library/*', targetRepository: 'hub/*', credentialSetName: 'hub-login' })).status).toBe(201);
    expect((await putSet('ghcr-upper', goodSet('GHCR.IO'))).status).toBe(201);
    expect((await putRule(cache, { name: 'ghcr-lower', sourceRepository: 'ghcr.io/org/*', targetRepository: 'ghcr-org/*', credentialSetName: 'ghcr-upper' })).status).toBe(201);
    const port = await putRule(cache, { name: 'ghcr-port', sourceRepository: 'ghcr.io:5000/org/*', targetRepository: 'ghcr-port/*', credentialSetName: 'ghcr-upper' });
    expect((await problem(port, 422)).errors?.[0]?.field).toBe('credentialSetName');
  });

  test("changing a set's loginServer while rules use it is refused on loginServer, naming the rules", async () => {
    expect((await putSet('moving-set', goodSet(upstream.host))).status).toBe(201);
    expect((await putRule(cache, { name: 'uses-moving', sourceRepository: `${upstream.host}/moving/*`, targetRepository: 'moving/*', credentialSetName: 'moving-set' })).status).toBe(201);
    const body = await problem(await putSet('moving-set', goodSet(elsewhere.host)), 409);
    expect(body.errors).toEqual([{ field: 'loginServer', message: expect.stringContaining('uses-moving') }]);
    expect(((await (await admin('credential-sets/moving-set')).json()) as { loginServer: string }).loginServer).toBe(upstream.host);
    // The same registry under another spelling is no move.
    expect((await putSet('moving-set', goodSet(upstream.host.toUpperCase()))).status).toBe(200);
  });

  test('a pair that no longer matches (stored behind the API\'s back) gets no credentials: the pull fails naming the rule, nothing is sent', async () => {
    expect((await putSet('drifted-set', goodSet(upstream.host))).status).toBe(201);
    expect((await putRule(cache, { name: 'drifted-rule', sourceRepository: `${upstream.host}/drifted/*`, targetRepository: 'drifted/*', credentialSetName: 'drifted-set', anonymousPull: true })).status).toBe(201);
    await cache.frontend.registry.store.putControl(CREDENTIAL_SETS_KIND, 'drifted-set', { name: 'drifted-set', ...goodSet(elsewhere.host) });
    const before = upstream.requests.length;
    const res = await fetch(`${cache.dataUrl}/v2/drifted/app/manifests/v1`);
    expect(res.status).toBe(502);
    const text = await res.text();
    const error = (JSON.parse(text) as { errors: Array<{ code: string; message: string; detail: Record<string, unknown> }> }).errors[0]!;
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toMatch(/credential set "drifted-set" is for .*, not for .*: its secrets are not sent there/);
    expect(error.detail).toMatchObject({ rule: 'drifted-rule', category: 'credential-lookup', credentialSet: 'drifted-set', reason: 'registry-mismatch' });
    expect(text).not.toContain(secretsDir);
    expect(upstream.requests.length).toBeGreaterThan(before); // it was asked, anonymously
    expect(upstream.requests.slice(before).every((r) => r.authorization === undefined)).toBe(true);
    expect(elsewhere.requests).toHaveLength(0);
    // The rule's verify refuses the same way, before any secret is read.
    const verify = (await (await admin('cache-rules/drifted-rule/verify', { method: 'POST' })).json()) as { failedStep: string; steps: Array<{ message: string }> };
    expect(verify.failedStep).toBe('secrets-readable');
    expect(verify.steps.at(-1)!.message).toMatch(/is for .* not for/);
    expect(upstream.requests.every((r) => r.authorization === undefined)).toBe(true);
  });
});

describe('verify talks only to the set\'s loginServer', () => {
  test('a body or query naming another host changes nothing: only loginServer is contacted, with the set\'s credentials', async () => {
    expect((await putSet('verify-set', goodSet(upstream.host))).status).toBe(201);
    const before = upstream.requests.length;
    const res = await admin(`credential-sets/verify-set/verify?loginServer=${elsewhere.host}&registry=${elsewhere.host}&upstream=${elsewhere.host}`, {
      method: 'POST',
      body: JSON.stringify({ loginServer: elsewhere.host, registry: elsewhere.host, upstream: `http://${elsewhere.host}` }),
    });
    expect(res.status).toBe(200);
    const result = (await res.json()) as { upstream: string; failedStep: string };
    expect(result.upstream).toBe(upstream.host);
    expect(result.failedStep).toBe('upstream-accepts-credentials'); // the recording upstream refuses every login
    expect(elsewhere.requests).toHaveLength(0);
    const sent = upstream.requests.slice(before);
    expect(sent.map((r) => r.path)).toEqual(['/v2/', '/v2/']);
    expect(sent[1]!.authorization).toBe(`Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`);
  });

  test.each([
    ['userinfo', (h: string) => `${h}@evil.example`],
    ['a path', (h: string) => `${h}/v2/redirect`],
    ['a scheme', (h: string) => `https://${h}`],
    ['a query', (h: string) => `${h}?x=1`],
    ['a fragment', (h: string) => `${h}#frag`],
  ])('a loginServer with %s is refused on loginServer', async (_label, make) => {
    const body = await problem(await putSet('aimed-set', goodSet(make(upstream.host))), 422);
    expect(body.errors?.map((e) => e.field)).toEqual(['loginServer']);
  });

  test('a stored set whose loginServer is not a plain host (written before validation) is not contacted', async () => {
    await cache.frontend.registry.store.putControl(CREDENTIAL_SETS_KIND, 'legacy-set', { name: 'legacy-set', ...goodSet(`${upstream.host}@${elsewhere.host}`) });
    // The stored set no longer parses: it does not exist as far as the API is concerned, and nothing is contacted.
    const res = await admin('credential-sets/legacy-set/verify', { method: 'POST' });
    expect(res.status).toBe(404);
    expect(elsewhere.requests).toHaveLength(0);
  });
});

describe('admin routes validate every name in the path', () => {
  const routes: Array<[string, string, (name: string) => string]> = [
    ['GET', 'cache rule', (n) => `cache-rules/${n}`],
    ['PUT', 'cache rule', (n) => `cache-rules/${n}`],
    ['DELETE', 'cache rule', (n) => `cache-rules/${n}`],
    ['GET', 'cache rule health', (n) => `cache-rules/${n}/health`],
    ['POST', 'cache rule verify', (n) => `cache-rules/${n}/verify`],
    ['POST', 'cache rule prefetch', (n) => `cache-rules/${n}/prefetch`],
    ['GET', 'credential set', (n) => `credential-sets/${n}`],
    ['PUT', 'credential set', (n) => `credential-sets/${n}`],
    ['DELETE', 'credential set', (n) => `credential-sets/${n}`],
    ['POST', 'credential set verify', (n) => `credential-sets/${n}/verify`],
    ['GET', 'webhook', (n) => `webhooks/${n}`],
    ['PUT', 'webhook', (n) => `webhooks/${n}`],
    ['DELETE', 'webhook', (n) => `webhooks/${n}`],
    ['GET', 'webhook deliveries', (n) => `webhooks/${n}/deliveries`],
    ['POST', 'webhook ping', (n) => `webhooks/${n}/ping`],
  ];
  const badNames = ['a', '..%2F..%2Fetc', 'x'.repeat(300), '%00', 'bad%20name', '%E0%A4%A'];

  test.each(routes)('%s %s: every bad name is a 400 problem on name', async (method, _label, path) => {
    for (const name of badNames) {
      const res = await admin(path(name), { method, ...(method === 'PUT' || method === 'POST' ? { body: '{}' } : {}) });
      const body = await problem(res, 400);
      expect(body.errors?.[0]?.field).toBe('name');
    }
  });

  test('a raw ../ path is no route: 404 problem, never a 500', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(cache.adminUrl);
      const req = httpRequest({ host: url.hostname, port: url.port, path: '/api/v1/credential-sets/../../etc/passwd', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(404);
  });
});

describe('control files holding secrets are owner-only', () => {
  test('a webhook (its signing secret is in the document) is written 0600', async () => {
    const res = await admin('webhooks/mode-hook', { method: 'PUT', body: JSON.stringify({ serviceUri: 'http://127.0.0.1:9/', actions: ['cache.hydrated'], secret: 'mode-secret-0123456789' }) });
    expect(res.status).toBe(201);
    expect((await stat(join(cache.dataDir, 'control', 'webhooks', 'mode-hook.json'))).mode & 0o777).toBe(0o600);
  });
});

describe('the rules file (GitOps) is held to the same rules', () => {
  async function startWith(lines: string[]): Promise<Error | undefined> {
    const file = join(work.path, `rules-${Math.random().toString(16).slice(2)}.yaml`);
    await writeFile(file, lines.join('\n') + '\n');
    const dataDir = await mkdtemp(join(work.path, 'data-'));
    const other = await startCache(redis, [], { PULLTHROUGH_RULES_FILE: file, PULLTHROUGH_SECRET_FILE_DIRS: secretsDir }, {}, dataDir).then(
      (c) => c.stop().then(() => undefined),
      (err: unknown) => err as Error,
    );
    return other;
  }
  const set = (loginServer: string, password: string) => ['credentialSets:', '  - name: file-set', `    loginServer: ${loginServer}`, '    authCredentials:', '      - usernameSecretIdentifier: env:PULLTHROUGH_SECRET_USER', `        passwordSecretIdentifier: ${password}`];
  const rule = (source: string) => ['cacheRules:', '  - name: file-rule', `    sourceRepository: ${source}`, '    targetRepository: file/*', '    credentialSetName: file-set'];

  test('file:/etc/shadow in a credential set stops the start with the field path', async () => {
    const err = await startWith([...set('ghcr.io', 'file:/etc/shadow'), ...rule('ghcr.io/*')]);
    expect(err?.message).toMatch(/credentialSets\[0\]\.authCredentials\[0\]\.passwordSecretIdentifier: .*PULLTHROUGH_SECRET_FILE_DIRS/);
    expect(err?.message).not.toContain('/etc/shadow');
  });

  test('a rule using a set made for another registry stops the start with the field path', async () => {
    const err = await startWith([...set('ghcr.io', `file:${join(secretsDir, 'password')}`), ...rule('quay.io/*')]);
    expect(err?.message).toMatch(/cacheRules\[0\]\.credentialSetName: credential set "file-set" is for ghcr\.io .* quay\.io/);
  });

  test('a matching file starts', async () => {
    expect(await startWith([...set('ghcr.io', `file:${join(secretsDir, 'password')}`), ...rule('ghcr.io/*')])).toBeUndefined();
  });
});

test('the stored rules are what the API said: no refused rule slipped into the control area', async () => {
  const names = await cache.frontend.registry.store.control.listControlNames(CACHE_RULES_KIND);
  expect(names).not.toContain('wrong-registry');
  expect(names).not.toContain('ghcr-port');
});
