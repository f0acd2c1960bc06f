import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheRuleSet, type CacheRule } from '@pullthrough/cache-rules';
import { Redis } from 'ioredis';
import { RedisRetentionLock, RetentionRunner, silentLogger, type RetentionDefaults, type RetentionReport } from '@pullthrough/pull-through';
import { FilesystemDriver, layerLinkPath, RegistryStore, tagCurrentLinkPath } from '@pullthrough/storage';
import { pseudoRandomBytes, registryClientFor, startRegistry, uniquePrefix, type RedisServer, type UpstreamRegistry } from '@pullthrough/test-support';
import { loadFrontendConfig } from '../src/config.js';
import { startFrontend, type RunningFrontend } from '../src/frontend.js';
import { ADMIN_TOKEN, startRedis } from './harness.js';

// Retention of cached content against a real upstream registry, real Redis and real filesystem storage:
// images pulled through the frontend, then evicted by tag count, by age (time injected), and by a byte budget.

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const TAGS = ['t1', 't2', 't3', 't4', 't5'];
const DAY = 24 * 3600 * 1000;

let redis: RedisServer;
let upstream: UpstreamRegistry;
let frontend: RunningFrontend;
let dataDir: string;
let store: RegistryStore;
let gcCalls = 0;
let prefix: string;
/** Per upstream repository and tag: manifest digest, layer digest, and the bytes the image references. */
const images = new Map<string, { digest: string; layer: string; bytes: number }>();

/** Push five distinct single-layer images to `repository` upstream (layer i: (i+1) * 8 KiB). */
async function pushImages(repository: string, seed: number): Promise<void> {
  const client = registryClientFor(upstream);
  for (const [i, tag] of TAGS.entries()) {
    const layer = pseudoRandomBytes((i + 1) * 8192, `retention-${seed}-${i}`);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed, tag }));
    const layerDigest = await client.pushBlob(repository, layer);
    const configDigest = await client.pushBlob(repository, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
      }),
    );
    const digest = await client.pushManifest(repository, tag, manifest, OCI_MANIFEST);
    images.set(`${repository}:${tag}`, { digest, layer: layerDigest, bytes: manifest.length + config.length + layer.length });
  }
}
const image = (repository: string, tag: string) => images.get(`fixtures/${repository}:${tag}`)!;

