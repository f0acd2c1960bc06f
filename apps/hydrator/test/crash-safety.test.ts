import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import { createHydrationQueue, enqueueHydration, hydrationJobId, HydrationStatusReader, type HydrationResult } from '@pullthrough/hydration-jobs';
import { EgressPolicy } from '@pullthrough/egress';
import { WebhookStore } from '@pullthrough/webhooks';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { startProcess, startRedis, tempDir, uniquePrefix, waitUntil, type ManagedProcess, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { jobFor, startUpstream, storeRuleFor, totalSize, type Upstream } from './harness.js';

// kill -9 of a real hydrator process while it streams a blob: nothing partial becomes visible,
// BullMQ's stalled-job check hands the job to a restarted hydrator, which completes it with every
// digest verified. Real redis-server, docker-registry, and a trickling proxy so the kill lands mid-blob.

const MAIN = join(__dirname, '..', 'dist', 'main.js');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Forwards to `target`, dribbling response bodies out in small slices (`tickMs` 0: full speed). */
async function startTrickleProxy(target: string) {
  const pace = { sliceBytes: 16 * 1024, tickMs: 25 };
  const server: Server = createServer((req, res) => {
    const up = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      void (async () => {
        for await (const chunk of upRes as AsyncIterable<Buffer>) {
          for (let i = 0; i < chunk.length; i += pace.sliceBytes) {
            if (res.destroyed) return upRes.destroy();
            res.write(chunk.subarray(i, i + pace.sliceBytes));
            if (pace.tickMs > 0) await new Promise((r) => setTimeout(r, pace.tickMs));
          }
        }
        res.end();
      })().catch(() => res.destroy());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    pace,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

/** `node apps/hydrator/dist/main.js` with `env`, once it logs that it runs. */
async function startHydrator(env: Record<string, string>, name: string): Promise<ManagedProcess> {
  const logPath = join(logs.path, `hydrator-${name}.log`);
  const proc = await startProcess({ command: process.execPath, args: [MAIN], logPath, env });
  procs.push(proc);
  await waitUntil(async () => (await readFile(logPath, 'utf8')).includes('hydrator running'), {
    what: `hydrator ${name} to start`,
    abort: () => (proc.exitStatus() ? new Error(`hydrator ${name} exited: ${proc.logTail()}`) : undefined),
  });
  return proc;
}

/** Wait until a temporary object under `uploads` (not one of `except`) holds part of a blob of `size` bytes; returns its path. */
async function halfWritten(uploads: string, size: number, except: string[] = []): Promise<string> {
  let found = '';
  await waitUntil(
    async () => {
      for (const file of await filesUnder(uploads)) {
        if (except.includes(file)) continue;
        const n = (await stat(file)).size;
        if (n > 256 * 1024 && n < size) {
          found = file;
          return true;
        }
      }
      return false;
    },
    { what: 'a blob to be half-written', timeoutMs: 30_000, intervalMs: 10 },
  );
  return found;
}

async function killNow(proc: ManagedProcess): Promise<void> {
  process.kill(proc.pid, 'SIGKILL');
  await waitUntil(async () => proc.exitStatus() !== undefined, { what: 'the killed hydrator to exit' });
  expect(proc.exitStatus()).toBe('signal SIGKILL');
}

let redis: RedisServer;
let upstream: Upstream;
let trickle: Awaited<ReturnType<typeof startTrickleProxy>>;
let data: TempDir;
let logs: TempDir;
let queue: Queue;
const procs: ManagedProcess[] = [];

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npx turbo run build)`);
  redis = await startRedis();
  upstream = await startUpstream();
  trickle = await startTrickleProxy(upstream.proxy.url);
  data = await tempDir('crash-data-');
  logs = await tempDir('crash-logs-');
}, 120_000);

afterAll(async () => {
  for (const p of procs) await p.stop();
  await queue?.close();
  await trickle?.close();
  await upstream?.stop();
  await redis?.stop();
  await data?.remove();
  await logs?.remove();
});

test('kill -9 mid-blob leaves nothing partial visible; a restarted hydrator completes the job with every digest verified', async () => {
  const prefix = uniquePrefix('crash');
  const env = {
    PATH: process.env.PATH ?? '',
    PULLTHROUGH_DATA_DIR: data.path,
    PULLTHROUGH_HYDRATOR_PORT: '0',
    REDIS_URL: redis.url,
    PULLTHROUGH_QUEUE_PREFIX: prefix,
    PULLTHROUGH_INSECURE_UPSTREAMS: trickle.host,
    PULLTHROUGH_EGRESS_ALLOW: '127.0.0.1',
    PULLTHROUGH_HYDRATION_LOCK_MS: '1000',
    PULLTHROUGH_HYDRATION_STALLED_INTERVAL_MS: '500',
    PULLTHROUGH_LOG_LEVEL: 'info',
  };
  const start = (n: number) => startHydrator(env, `first-${n}`);

  const f = upstream.fixtures.multiLayer;
  const big = [...f.blobs].sort((a, b) => b.size - a.size)[0]!;
  expect(big.size).toBeGreaterThan(3 * 1024 * 1024);
  const first = await start(1);
  queue = createHydrationQueue({ connection: { host: redis.host, port: redis.port, maxRetriesPerRequest: null }, prefix });
  const input = { ...jobFor(upstream, f, 'crash/multilayer'), upstreamRegistry: trickle.host };
  await storeRuleFor(new RegistryStore(new FilesystemDriver(data.path)), input);
  const jobId = await enqueueHydration(queue, input);
  expect(jobId).toBe(hydrationJobId('crash/multilayer', f.digest));

  // Mid-blob: the big layer's temporary object has bytes, and it is not committed.
  const uploads = join(data.path, '_uploads');
  const bigPath = join(data.path, 'blobs', 'sha256', big.digest.slice(7, 9), big.digest.slice(7), 'data');
  await halfWritten(uploads, big.size);
  expect(await queue.getJobState(jobId)).toBe('active');
  await killNow(first);

  // Nothing partial is visible: the big blob is absent, and every committed blob is whole.
  const store = new RegistryStore(new FilesystemDriver(data.path));
  expect(existsSync(bigPath)).toBe(false);
  expect(await store.statBlob(big.digest)).toBeUndefined();
  expect(await store.statRepositoryBlob('crash/multilayer', big.digest)).toBeUndefined();
  const leftovers = await filesUnder(uploads);
  expect(leftovers.length).toBeGreaterThan(0);
  for (const file of await filesUnder(join(data.path, 'blobs'))) {
    expect(`sha256:${sha256(await readFile(file))}`).toBe(`sha256:${file.split('/').at(-2)}`);
  }

  trickle.pace.tickMs = 0;
  await start(2);
  await waitUntil(async () => (await queue.getJobState(jobId)) === 'completed', { what: 'the job to complete on the restarted hydrator', timeoutMs: 45_000, intervalMs: 100 });
  const job = (await queue.getJob(jobId))!;
  expect((job.returnvalue as HydrationResult).blobs).toBe(f.blobs.length);
  expect(job.progress).toEqual({ blobsDone: f.blobs.length, blobsTotal: f.blobs.length, bytesDone: totalSize(f.blobs) });
  for (const blob of f.blobs) {
    expect(await store.isBlobLinked('crash/multilayer', blob.digest)).toBe(true);
    const bytes = await readFile(join(data.path, 'blobs', 'sha256', blob.digest.slice(7, 9), blob.digest.slice(7), 'data'));
    expect(`sha256:${sha256(bytes)}`).toBe(blob.digest);
  }
  expect((await store.getManifest('crash/multilayer', f.digest))?.bytes.equals(f.manifest)).toBe(true);
}, 120_000);

test('a job whose hydrators keep dying fails as abandoned (status failed, cache.hydration_failed sent), nothing partial visible', async () => {
  const ownData = await tempDir('crash-twice-');
  const received: string[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(body);
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const prefix = uniquePrefix('crash-twice');
  const producer = createHydrationQueue({ connection: { host: redis.host, port: redis.port, maxRetriesPerRequest: null }, prefix });
  try {
    const store = new RegistryStore(new FilesystemDriver(ownData.path));
    await new WebhookStore(store, new EgressPolicy({ allow: '127.0.0.1' })).put('on-failure', { serviceUri: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, actions: ['cache.hydration_failed'], secret: 'crash-secret-0123456789' });
    const env = {
      PATH: process.env.PATH ?? '',
      PULLTHROUGH_DATA_DIR: ownData.path,
      PULLTHROUGH_HYDRATOR_PORT: '0',
      REDIS_URL: redis.url,
      PULLTHROUGH_QUEUE_PREFIX: prefix,
      PULLTHROUGH_INSECURE_UPSTREAMS: trickle.host,
      PULLTHROUGH_EGRESS_ALLOW: '127.0.0.1',
      PULLTHROUGH_HYDRATION_LOCK_MS: '1000',
      PULLTHROUGH_HYDRATION_STALLED_INTERVAL_MS: '500',
      PULLTHROUGH_LOG_LEVEL: 'info',
    };
    trickle.pace.tickMs = 25;
    const f = upstream.fixtures.multiLayer;
    const big = [...f.blobs].sort((a, b) => b.size - a.size)[0]!;
    const uploads = join(ownData.path, '_uploads');
    const twice = { ...jobFor(upstream, f, 'crash/twice'), upstreamRegistry: trickle.host };
    await storeRuleFor(new RegistryStore(new FilesystemDriver(ownData.path)), twice);
    const jobId = await enqueueHydration(producer, twice);

    // Killed mid-blob twice: BullMQ allows one stall (maxStalledCount 1), the second fails the job.
    const firstLeftover = await (async () => {
      const p = await startHydrator(env, 'twice-1');
      const file = await halfWritten(uploads, big.size);
      await killNow(p);
      return file;
    })();
    const p2 = await startHydrator(env, 'twice-2');
    await halfWritten(uploads, big.size, [firstLeftover]);
    await killNow(p2);
    await startHydrator(env, 'twice-3');
    await waitUntil(async () => (await producer.getJobState(jobId)) === 'failed', { what: 'the job to fail', timeoutMs: 30_000, intervalMs: 100 });

    const status = await new HydrationStatusReader(producer).get('crash/twice', f.digest);
    expect(status).toMatchObject({ state: 'failed', failure: { category: 'hydration' } });
    expect(status.failure?.message).toMatch(/stalled/);
    await waitUntil(async () => received.length >= 1, { what: 'the failure event', timeoutMs: 15_000 });
    expect(JSON.parse(received[0]!)).toMatchObject({ action: 'cache.hydration_failed', target: { repository: 'crash/twice', digest: f.digest }, failure: { code: 'HYDRATION_ABANDONED', category: 'hydration' } });
    expect(await store.statBlob(big.digest)).toBeUndefined();
  } finally {
    await producer.close();
    receiver.closeAllConnections();
    await new Promise<void>((r) => receiver.close(() => r()));
    await ownData.remove();
  }
}, 120_000);
