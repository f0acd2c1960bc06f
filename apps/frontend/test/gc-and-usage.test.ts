import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOf } from '@pullthrough/oci';
import { Redis } from 'ioredis';
import { blobDataPath, FilesystemDriver, layerLinkPath, RegistryStore } from '@pullthrough/storage';
import { skopeoCopy, startJwksServer, tempDir, waitUntil, type JwksServer, type RedisServer } from '@pullthrough/test-support';
import { adminOidcEnv, ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { startHydratorFor, type HydratorProcess } from './hydrator-process.js';
import { memoryLogger } from './memory-logger.js';

/**
 * POST/GET /api/v1/gc (queued for a real hydrator process) and GET /api/v1/usage, after a real pull
 * through the cache from a real upstream registry, with OIDC callers of each role.
 */

const AUDIENCE = 'api://pullthrough-gc-test';
const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

let redis: RedisServer;
let upstream: Upstream;
let issuer: JwksServer;
let cache: Cache;
let hydrator: HydratorProcess;
const log = memoryLogger();

beforeAll(async () => {
  [redis, upstream, issuer] = await Promise.all([startRedis(), startUpstream(), startJwksServer()]);
  cache = await startCache(
    redis,
    [upstream.proxy.host],
    adminOidcEnv(issuer, AUDIENCE),
    {},
    undefined,
    log.logger,
  );
  hydrator = await startHydratorFor(cache, redis, upstream, { PULLTHROUGH_GC_SCHEDULE: 'off' });
  expect((await putRule(cache, { name: 'usage-up', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'up/*' })).status).toBe(201);
}, 120_000);
afterAll(async () => {
  await hydrator?.stop();
  await cache?.stop();
  await issuer?.stop();
  await upstream?.stop();
  await redis?.stop();
});

const nowS = () => Math.floor(Date.now() / 1000);
const token = (role: 'Reader' | 'Operator' | 'Admin') =>
  issuer.sign({ iss: issuer.issuer, aud: AUDIENCE, sub: `sub-of-${role.toLowerCase()}`, roles: [`Pullthrough.${role}`], exp: nowS() + 600, nbf: nowS() - 5 });

function call(path: string, bearer: string, method = 'GET', body?: unknown, requestId?: string) {
  return fetch(`${cache.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(requestId ? { 'x-request-id': requestId } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function pull(name: string, tag: string): Promise<Buffer> {
  const dir = await tempDir('gc-pull-');
  try {
    await skopeoCopy(['--src-tls-verify=false', '--src-no-creds', `docker://${cache.host}/up/${name}:${tag}`, `dir:${dir.path}`]);
    return await readFile(join(dir.path, 'manifest.json'));
  } finally {
    await dir.remove();
  }
}

/** Wait for a queued collection to finish and return what GET /api/v1/gc/<id> says. */
async function finished(id: string): Promise<Record<string, any>> {
  let view: Record<string, any> = {};
  await waitUntil(
    async () => {
      view = (await (await call(`/api/v1/gc/${id}`, token('Reader'))).json()) as Record<string, any>;
      return view.state === 'completed' || view.state === 'failed';
    },
    { what: `gc job ${id}`, timeoutMs: 30_000, intervalMs: 100 },
  );
  return view;
}

describe('usage', () => {
  test('bytes and counts of a pulled image equal the sum of its manifest and blob sizes, per repository, per rule and in total', async () => {
    const f = upstream.fixtures.multiLayer;
    const name = f.repository.replace(/^fixtures\//, '');
    expect(sha256(await pull(name, f.tag))).toBe(f.digest);
    const blobBytes = f.blobs.reduce((n, b) => n + b.size, 0);
    const res = await call('/api/v1/usage', token('Reader'));
    expect(res.status).toBe(200);
    const usage = (await res.json()) as Record<string, any>;
    const row = usage.repositories.find((r: { repository: string }) => r.repository === `up/${name}`);
    expect(row).toEqual({
      repository: `up/${name}`,
      rule: 'usage-up',
      blobs: { count: f.blobs.length, bytes: blobBytes },
      manifests: { count: 1, bytes: f.manifest.length },
      tags: 1,
      bytes: blobBytes + f.manifest.length,
      // The manifest pull just made, from retention's last-pulled record.
      lastPulled: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(Date.now() - Date.parse(row.lastPulled)).toBeLessThan(120_000);
    expect(usage.rules).toEqual([{ rule: 'usage-up', repositories: 1, blobs: row.blobs, manifests: row.manifests, tags: 1, bytes: row.bytes, lastPulled: row.lastPulled }]);
    expect(usage.total).toEqual({ repositories: 1, bytes: row.bytes });
    expect(usage.stored).toEqual({ count: f.blobs.length + 1, bytes: row.bytes });
    // The gauge shows that scan (a scrape never walks the store).
    const metrics = await (await fetch(`${cache.adminUrl}/metrics`)).text();
    expect(metrics).toContain(`pullthrough_storage_used_bytes{kind="held"} ${row.bytes}`);
    expect(metrics).toContain(`pullthrough_storage_used_bytes{kind="stored"} ${row.bytes}`);
  }, 60_000);
});

describe('POST /api/v1/gc', () => {
  test('a reader may not ask; an operator may dry-run but not delete; bad input is problem JSON naming the field', async () => {
    const reader = await call('/api/v1/gc', token('Reader'), 'POST', { dryRun: true });
    expect(reader.status).toBe(403);
    const denied = await call('/api/v1/gc', token('Operator'), 'POST', { dryRun: false }, 'gc-denied-1');
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { detail: string }).detail).toMatch(/dryRun: false.*needs "admin"/);
    expect(log.lines.filter((l) => l.requestId === 'gc-denied-1' && l.audit === true).map((l) => [l.event, l.action, l.reason])).toEqual([['access.denied', 'gc.run', 'gc-deletes']]);

    const bad = await call('/api/v1/gc', token('Operator'), 'POST', { dryRun: 'yes', everything: true });
    expect([bad.status, bad.headers.get('content-type')]).toEqual([422, 'application/problem+json; charset=utf-8']);
    expect(((await bad.json()) as { errors: { field: string }[] }).errors.map((e) => e.field)).toEqual(['dryRun', 'everything']);
    const notJson = await call('/api/v1/gc', token('Operator'), 'POST', [true]);
    expect(notJson.status).toBe(400);
    const badId = await call('/api/v1/gc/..%2Fetc', token('Reader'));
    expect([badId.status, ((await badId.json()) as { errors: { field: string }[] }).errors[0]!.field]).toEqual([400, 'id']);
    expect((await call(`/api/v1/gc/gc-${randomUUID()}`, token('Reader'))).status).toBe(404);

    const dry = await call('/api/v1/gc', token('Operator'), 'POST', { dryRun: true });
    expect(dry.status).toBe(202);
    const { id } = (await dry.json()) as { id: string };
    expect(dry.headers.get('location')).toBe(`/api/v1/gc/${id}`);
    const view = await finished(id);
    expect([view.state, view.dryRun, view.report.dryRun]).toEqual(['completed', true, true]);
    expect(view.report.referenced.count).toBeGreaterThan(0);
  }, 60_000);

  test('an admin runs a real collection: the old orphan is freed with its link, the pulled image stays and pulls again', async () => {
    const f = upstream.fixtures.multiLayer;
    const name = f.repository.replace(/^fixtures\//, '');
    if (!(await new RegistryStore(new FilesystemDriver(cache.dataDir)).statManifest(`up/${name}`, f.digest))) await pull(name, f.tag);
    // An orphan linked to a repository, two hours old (past the default grace of an hour).
    const store = new RegistryStore(new FilesystemDriver(cache.dataDir));
    const bytes = randomBytes(5000);
    const digest = digestOf(bytes);
    const writer = await store.createBlobWriter({ digest });
    writer.end(bytes);
    await writer.commit();
    await store.linkBlob('local/orphans', digest);
    const past = new Date(Date.now() - 2 * 3600_000);
    for (const p of [blobDataPath(digest), layerLinkPath('local/orphans', digest)]) await utimes(join(cache.dataDir, p), past, past);

    const dry = await finished(((await (await call('/api/v1/gc', token('Operator'), 'POST', { dryRun: true })).json()) as { id: string }).id);
    expect(dry.report.freed).toEqual({ count: 1, bytes: 5000, links: 1 });
    expect(await store.statBlob(digest)).toEqual({ size: 5000 });

    const res = await call('/api/v1/gc', ADMIN_TOKEN, 'POST', { dryRun: false }, 'gc-real-1');
    expect(res.status).toBe(202);
    const view = await finished(((await res.json()) as { id: string }).id);
    expect([view.state, view.report.dryRun, view.report.freed]).toEqual(['completed', false, { count: 1, bytes: 5000, links: 1 }]);
    expect(await store.statBlob(digest)).toBeUndefined();
    expect(await store.isBlobLinked('local/orphans', digest)).toBe(false);
    for (const b of f.blobs) expect([b.digest, await store.statBlob(b.digest)]).toEqual([b.digest, { size: b.size }]);
    // The change is audited with its outcome.
    expect(log.lines.filter((l) => l.requestId === 'gc-real-1' && l.audit === true).map((l) => [l.action, l.status])).toEqual([['gc.run', 202]]);
    expect(sha256(await pull(name, f.tag))).toBe(f.digest);
  }, 60_000);
});

describe('retention frees what it evicted', () => {
  test('purging a deleted rule runs a collection that frees the image only it held, and reports the bytes', async () => {
    expect((await putRule(cache, { name: 'purge-gc-rule', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'pg/*' })).status).toBe(201);
    const f = upstream.fixtures.small;
    const name = f.repository.replace(/^fixtures\//, '');
    const dir = await tempDir('gc-purge-pull-');
    try {
      await skopeoCopy(['--src-tls-verify=false', '--src-no-creds', `docker://${cache.host}/pg/${name}:${f.tag}`, `dir:${dir.path}`]);
    } finally {
      await dir.remove();
    }
    const store = new RegistryStore(new FilesystemDriver(cache.dataDir));
    await waitUntil(async () => (await Promise.all(f.blobs.map((b) => store.statRepositoryBlob(`pg/${name}`, b.digest)))).every(Boolean), { what: 'the pulled blobs committed', timeoutMs: 10_000 });
    // An hour passes: the blobs are old, and their touches forgotten.
    const past = new Date(Date.now() - 2 * 3600_000);
    for await (const entry of store.driver.walk('blobs')) await utimes(join(cache.dataDir, entry.path), past, past);
    const client = new Redis(redis.url);
    try {
      await client.del(`${cache.queuePrefix}:{gc}:touches`);
    } finally {
      client.disconnect();
    }
    const res = await call('/api/v1/cache-rules/purge-gc-rule?purge=true', ADMIN_TOKEN, 'DELETE');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { purged: { bytesFreed?: number } };
    expect(body.purged.bytesFreed).toBe(f.manifest.length + f.blobs.reduce((n, b) => n + b.size, 0));
    for (const b of f.blobs) expect([b.digest, await store.statBlob(b.digest)]).toEqual([b.digest, undefined]);
    // What other repositories hold stays.
    for (const b of upstream.fixtures.multiLayer.blobs) expect([b.digest, await store.statBlob(b.digest)]).toEqual([b.digest, { size: b.size }]);
  }, 60_000);
});