const admin = (path: string, method = 'GET', body?: unknown) =>
  fetch(`${frontend.adminUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const rule = (name: string, prefix: string, retention?: CacheRule['retention']): CacheRule => ({
  name,
  sourceRepository: `${upstream.host}/fixtures/*`,
  targetRepository: `${prefix}/*`,
  ...(retention ? { retention } : {}),
});

/** Pull a tag through the frontend: the manifest, then its config and layer. */
async function pull(repository: string, tag: string): Promise<void> {
  const res = await fetch(`${frontend.dataUrl}/v2/${repository}/manifests/${tag}`, { headers: { accept: OCI_MANIFEST } });
  expect(res.status).toBe(200);
  const manifest = (await res.json()) as { config: { digest: string }; layers: { digest: string }[] };
  for (const blob of [manifest.config, ...manifest.layers]) {
    const b = await fetch(`${frontend.dataUrl}/v2/${repository}/blobs/${blob.digest}`);
    expect(b.status).toBe(200);
    await b.arrayBuffer();
  }
  // A streamed miss answers before its commit and link end: let them finish, so what is stored is what was pulled.
  await frontend.registry.blobs.settle();
}
const tagsOf = (repository: string) => store.listTags(repository);
const linked = (repository: string, digest: string) => existsSync(join(dataDir, layerLinkPath(repository, digest as never)));
/** A tag pushed here (record `source: 'local'`), written directly through the store's driver. */
const putLocalTag = (repository: string, tag: string, digest: string) =>
  store.driver.putContent(tagCurrentLinkPath(repository, tag), Buffer.from(JSON.stringify({ digest, checkedAt: new Date().toISOString(), source: 'local' })));
/**
 * A runner on a second store over the frontend's data dir (as the hydrator's is), with an injected clock. Its
 * `onPruned` does in-process what the `repository-content` announcement does for another process.
 */
const runner = (rules: CacheRule[], defaults: RetentionDefaults, now = Date.now()) =>
  new RetentionRunner({
    store,
    rules: () => CacheRuleSet.create(rules),
    lastPulled: frontend.lastPulled,
    defaults,
    logger: silentLogger,
    clock: () => now,
    freeUnreferenced: async () => ((gcCalls += 1), { bytesFreed: 0 }),
    onPruned: () => frontend.registry.store.forgetCached(),
  });
const evicted = (report: RetentionReport, repository: string) => report.repositories.find((r) => r.repository === repository)?.evicted.map((e) => `${e.tag}:${e.reason}`) ?? [];

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startRegistry({ auth: 'none' });
  await pushImages('fixtures/many', 1);
  await pushImages('fixtures/more', 2);
  dataDir = await mkdtemp(join(tmpdir(), 'pullthrough-retention-'));
  const config = loadFrontendConfig({
    PULLTHROUGH_DATA_PORT: '0',
    PULLTHROUGH_ADMIN_PORT: '0',
    PULLTHROUGH_DATA_DIR: dataDir,
    REDIS_URL: redis.url,
    PULLTHROUGH_QUEUE_PREFIX: uniquePrefix('retention'),
    PULLTHROUGH_INSECURE_UPSTREAMS: upstream.host,
    PULLTHROUGH_EGRESS_ALLOW: '127.0.0.1',
  });
  prefix = config.PULLTHROUGH_QUEUE_PREFIX;
  frontend = await startFrontend({ config, logger: silentLogger, adminToken: ADMIN_TOKEN, freeUnreferenced: async () => ((gcCalls += 1), { bytesFreed: 4242 }) });
  store = new RegistryStore(new FilesystemDriver(dataDir));
  for (const r of [rule('keep-two', 'keep2', { maxTags: 2 }), rule('unpulled', 'old'), rule('budget', 'budget'), rule('purge-me', 'gone')]) {
    expect((await admin(`/cache-rules/${r.name}`, 'PUT', r)).status).toBe(201);
  }
}, 120_000);
afterAll(async () => {
  await frontend?.close();
  await upstream?.stop();
  await redis?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test('maxTags keeps the most recently pulled tags; a dry run reports and changes nothing; many pulls cost one Redis write', async () => {
  const flushesBefore = frontend.lastPulled.flushes;
  for (const tag of TAGS) await pull('keep2/more', tag);
  await pull('keep2/more', 't2'); // t2 and t5 are now the two most recently pulled
  await putLocalTag('keep2/more', 'mine', image('more', 't1').digest);
  await frontend.lastPulled.flush();
  expect(frontend.lastPulled.flushes).toBe(flushesBefore + 1); // 6 pulls (manifest GETs): one pipeline

  const dry = await admin('/retention', 'POST', { dryRun: true });
  expect(dry.status).toBe(200);
  const planned = (await dry.json()) as RetentionReport;
  expect(planned.dryRun).toBe(true);
  expect(evicted(planned, 'keep2/more').sort()).toEqual(['t1:max-tags', 't3:max-tags', 't4:max-tags']);
  expect(await tagsOf('keep2/more')).toEqual(['mine', ...TAGS]);
  expect(linked('keep2/more', image('more', 't3').layer)).toBe(true);

  const real = await admin('/retention', 'POST', { dryRun: false });
  expect(real.status).toBe(200);
  const done = (await real.json()) as RetentionReport;
  expect(done.repositories.find((r) => r.repository === 'keep2/more')).toMatchObject({ rule: 'keep-two', tagsRemoved: 3, manifestsRemoved: 2 });
  expect(done.bytesFreed).toBe(4242);
  // The local tag stays, and with it t1's manifest and layer (t1's tag went).
  expect(await tagsOf('keep2/more')).toEqual(['mine', 't2', 't5']);
  expect(linked('keep2/more', image('more', 't1').layer)).toBe(true);
  expect(linked('keep2/more', image('more', 't3').layer)).toBe(false);
  expect(linked('keep2/more', image('more', 't4').layer)).toBe(false);
  // An evicted image is fetched again on its next pull.
  await pull('keep2/more', 't3');
  expect(await tagsOf('keep2/more')).toEqual(['mine', 't2', 't3', 't5']);
  expect(linked('keep2/more', image('more', 't3').layer)).toBe(true);
}, 60_000);

test('unpulledDays evicts what was not pulled for that long (time injected); a repository no rule maps is never touched', async () => {
  for (const tag of ['t1', 't2', 't3']) await pull('old/more', tag);
  await frontend.lastPulled.flush();
  const now = Date.now() + 40 * DAY;
  frontend.lastPulled.note('old/more', 't3', undefined, now - 2 * DAY);
  const before = await tagsOf('keep2/more');
  const report = await runner([rule('unpulled', 'old', { unpulledDays: 30 })], {}, now).run({ dryRun: false });
  expect(evicted(report, 'old/more').sort()).toEqual(['t1:unpulled', 't2:unpulled']);
  expect(report.repositories.map((r) => r.repository)).toEqual(['old/more']);
  expect(await tagsOf('old/more')).toEqual(['t3']);
  expect(linked('old/more', image('more', 't1').layer)).toBe(false);
  expect(linked('old/more', image('more', 't3').layer)).toBe(true);
  // keep2/more is mapped by no rule this runner knows, and its content is as old: untouched.
  expect(await tagsOf('keep2/more')).toEqual(before);
}, 60_000);

test('over the budget the least recently pulled go first until under it; local tags and what they hold stay; GC is asked to free the bytes', async () => {
  for (const tag of TAGS) await pull('budget/many', tag);
  const t0 = Date.now();
  TAGS.forEach((tag, i) => frontend.lastPulled.note('budget/many', tag, undefined, t0 + i * 1000)); // t1 oldest ... t5 newest
  await putLocalTag('budget/many', 'pinned', image('many', 't1').digest);
  const rules = [rule('budget', 'budget')];
  const measured = await runner(rules, {}, t0 + 10_000).run({ dryRun: true });
  const budgetBytes = measured.bytesReferencedBefore - image('many', 't2').bytes - 1;
  const calls = gcCalls;
  const report = await runner(rules, { budgetBytes }, t0 + 10_000).run({ dryRun: false });
  // t1 is the least recently pulled, but the local tag holds all of its content: it stays. Then t2, then t3.
  expect(evicted(report, 'budget/many')).toEqual(['t2:budget', 't3:budget']);
  expect(report.bytesReferencedAfter).toBeLessThanOrEqual(budgetBytes);
  expect(report.bytesReferencedAfter).toBe(measured.bytesReferencedBefore - image('many', 't2').bytes - image('many', 't3').bytes);
  expect(gcCalls).toBe(calls + 1);
  expect(await tagsOf('budget/many')).toEqual(['pinned', 't1', 't4', 't5']);
  expect(linked('budget/many', image('many', 't1').layer)).toBe(true);
  expect(linked('budget/many', image('many', 't2').layer)).toBe(false);
  expect(linked('budget/many', image('many', 't3').layer)).toBe(false);
  // Other repositories (no rule here) count towards the budget but lose nothing.
  expect(await tagsOf('keep2/more')).toEqual(['mine', 't2', 't3', 't5']);
  // A pull of an evicted image fetches it again, with the same digests.
  const again = await fetch(`${frontend.dataUrl}/v2/budget/many/manifests/t2`, { headers: { accept: OCI_MANIFEST } });
  expect(again.headers.get('docker-content-digest')).toBe(image('many', 't2').digest);
  await again.arrayBuffer();
  await pull('budget/many', 't2');
  expect(linked('budget/many', image('many', 't2').layer)).toBe(true);
  expect(await tagsOf('budget/many')).toEqual(['pinned', 't1', 't2', 't4', 't5']);
}, 60_000);

test('deleting a rule with purge=true reports what its repositories forgot, keeps local tags, and runs GC; bad purge values are refused', async () => {
  for (const tag of ['t1', 't2']) await pull('gone/many', tag);
  await putLocalTag('gone/many', 'pushed', image('many', 't2').digest);
  // A static rule inside the purged rule's wildcard keeps its repository.
  const inner = { name: 'gone-keep', sourceRepository: `${upstream.host}/fixtures/many`, targetRepository: 'gone/keep' };
  expect((await admin('/cache-rules/gone-keep', 'PUT', inner)).status).toBe(201);
  await pull('gone/keep', 't1');
  const bad = await admin('/cache-rules/purge-me?purge=yes', 'DELETE');
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { errors: unknown[] }).errors).toEqual([{ field: 'purge', message: 'must be true or false' }]);
  const calls = gcCalls;
  const res = await admin('/cache-rules/purge-me?purge=true', 'DELETE');
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({
    rule: 'purge-me',
    purged: {
      repositories: [{ repository: 'gone/many', tagsRemoved: 2, manifestsRemoved: 1, blobLinksRemoved: 2, localTagsKept: 1 }],
      totals: { repositories: 1, tagsRemoved: 2, manifestsRemoved: 1, blobLinksRemoved: 2 },
      bytesFreed: 4242,
    },
  });
  expect(gcCalls).toBe(calls + 1);
  expect(await tagsOf('gone/many')).toEqual(['pushed']);
  expect(linked('gone/many', image('many', 't2').layer)).toBe(true);
  expect(linked('gone/many', image('many', 't1').layer)).toBe(false);
  // Other rules' repositories are untouched, the one inside the purged wildcard included.
  expect(await tagsOf('gone/keep')).toEqual(['t1']);
  expect(linked('gone/keep', image('many', 't1').layer)).toBe(true);
  expect(await tagsOf('budget/many')).toEqual(['pinned', 't1', 't2', 't4', 't5']);
}, 60_000);

