import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheRuleSet } from '@pullthrough/cache-rules';
import { digestOf, type Digest } from '@pullthrough/oci';
import { FilesystemDriver, RegistryStore, type StorageUsage } from '@pullthrough/storage';
import { UsageService } from './usage-service.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let dir: string;
let store: RegistryStore;
beforeEach(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), 'usage-'));
  store = new RegistryStore(new FilesystemDriver(dir));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

async function blob(bytes: Buffer): Promise<Digest> {
  const w = await store.createBlobWriter({ digest: digestOf(bytes) });
  w.end(bytes);
  await w.commit();
  return digestOf(bytes);
}

/** An image of `layer` (shared when the same) and a config of its own, tagged `v1`. */
async function image(repository: string, layer: Buffer): Promise<number> {
  const config = Buffer.from(`config of ${repository}`);
  const [c, l] = [await blob(config), await blob(layer)];
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: c, size: config.length }, layers: [{ digest: l, size: layer.length }] }));
  await store.putManifest(repository, { digest: digestOf(bytes), mediaType: OCI_MANIFEST, bytes });
  await store.linkBlobs(repository, [c, l]);
  await store.putTag(repository, 'v1', digestOf(bytes));
  return config.length + bytes.length;
}

const rules = CacheRuleSet.create([
  { name: 'hub-rule', sourceRepository: 'registry-1.docker.io/library/*', targetRepository: 'hub/*' },
  { name: 'quay-rule', sourceRepository: 'quay.io/*', targetRepository: 'quay/*' },
]);

test('per repository, per rule (a shared layer once per rule), local repositories under rule null, last pulled when wired, a scan reused', async () => {
  const shared = Buffer.alloc(1000, 7);
  const own = { a: await image('hub/a', shared), b: await image('hub/b', shared), q: await image('quay/x', Buffer.alloc(300, 1)), l: await image('team/app', shared) };
  const scans: StorageUsage[] = [];
  const t1 = Date.parse('2026-12-01T10:00:00Z');
  const t2 = Date.parse('2026-12-01T12:00:00Z');
  const service = new UsageService(store.driver, {
    rules: () => rules,
    onScan: (u) => scans.push(u),
    lastPulled: async () => new Map([['hub/a', new Map([['v1', t1], ['sha256:' + '0'.repeat(64), t2]])], ['hub/b', new Map([['v1', t1]])]]),
  });
  const report = await service.report();
  expect(report.repositories.map((r) => [r.repository, r.rule, r.bytes, r.lastPulled])).toEqual([
    ['hub/a', 'hub-rule', own.a + 1000, '2026-12-01T12:00:00.000Z'],
    ['hub/b', 'hub-rule', own.b + 1000, '2026-12-01T10:00:00.000Z'],
    ['quay/x', 'quay-rule', own.q + 300, undefined],
    ['team/app', null, own.l + 1000, undefined],
  ]);
  expect(report.rules.map((r) => [r.rule, r.repositories, r.tags, r.bytes, r.lastPulled])).toEqual([
    ['hub-rule', 2, 2, own.a + own.b + 1000, '2026-12-01T12:00:00.000Z'],
    ['quay-rule', 1, 1, own.q + 300, undefined],
    [null, 1, 1, own.l + 1000, undefined],
  ]);
  expect(report.total).toEqual({ repositories: 4, bytes: own.a + own.b + own.q + own.l + 1300 });
  expect(report.stored.bytes).toBe(report.total.bytes);
  // Reused within maxAgeMs: one scan.
  expect(await service.report()).toBe(report);
  expect(scans).toHaveLength(1);
});

test('a last-pulled record that fails leaves the field out; no record wired leaves it out', async () => {
  await image('hub/a', Buffer.from('layer'));
  const failing = new UsageService(store.driver, { rules: () => rules, lastPulled: async () => Promise.reject(new Error('redis down')) });
  expect((await failing.report()).repositories[0]).not.toHaveProperty('lastPulled');
  const plain = new UsageService(store.driver, { rules: () => rules, maxAgeMs: 0 });
  expect((await plain.report()).repositories.map((r) => r.repository)).toEqual(['hub/a']);
});
