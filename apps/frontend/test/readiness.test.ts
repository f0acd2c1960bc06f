import { rename, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { waitUntil, type RedisServer } from '@pullthrough/test-support';
import { startCache, startRedis, type Cache } from './harness.js';

// /healthz: the process answers. /readyz: storage must answer (not ready without it); Redis down is
// `degraded` and still 200, because pulls go on without Redis (only hydration waits).

interface Report {
  status: string;
  checks: Record<string, { status: string; required: boolean; reason?: string }>;
}

let redis: RedisServer;
let cache: Cache;
const readyz = async () => {
  const res = await fetch(`${cache.adminUrl}/readyz`);
  return { status: res.status, body: (await res.json()) as Report, cacheControl: res.headers.get('cache-control') };
};

beforeAll(async () => {
  redis = await startRedis();
  cache = await startCache(redis, []);
}, 60_000);
afterAll(async () => {
  await cache?.stop();
  await redis?.stop();
});

test('ready with storage and Redis up', async () => {
  expect((await fetch(`${cache.adminUrl}/healthz`)).status).toBe(200);
  const r = await readyz();
  expect(r.status).toBe(200);
  expect(r.cacheControl).toBe('no-store');
  expect(r.body.status).toBe('ready');
  expect(r.body.checks.storage).toMatchObject({ status: 'up', required: true });
  expect(r.body.checks.redis).toMatchObject({ status: 'up', required: false });
});

test('storage that cannot be read: 503 with the reason', async () => {
  const control = join(cache.dataDir, 'control');
  // The control area becomes a symlink loop: every read of it fails (ELOOP), as an I/O error would.
  await rename(control, `${control}.aside`);
  await symlink(control, control);
  try {
    const r = await readyz();
    expect(r.status).toBe(503);
    expect(r.body.status).toBe('not-ready');
    expect(r.body.checks.storage?.status).toBe('down');
    expect(r.body.checks.storage?.reason).toMatch(/ELOOP|symbolic links/);
    expect((await fetch(`${cache.adminUrl}/healthz`)).status).toBe(200);
  } finally {
    await unlink(control);
    await rename(`${control}.aside`, control);
  }
  expect((await readyz()).status).toBe(200);
});

test('Redis down: degraded, still 200, with the reason; ready again when it returns', async () => {
  await redis.kill();
  try {
    const r = await readyz();
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('degraded');
    expect(r.body.checks.redis?.status).toBe('down');
    expect(r.body.checks.redis?.reason).toMatch(/connection is|ECONNREFUSED|Connection is closed/);
    expect(r.body.checks.storage?.status).toBe('up');
  } finally {
    await redis.restart();
  }
  await waitUntil(async () => (await readyz()).body.status === 'ready', { timeoutMs: 10_000, what: 'ready again after Redis returned' });
}, 30_000);