test('POST /api/v1/retention validates its body with field names', async () => {
  const res = await admin('/retention', 'POST', { dryRun: 'yes', keep: 1 });
  expect(res.status).toBe(422);
  expect(((await res.json()) as { errors: unknown[] }).errors).toEqual([{ field: 'keep', message: 'unknown field' }]);
  const typed = await admin('/retention', 'POST', { dryRun: 'yes' });
  expect(typed.status).toBe(422);
  expect(((await typed.json()) as { errors: unknown[] }).errors).toEqual([{ field: 'dryRun', message: 'must be true or false' }]);
});

test('a real run while another holds the lock answers 409; with Redis down a dry run still answers and a real run is 503', async () => {
  const client = new Redis(redis.url);
  try {
    const held = await new RedisRetentionLock(client, prefix).acquire();
    expect(held).not.toBeUndefined();
    const busy = await admin('/retention', 'POST', { dryRun: false });
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { detail: string }).detail).toMatch(/in progress/);
    expect((await admin('/retention', 'POST', { dryRun: true })).status).toBe(200);
    await held!.release();
  } finally {
    client.disconnect();
  }
  await redis.kill();
  const dry = await admin('/retention', 'POST', { dryRun: true });
  expect(dry.status).toBe(200);
  expect(((await dry.json()) as RetentionReport).dryRun).toBe(true);
  const real = await admin('/retention', 'POST', { dryRun: false });
  expect(real.status).toBe(503);
  expect(real.headers.get('retry-after')).toBe('30');
}, 30_000);
