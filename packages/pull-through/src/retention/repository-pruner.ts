import type { Digest } from '@pullthrough/oci';
import { layerLinkPath, manifestRevisionLinkPath, referrerPath, referrersPath, type RegistryStore } from '@pullthrough/storage';
import { manifestClosure, type RepositoryInventory } from './repository-inventory.js';
import type { RetentionUnit } from './retention-units.js';

/** What pruning a repository removes (or, in a dry run, would remove). */
export interface PruneResult {
  tags: string[];
  manifests: Digest[];
  blobLinks: Digest[];
}

export interface PruneOptions {
  dryRun: boolean;
  now: number;
  /**
   * Revisions and blob links that belong to no unit at all (a push or a pull between its blob and its
   * manifest) are removed only once older than this (ms); what an evicted unit held goes at once.
   */
  graceMs: number;
}

/**
 * Remove evicted units from one repository: their tags, every manifest revision nothing kept needs
 * (kept: the remaining tags, local ones included, and the remaining root manifests, with their index
 * children and referrers), the referrer entries of removed manifests, and the blob links no kept
 * manifest uses. Shared blobs stay: garbage collection frees what no repository references.
 */
export async function pruneRepository(store: RegistryStore, inventory: RepositoryInventory, evicted: readonly RetentionUnit[], options: PruneOptions): Promise<PruneResult> {
  const { repository } = inventory;
  const evictedTags = new Set(evicted.filter((u) => u.kind === 'tag').map((u) => u.name));
  const evictedRoots = new Set(evicted.filter((u) => u.kind === 'manifest').map((u) => u.digest));
  const keptTags = inventory.tags.filter((t) => t.local || !evictedTags.has(t.tag));
  const tagged = new Set(inventory.tags.map((t) => t.digest));
  const listed = new Set([...inventory.manifests.values()].flatMap((m) => m.children));
  const untaggedRoots = [...inventory.manifests.values()]
    .filter((m) => !tagged.has(m.digest) && !listed.has(m.digest) && !(m.subject && inventory.manifests.has(m.subject)))
    .map((m) => m.digest);
  const kept = manifestClosure(inventory, [...keptTags.map((t) => t.digest), ...untaggedRoots.filter((d) => !evictedRoots.has(d))]);
  const released = manifestClosure(inventory, evicted.map((u) => u.digest));
  const old = (at: number) => at < options.now - options.graceMs;

  const manifests = [...inventory.manifests.values()].filter((m) => !kept.has(m.digest) && (released.has(m.digest) || old(m.storedAt))).map((m) => m.digest);
  const removed = new Set(manifests);
  const stays = [...inventory.manifests.keys()].filter((d) => !removed.has(d));
  const used = new Set<Digest>(stays);
  for (const d of stays) for (const b of inventory.manifests.get(d)!.blobs) used.add(b.digest);
  const releasedBlobs = new Set([...released].flatMap((d) => inventory.manifests.get(d)!.blobs.map((b) => b.digest)));
  const blobLinks = [...inventory.links].filter(([d, at]) => !used.has(d) && (releasedBlobs.has(d) || old(at))).map(([d]) => d);
  const result: PruneResult = { tags: [...evictedTags].filter((t) => keptTags.every((k) => k.tag !== t)), manifests, blobLinks };
  if (options.dryRun) return result;

  // Tags first (nothing then points at a manifest being removed), then revisions, then links.
  for (const tag of result.tags) await store.deleteTag(repository, tag);
  for (const digest of manifests) {
    await store.driver.delete(referrersPath(repository, digest));
    const subject = inventory.manifests.get(digest)!.subject;
    if (subject && !removed.has(subject)) await store.driver.delete(referrerPath(repository, subject, digest));
    await store.driver.delete(manifestRevisionLinkPath(repository, digest).replace(/\/link$/, ''));
  }
  for (const digest of blobLinks) await store.driver.delete(layerLinkPath(repository, digest).replace(/\/link$/, ''));
  if (manifests.length > 0) store.forgetCached();
  return result;
}
