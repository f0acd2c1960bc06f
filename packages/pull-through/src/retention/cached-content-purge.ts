import type { RegistryStore } from '@pullthrough/storage';
import { pruneRepository } from './repository-pruner.js';
import { readInventory } from './repository-inventory.js';
import { unitsOf } from './retention-units.js';

/** What forgetting one repository's cached content removed. */
export interface RepositoryPurge {
  repository: string;
  tagsRemoved: number;
  manifestsRemoved: number;
  blobLinksRemoved: number;
  /** Tags kept because they were pushed here (`source: 'local'`). */
  localTagsKept: number;
}

export interface PurgeTotals {
  repositories: number;
  tagsRemoved: number;
  manifestsRemoved: number;
  blobLinksRemoved: number;
}

/**
 * Forget what a repository holds from its upstream: every cached tag, every manifest revision and
 * blob link that no locally pushed tag (`source: 'local'`) needs, and the referrer entries of what
 * goes. Shared blobs stay until garbage collection. Used when a rule is deleted or re-pointed (the
 * content was fetched under terms that no longer apply) and by `DELETE .../cache-rules/<name>?purge=true`.
 */
export async function purgeCachedContent(store: RegistryStore, repository: string, dryRun = false): Promise<RepositoryPurge> {
  const inventory = await readInventory(store, repository);
  const { units } = unitsOf(inventory, new Map());
  const local = inventory.tags.some((t) => t.local);
  // Nothing pushed here: forget the repository's parts wholesale (referrer lists of subjects it never held included).
  const pruned = await pruneRepository(store, inventory, units, { dryRun: dryRun || !local, now: Date.now(), graceMs: 0 });
  if (!dryRun && !local) await store.forgetRepository(repository);
  if (!dryRun) store.forgetCached();
  return {
    repository,
    tagsRemoved: pruned.tags.length,
    manifestsRemoved: pruned.manifests.length,
    blobLinksRemoved: pruned.blobLinks.length,
    localTagsKept: inventory.tags.filter((t) => t.local).length,
  };
}

export function purgeTotals(purges: readonly RepositoryPurge[]): PurgeTotals {
  return {
    repositories: purges.length,
    tagsRemoved: purges.reduce((n, p) => n + p.tagsRemoved, 0),
    manifestsRemoved: purges.reduce((n, p) => n + p.manifestsRemoved, 0),
    blobLinksRemoved: purges.reduce((n, p) => n + p.blobLinksRemoved, 0),
  };
}
