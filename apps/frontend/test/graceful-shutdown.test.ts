import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { faultFor, freePort, startProcess, tempDir, waitUntil, type ManagedProcess, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { ADMIN_TOKEN, startRedis, startUpstream, type Upstream } from './harness.js';

// SIGTERM to the frontend process (`node apps/frontend/dist/main.js`, as in the container): it stops
// accepting at once, lets a blob stream in flight finish, and exits 0. Past
// PULLTHROUGH_SHUTDOWN_TIMEOUT_MS the stream is cut and the process still exits 0.

const MAIN = join(__dirname, '..', 'dist', 'main.js');
const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

let redis: RedisServer;
let upstream: Upstream;
let dir: TempDir;

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first`);
  redis = await startRedis();
  upstream = await startUpstream();
  dir = await tempDir('graceful-');
}, 120_000);
afterAll(async () => {
  await upstream?.stop();
  await redis?.stop();
  await dir?.remove();
});
afterEach(() => upstream.proxy.setFault(null));

interface Running {
  proc: ManagedProcess;
  dataPort: number;
  adminPort: number;
  exited: () => Promise<string>;
}

async function startFrontendProcess(name: string, env: Record<string, string>): Promise<Running> {
  const [dataPort, adminPort] = [await freePort(), await freePort()];
  const logPath = join(dir.path, `${name}.log`);
  const proc = await startProcess({
    command: process.execPath,
    args: [MAIN],
    logPath,
    env: {
      PATH: process.env.PATH ?? '',
      PULLTHROUGH_DATA_DIR: join(dir.path, name),
      PULLTHROUGH_DATA_PORT: String(dataPort),
      PULLTHROUGH_ADMIN_PORT: String(adminPort),
      PULLTHROUGH_ADMIN_TOKEN: ADMIN_TOKEN,
      REDIS_URL: redis.url,
      PULLTHROUGH_QUEUE_PREFIX: `graceful-${name}`,
      PULLTHROUGH_INSECURE_UPSTREAMS: upstream.proxy.host,
      PULLTHROUGH_EGRESS_ALLOW: '127.0.0.1',
      ...env,
    },
  });
  await waitUntil(async () => (await readFile(logPath, 'utf8')).includes('frontend listening'), {
    what: 'the frontend to listen',
    timeoutMs: 20_000,
    abort: () => (proc.exitStatus() ? new Error(`frontend exited (${proc.exitStatus()}): ${proc.logTail()}`) : undefined),
  });
  const rule = await fetch(`http://127.0.0.1:${adminPort}/api/v1/cache-rules/graceful`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sourceRepository: `${upstream.proxy.host}/*`, targetRepository: 'up/*' }),
  });
  expect(rule.status).toBe(201);
  const exited = async () => {
    await waitUntil(async () => proc.exitStatus() !== undefined, { what: 'the frontend to exit', timeoutMs: 40_000 });
    return proc.exitStatus()!;
  };
  return { proc, dataPort, adminPort, exited };
}

/** The fixture's largest blob; the upstream sends its first MiB, then holds the rest until `release()`. */
function holdBigBlob() {
  const big = [...upstream.fixtures.multiLayer.blobs].sort((x, y) => y.size - x.size)[0]!;
  let release = () => undefined as void;
  const until = new Promise<void>((resolve) => (release = resolve));
  upstream.proxy.setFault(faultFor({ kind: 'blob', reference: big.digest }, { kind: 'hold', atByte: 1024 * 1024, until }));
  return { big, release };
}

/** GET the blob through the cache; resolves once the first bytes arrived, with the rest to come. */
function startPull(port: number, digest: string) {
  return new Promise<{ status: number; body: Promise<{ bytes: Buffer; complete: boolean }> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/v2/up/${upstream.fixtures.multiLayer.repository}/blobs/${digest}` }, (res) => {
      const chunks: Buffer[] = [];
      const body = new Promise<{ bytes: Buffer; complete: boolean }>((done) => {
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done({ bytes: Buffer.concat(chunks), complete: res.complete }));
        res.on('error', () => done({ bytes: Buffer.concat(chunks), complete: false }));
        res.on('aborted', () => done({ bytes: Buffer.concat(chunks), complete: false }));
      });
      res.once('data', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const refused = (port: number) =>
  fetch(`http://127.0.0.1:${port}/v2/`).then(
    () => false,
    () => true,
  );

test('SIGTERM during a streaming blob pull: no new connections, the pull completes, exit 0', async () => {
  const fe = await startFrontendProcess('drain', {});
  const { big, release } = holdBigBlob();
  const pull = await startPull(fe.dataPort, big.digest);
  expect(pull.status).toBe(200);
  process.kill(fe.proc.pid, 'SIGTERM');
  await waitUntil(() => refused(fe.dataPort), { what: 'the data port to stop accepting', timeoutMs: 5000 });
  expect(fe.proc.exitStatus()).toBeUndefined(); // still draining the stream
  release();
  const { bytes, complete } = await pull.body;
  expect(complete).toBe(true);
  expect(bytes.length).toBe(big.size);
  expect(sha256(bytes)).toBe(big.digest);
  expect(await fe.exited()).toBe('code 0');
}, 60_000);

test('past PULLTHROUGH_SHUTDOWN_TIMEOUT_MS the stream is cut and the process still exits 0', async () => {
  const fe = await startFrontendProcess('deadline', { PULLTHROUGH_SHUTDOWN_TIMEOUT_MS: '500' });
  const { big, release } = holdBigBlob();
  try {
    const pull = await startPull(fe.dataPort, big.digest);
    const started = Date.now();
    process.kill(fe.proc.pid, 'SIGTERM');
    const { bytes, complete } = await pull.body;
    expect(complete).toBe(false);
    expect(bytes.length).toBeLessThan(big.size);
    expect(await fe.exited()).toBe('code 0');
    expect(Date.now() - started).toBeLessThan(10_000);
  } finally {
    release();
  }
}, 60_000);
