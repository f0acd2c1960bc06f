import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, skopeoCopy, tempDir, waitUntil, type TempDir } from '@pullthrough/test-support';
import { startUpstream, type Upstream } from './harness.js';

const ROOT = join(__dirname, '..', '..', '..');
const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/**
 * The README's start command, minus the install/build steps the test run has already done:
 * scripts/start.js starts a private redis-server, the hydrator and the frontend from the built apps.
 */
describe('the README start command', () => {
  let upstream: Upstream;
  let work: TempDir;
  let child: ChildProcess;
  let output = '';

  beforeAll(async () => {
    upstream = await startUpstream();
    work = await tempDir('start-');
  }, 60_000);
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await upstream?.stop();
    await work?.remove();
  });

  test('serves a pull from a loopback upstream as documented, hydrates it, and stops cleanly on SIGTERM', async () => {
    const [dataPort, adminPort, hydratorPort] = [await freePort(), await freePort(), await freePort()];
    const dataDir = join(work.path, 'data');
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, PULLTHROUGH_DATA_DIR: dataDir, PULLTHROUGH_DATA_PORT: String(dataPort), PULLTHROUGH_ADMIN_PORT: String(adminPort), PULLTHROUGH_HYDRATOR_PORT: String(hydratorPort), PULLTHROUGH_INSECURE_UPSTREAMS: upstream.proxy.host, PULLTHROUGH_EGRESS_ALLOW: upstream.proxy.host, PULLTHROUGH_HYDRATION_DELAY_MS: '0' };
    child = spawn(process.execPath, [join(ROOT, 'scripts', 'start.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${adminPort}/healthz`).catch(() => undefined))?.ok === true, {
      timeoutMs: 30_000,
      what: 'the admin API to answer',
      abort: () => (child.exitCode !== null ? new Error(`start.js exited early:\n${output}`) : undefined),
    });

    // Both apps' probes: the frontend's on the admin port, the hydrator's on its own.
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${hydratorPort}/readyz`).catch(() => undefined))?.status === 200, { timeoutMs: 20_000, what: 'the hydrator to be ready' });
    expect(((await (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).json()) as { status: string }).status).toBe('ready');
    // Both apps run with the node flags every launcher uses (scripts/node-flags.js: a small V8 young generation).
    const { NODE_FLAGS } = require(join(ROOT, 'scripts', 'node-flags.js')) as { NODE_FLAGS: string[] };
    expect(NODE_FLAGS.length).toBeGreaterThan(0);
    const kids = (await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')).trim().split(/\s+/);
    const argvs = await Promise.all(kids.map(async (pid) => (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean).slice(1)));
    const apps = argvs.filter((argv) => argv.at(-1)?.endsWith(join('dist', 'main.js')));
    expect(apps.sort((a, b) => String(a.at(-1)).localeCompare(String(b.at(-1))))).toEqual([
      [...NODE_FLAGS, join(ROOT, 'apps', 'frontend', 'dist', 'main.js')],
      [...NODE_FLAGS, join(ROOT, 'apps', 'hydrator', 'dist', 'main.js')],
    ]);
    // ... and with its environment (NODE_ENV_VARS: two malloc arenas, a fixed mmap threshold), unless the operator set it.
    const { NODE_ENV_VARS } = require(join(ROOT, 'scripts', 'node-flags.js')) as { NODE_ENV_VARS: Record<string, string> };
    expect(NODE_ENV_VARS).toMatchObject({ MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '262144' });
    const appPids = kids.filter((_, i) => argvs[i]!.at(-1)?.endsWith(join('dist', 'main.js')));
    expect(appPids).toHaveLength(2);
    for (const pid of appPids) {
      const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
      // An operator's own value wins (start.js adds only what the environment does not set).
      for (const [name, value] of Object.entries(NODE_ENV_VARS)) expect(environ).toContain(`${name}=${process.env[name] ?? value}`);
    }
    const token = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
    expect(output).toContain(token); // shown once on the terminal at first start
    const defaults = (await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/cache-rules`, { headers: { authorization: `Bearer ${token}` } })).json()) as { cacheRules: Array<{ name: string }> };
    expect(defaults.cacheRules.map((r) => r.name)).toEqual(['dockerhub', 'ghcr-io', 'mcr-microsoft', 'quay-io', 'registry-k8s']);

    const put = await fetch(`http://127.0.0.1:${adminPort}/api/v1/cache-rules/local-registry`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sourceRepository: `${upstream.proxy.host}/*`, targetRepository: 'local/*' }),
    });
    expect(put.status).toBe(201);
    const f = upstream.fixtures.multiLayer;
    const out = await tempDir('start-pull-');
    try {
      await skopeoCopy(['--src-tls-verify=false', '--src-no-creds', `docker://127.0.0.1:${dataPort}/local/${f.repository}:${f.tag}`, `dir:${out.path}`]);
      expect(sha256(await readFile(join(out.path, 'manifest.json')))).toBe(f.digest);
    } finally {
      await out.remove();
    }
    await waitUntil(async () => output.includes('"msg":"hydrated"'), { timeoutMs: 30_000, what: 'the hydrator to log the completed job' });
    expect(output).not.toContain('"level":50');
    // The private redis-server has a generated password (kept 0600 in the data dir) that is never printed.
    const redisPassword = (await readFile(join(dataDir, 'redis-password'), 'utf8')).trim();
    expect(redisPassword).toMatch(/^[0-9a-f]{64}$/);
    expect(output).not.toContain(redisPassword);

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(0);
  }, 90_000);
});
