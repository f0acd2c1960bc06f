import { faultFor, tempDir, type KeyVaultEmulator, type TempDir } from '@pullthrough/test-support';
import { ADMIN_TOKEN, type Cache, type Upstream } from './harness.js';
import { startVaultHydrationStack, type VaultHydrationStack } from './vault-hydration-stack.js';
import { runCli, type CliRun } from './cli-process.js';

// The built CLI against a running frontend with the built hydrator as its own process (real
// redis-server, a real docker-registry upstream): prefetch + `hydration status --wait` follow a real
// job to `hydrated` or `failed`; credential-set verify against a Key Vault emulator that went down.

let stack: VaultHydrationStack;
let upstream: Upstream;
let cache: Cache;
let vault: KeyVaultEmulator;
let home: TempDir;

const cli = (args: string[], tty = false): Promise<CliRun> => runCli(args, { home: home.path, env: { PULLTHROUGH_CLI_URL: cache.adminUrl, PULLTHROUGH_CLI_TOKEN: ADMIN_TOKEN }, timeoutMs: 120_000, tty });
const api = async (path: string) => (await fetch(`${cache.adminUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json() as Promise<Record<string, any>>;

beforeAll(async () => {
  stack = await startVaultHydrationStack('cli-kv-cert-');
  ({ upstream, cache, vault } = stack);
  home = await tempDir('cli-home-');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await home?.remove();
});

describe('prefetch and hydration status', () => {
  test('a prefetch followed by hydration status --wait reaches hydrated (exit 0) with progress on stderr', async () => {
    const f = upstream.fixtures.multiLayer;
    expect((await cli(['cache', 'create', '-n', 'hy-rule', '-s', `${upstream.proxy.host}/fixtures/*`, '-t', 'hy/*', '--platforms', 'all'])).code).toBe(0);
    const before = await cli(['hydration', 'status', 'hy/multilayer', 'v1']);
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/^state:\s+unknown$/m);

    upstream.proxy.delayMs = 100;
    const prefetch = await cli(['prefetch', 'hy/multilayer', 'v1']);
    expect(prefetch.code).toBe(0);
    const row = prefetch.stdout.trim().split('\n')[1]!.split(/\s+/);
    expect(row.slice(0, 2)).toEqual(['v1', f.digest]);

    const waited = await cli(['hydration', 'status', 'hy/multilayer', 'v1', '--wait']);
    upstream.proxy.delayMs = 0;
    expect(waited.code).toBe(0);
    expect(waited.stdout).toMatch(/^state:\s+hydrated$/m);
    expect(waited.stdout).toMatch(new RegExp(`^digest:\\s+${f.digest}$`, 'm'));
    // stderr is not a terminal here: plain progress lines, no \r redraws; the last one is the end state.
    const total = f.blobs.length;
    const bytes = f.blobs.reduce((n, b) => n + b.size, 0);
    expect(waited.stderr).not.toContain('\r');
    expect(waited.stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^hydrated ${total}/${total} blobs, `));
    const body = await api(`/hydrations?repository=hy/multilayer&reference=v1`);
    expect(body).toMatchObject({ state: 'hydrated', digest: f.digest, progress: { blobsDone: total, blobsTotal: total, bytesDone: bytes } });
    // -o json: the API's body, nothing else on stdout.
    const asJson = await cli(['hydration', 'status', 'hy/multilayer', 'v1', '--wait', '-o', 'json']);
    expect(asJson.code).toBe(0);
    expect(JSON.parse(asJson.stdout)).toEqual(await api(`/hydrations?repository=hy/multilayer&reference=v1&wait=1`));
  }, 90_000);

  test('on a terminal, prefetch --wait draws one progress line redrawn in place with \\r', async () => {
    const f = upstream.fixtures.multiPlatform;
    const total = f.blobs.length;
    // Slow enough that the job is seen running before it ends (two frames at least).
    upstream.proxy.delayMs = 250;
    try {
      const run = await cli(['prefetch', 'hy/multiplatform', 'v1', '--wait'], true);
      expect(run.code).toBe(0);
      const frames = run.stdout.split('\r').map((x) => x.trim()).filter((x) => x.startsWith('['));
      expect(frames.length).toBeGreaterThanOrEqual(2);
      expect(frames.at(-1)).toMatch(new RegExp(`^\\[#{30}\\] hydrated ${total}/${total} blobs, `));
      expect(run.stdout).toMatch(/^state:\s+hydrated\s*$/m);
    } finally {
      upstream.proxy.delayMs = 0;
    }
  }, 90_000);

  test('a hydration that fails makes --wait exit 6 and print the failure', async () => {
    const f = upstream.fixtures.small;
    upstream.proxy.setFault(faultFor({ kind: 'blob' }, { status: 404, body: '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}' }));
    try {
      const run = await cli(['prefetch', 'hy/small', 'v1', '--rule', 'hy-rule', '--wait']);
      expect(run.code).toBe(6);
      expect(run.stdout).toMatch(/^state:\s+failed$/m);
      expect(run.stdout).toMatch(/^failure:\s+upstream-not-found /m);
      const body = await api(`/hydrations?repository=hy/small&reference=${f.digest}`);
      expect(body).toMatchObject({ state: 'failed', failure: { category: 'upstream-not-found' } });
      const status = await cli(['hydration', 'status', 'hy/small', 'v1', '--wait']);
      expect(status.code).toBe(6);
    } finally {
      upstream.proxy.setFault(null);
    }
  }, 90_000);

  test('prefetch of a repository no rule maps exits 3; a tag the upstream lacks makes the reference fail (exit 6)', async () => {
    const unmapped = await cli(['prefetch', 'elsewhere/app', 'v1']);
    expect(unmapped.code).toBe(3);
    expect(unmapped.stderr).toBe('error: no cache rule maps elsewhere/app\n');
    const missing = await cli(['prefetch', 'hy/small', 'no-such-tag', '-o', 'json']);
    expect(missing.code).toBe(6);
    expect(JSON.parse(missing.stdout)).toMatchObject({ prefetch: [{ reference: 'no-such-tag', error: { code: 'MANIFEST_UNKNOWN' } }] });
  }, 60_000);
});

describe('credential-set verify', () => {
  test('against a Key Vault emulator that is down: the failing step is shown and the exit code is 6', async () => {
    vault.setSecret('hub-user', 'someone');
    vault.setSecret('hub-password', 'some-password-0123');
    const created = await cli(['credential-set', 'create', '-n', 'vault-login', '-l', upstream.proxy.host, '-u', vault.secretUri('hub-user'), '-p', vault.secretUri('hub-password')]);
    expect(created.code).toBe(0);
    await vault.stop();
    const run = await cli(['credential-set', 'verify', '-n', 'vault-login']);
    expect(run.code).toBe(6);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^STEP\s+RESULT\s+MESSAGE$/);
    expect(lines[1]).toMatch(/^secrets-readable\s+failed \(credential-lookup\)\s+.*vault unreachable/);
    expect(lines.at(-1)).toBe('verify: failed at secrets-readable');
    const asJson = await cli(['credential-set', 'verify', '-n', 'vault-login', '-o', 'json']);
    expect(asJson.code).toBe(6);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ status: 'failed', failedStep: 'secrets-readable', credentialHealth: { status: 'Unhealthy', errorCode: 'credential-lookup' } });
    const shown = await cli(['credential-set', 'show', '-n', 'vault-login']);
    expect(shown.stdout).toMatch(/^health:\s+Unhealthy \(credential-lookup\)$/m);
  }, 60_000);
});
