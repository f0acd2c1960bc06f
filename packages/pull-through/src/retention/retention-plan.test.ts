import type { Digest } from '@pullthrough/oci';
import { planRetention, type PlanRepository } from './retention-plan.js';
import { unitsOf } from './retention-units.js';
import type { ManifestEntry, RepositoryInventory, TagEntry } from './repository-inventory.js';

// The planner on hand-built inventories: which units go, in which order, and how shared content is counted.
const d = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const DAY = 24 * 3600 * 1000;
const NOW = 100 * DAY;

/** A manifest `m` (100 bytes) with one layer `layer` of `size` bytes. */
const manifest = (m: string, layer: string, size: number): ManifestEntry => ({ digest: d(m), size: 100, storedAt: 0, children: [], blobs: [{ digest: d(layer), size }] });
function inventory(repository: string, tags: [string, string, boolean?][], manifests: ManifestEntry[]): RepositoryInventory {
  const links = new Map(manifests.flatMap((m) => m.blobs.map((b) => [b.digest, 0] as const)));
  return {
    repository,
    tags: tags.map(([tag, m, local]): TagEntry => ({ tag, digest: d(m), checkedAt: 0, local: local === true })),
    manifests: new Map(manifests.map((m) => [m.digest, m])),
    links,
  };
}
const repo = (inv: RepositoryInventory, pulls: Record<string, number>, policy?: PlanRepository['policy']): PlanRepository => ({
  repository: inv.repository,
  units: unitsOf(inv, new Map(Object.entries(pulls))),
  ...(policy ? { policy } : {}),
});
const names = (plan: ReturnType<typeof planRetention>) => plan.evictions.map((e) => `${e.unit.repository}:${e.unit.name}:${e.reason}`);

const app = inventory('c/app', [['a', '1'], ['b', '2'], ['c', '3']], [manifest('1', 'a', 1000), manifest('2', 'b', 2000), manifest('3', 'c', 3000)]);

test('unpulledDays first, then maxTags over what remains (most recent kept)', () => {
  const plan = planRetention({ repositories: [repo(app, { a: NOW - 40 * DAY, b: NOW - 2 * DAY, c: NOW - DAY }, { maxTags: 1, unpulledDays: 30 })], now: NOW });
  expect(names(plan)).toEqual(['c/app:a:unpulled', 'c/app:b:max-tags']);
  expect(plan.bytesBefore).toBe(6300);
  expect(plan.bytesAfter).toBe(3100);
});

test('a tag never pulled counts from its checkedAt; a repository without a policy is never evicted', () => {
  const plan = planRetention({ repositories: [repo(app, {}, { unpulledDays: 30 }), repo(inventory('local/x', [['old', '1']], [manifest('1', 'a', 1000)]), {})], now: NOW });
  expect(names(plan)).toEqual(['c/app:a:unpulled', 'c/app:b:unpulled', 'c/app:c:unpulled']);
  // local/x still references manifest 1 and layer a: only b and c are freed.
  expect(plan.bytesAfter).toBe(1100);
});

test('budget: least recently pulled first; shared content frees nothing until its last holder goes; what local tags hold is skipped', () => {
  const shared = inventory('c/other', [['x', '1'], ['mine', '2', true]], [manifest('1', 'a', 1000), manifest('2', 'b', 2000)]);
  const plan = planRetention({
    repositories: [repo(app, { a: 10, b: 20, c: 30 }, {}), repo(shared, { x: 5 }, {})],
    budgetBytes: 3200,
    now: NOW,
  });
  // x (oldest) frees nothing yet (c/app:a holds manifest 1 and layer a), then a frees 1100; b is skipped
  // (the local tag mine holds all of it); c frees 3100.
  expect(names(plan)).toEqual(['c/other:x:budget', 'c/app:a:budget', 'c/app:c:budget']);
  expect(plan.bytesBefore).toBe(6300);
  expect(plan.bytesAfter).toBe(2100);
});

test('a root manifest pulled by digest is a unit; an index child and a referrer go with their root', () => {
  const index: ManifestEntry = { digest: d('9'), size: 50, storedAt: NOW, children: [d('1')], blobs: [] };
  const signature: ManifestEntry = { digest: d('8'), size: 10, storedAt: NOW, children: [], blobs: [], subject: d('9') };
  const inv = inventory('c/idx', [], [manifest('1', 'a', 1000)]);
  inv.manifests.set(index.digest, index);
  inv.manifests.set(signature.digest, signature);
  const { units } = unitsOf(inv, new Map([[d('9'), NOW - 40 * DAY]]));
  expect(units.map((u) => [u.kind, u.name, u.content.size])).toEqual([['manifest', d('9'), 4]]);
  const plan = planRetention({ repositories: [{ repository: 'c/idx', units: { units, protectedContent: new Map() }, policy: { unpulledDays: 30 } }], now: NOW });
  expect(plan.bytesAfter).toBe(0);
});
