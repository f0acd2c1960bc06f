import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, tempDir, waitUntil, type TempDir } from '@pullthrough/test-support';
import { startUpstream, type Upstream } from './harness.js';
import { startReceiver, type WebhookReceiver } from './webhook-receiver.js';

const ROOT = join(__dirname, '..', '..', '..');
const TOKEN = 'restart-admin-token-0123456789';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/**
 * The embedded stack (scripts/start.js: private redis-server, hydrator, frontend) keeps queued work
 * across a restart: redis-server appends to a file in the data dir. A hydration queued (delayed) and
 * a webhook delivery to a receiver that is down are both done after the stack is stopped and started.
 */
describe('the embedded stack across a restart', () => {
  let upstream: Upstream;
  let work: TempDir;
  let receiver: WebhookReceiver | undefined;
  const running: ChildProcess[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    work = await tempDir('restart-');
  }, 60_000);
  afterAll(async () => {
    for (const c of running) if (c.exitCode === null) c.kill('SIGKILL');
    await receiver?.close();
    await upstream?.stop();
    await work?.remove();
  });

  test('a queued hydration and a pending webhook delivery complete after stop and start', async () => {
    const [dataPort, adminPort, hydratorPort, receiverPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const dataDir = join(work.path, 'data');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PULLTHROUGH_DATA_DIR: dataDir,
      PULLTHROUGH_DATA_PORT: String(dataPort),
      PULLTHROUGH_ADMIN_PORT: String(adminPort),
      PULLTHROUGH_HYDRATOR_PORT: String(hydratorPort),
      PULLTHROUGH_ADMIN_TOKEN: TOKEN,
      PULLTHROUGH_INSECURE_UPSTREAMS: upstream.proxy.host,
      PULLTHROUGH_EGRESS_ALLOW: `${upstream.proxy.host},127.0.0.1:${receiverPort}`,
      // Long enough that the job is still waiting when the stack stops.
      PULLTHROUGH_HYDRATION_DELAY_MS: '4000',
      PULLTHROUGH_WEBHOOK_BACKOFF_MS: '1000',
    };
    const admin = (path: string, method = 'GET', body?: unknown) =>
      fetch(`http://127.0.0.1:${adminPort}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    const start = async () => {
      let output = '';
      const child = spawn(process.execPath, [join(ROOT, 'scripts', 'start.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      running.push(child);
      child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      await waitUntil(async () => (await fetch(`http://127.0.0.1:${hydratorPort}/readyz`).catch(() => undefined))?.ok === true && (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined))?.ok === true, {
        timeoutMs: 30_000,
        what: 'the stack to be ready',
        abort: () => (child.exitCode !== null ? new Error(`start.js exited early:\n${output}`) : undefined),
      });
      const stop = async () => {
        child.kill('SIGTERM');
        return new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', (c) => resolve(c))));
      };
      return { output: () => output, stop };
    };

    // First run: a rule, a webhook whose receiver is down, a ping (its delivery fails and waits for a retry), a pull (its hydration is delayed).
    const first = await start();
    expect((await admin('/cache-rules/restart-upstream', 'PUT', { sourceRepository: `${upstream.proxy.host}/*`, targetRepository: 'restart/*' })).status).toBe(201);
    expect((await admin('/webhooks/restart-hook', 'PUT', { serviceUri: `http://127.0.0.1:${receiverPort}/events`, actions: ['cache.hydrated'], secret: 'restart-secret-0123456789' })).status).toBe(201);
    const ping = await admin('/webhooks/restart-hook/ping', 'POST');
    expect(ping.status).toBe(202);
    const { eventId } = (await ping.json()) as { eventId: string };
    const f = upstream.fixtures.small;
    const pulled = await fetch(`http://127.0.0.1:${dataPort}/v2/restart/${f.repository}/manifests/${f.tag}`, { headers: { accept: OCI_MANIFEST } });
    expect(pulled.status).toBe(200);
    await waitUntil(async () => ((await (await admin('/webhooks/restart-hook/deliveries')).json()) as { deliveries: unknown[] }).deliveries.length >= 1, {
      timeoutMs: 10_000,
      what: 'the first (failed) delivery attempt',
    });
    expect(first.output()).not.toContain('"msg":"hydrated"');
    expect(await first.stop()).toBe(0);
    expect(first.output()).not.toContain('"msg":"hydrated"');
    // The private redis-server's append-only file is in the data dir.
    expect(existsSync(join(dataDir, 'redis'))).toBe(true);
    expect((await readdir(join(dataDir, 'redis'), { recursive: true })).some((name) => String(name).includes('.aof'))).toBe(true);

    // The receiver comes up; second run: the hydration completes and both deliveries arrive.
    receiver = await startReceiver(() => 200, receiverPort);
    const second = await start();
    await waitUntil(async () => second.output().includes('"msg":"hydrated"'), { timeoutMs: 30_000, what: 'the queued hydration to complete after the restart' });
    await waitUntil(async () => receiver!.received.some((r) => r.json.id === eventId), { timeoutMs: 30_000, what: 'the pending ping delivery to arrive' });
    await waitUntil(async () => receiver!.received.some((r) => r.json.action === 'cache.hydrated'), { timeoutMs: 30_000, what: 'the cache.hydrated delivery' });
    const hydrated = receiver.received.find((r) => r.json.action === 'cache.hydrated')!;
    expect((hydrated.json.target as { digest: string }).digest).toBe(f.digest);
    expect(await second.stop()).toBe(0);
  }, 120_000);
});
