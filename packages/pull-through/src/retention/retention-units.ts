import type { Digest } from '@pullthrough/oci';
import type { PullTimes } from './last-pulled.js';
import { contentOf, manifestClosure, type RepositoryInventory } from './repository-inventory.js';

/**
 * What retention evicts as a whole: a cached tag (with the manifests only it keeps), or a root
 * manifest no tag points to (pulled by digest). Index children and referrers go with their root.
 */
export interface RetentionUnit {
  repository: string;
  kind: 'tag' | 'manifest';
  /** The tag name, or the manifest digest. */
  name: string;
  digest: Digest;
  /** Last pull (of the tag or of its manifest), else when it was last checked upstream or stored (ms). */
  recency: number;
  /** Pulled at least once (else `recency` is the fallback). */
  pulled: boolean;
  /** Digests (manifests and linked blobs) it keeps, with sizes. */
  content: Map<Digest, number>;
}

/** A repository's units, and what its local tags keep (never evicted). */
export interface RepositoryUnits {
  units: RetentionUnit[];
  /** Content local tags need: counted towards the budget, never evicted. */
  protectedContent: Map<Digest, number>;
}

/** Split a repository into units; `times` are its pull times. */
export function unitsOf(inventory: RepositoryInventory, times: PullTimes): RepositoryUnits {
  const { repository } = inventory;
  const pulledAt = (...members: string[]) => Math.max(-1, ...members.map((m) => times.get(m) ?? -1));
  const units: RetentionUnit[] = [];
  const protectedRoots: Digest[] = [];
  for (const t of inventory.tags) {
    if (t.local) {
      protectedRoots.push(t.digest);
      continue;
    }
    const pulled = pulledAt(t.tag, t.digest);
    units.push({
      repository,
      kind: 'tag',
      name: t.tag,
      digest: t.digest,
      recency: pulled >= 0 ? pulled : t.checkedAt,
      pulled: pulled >= 0,
      content: contentOf(inventory, manifestClosure(inventory, [t.digest])),
    });
  }
  // Root manifests: no tag points to them, no manifest of the repository lists them, no subject here.
  const tagged = new Set(inventory.tags.map((t) => t.digest));
  const listed = new Set([...inventory.manifests.values()].flatMap((m) => m.children));
  for (const m of inventory.manifests.values()) {
    if (tagged.has(m.digest) || listed.has(m.digest) || (m.subject && inventory.manifests.has(m.subject))) continue;
    const pulled = pulledAt(m.digest);
    units.push({
      repository,
      kind: 'manifest',
      name: m.digest,
      digest: m.digest,
      recency: pulled >= 0 ? pulled : m.storedAt,
      pulled: pulled >= 0,
      content: contentOf(inventory, manifestClosure(inventory, [m.digest])),
    });
  }
  return { units, protectedContent: contentOf(inventory, manifestClosure(inventory, protectedRoots)) };
}

/** Least recently pulled first; ties by repository and name (a stable order). */
export const byRecency = (a: RetentionUnit, b: RetentionUnit): number =>
  a.recency - b.recency || a.repository.localeCompare(b.repository) || a.name.localeCompare(b.name);
