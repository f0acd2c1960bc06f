import type { Digest } from '@pullthrough/oci';
import type { RepositoryContents, StoredBlob } from './storage-scan.js';

/** Count and bytes of stored objects. */
export interface CountAndBytes {
  count: number;
  bytes: number;
}

/** What one repository holds. Only stored blobs count (a link to a blob not fetched yet counts nothing). */
export interface RepositoryUsage {
  repository: string;
  /** Blobs linked to the repository (layers, configs; manifests pushed or mounted as blobs too). */
  blobs: CountAndBytes;
  /** Manifests the repository has a revision of. */
  manifests: CountAndBytes;
  tags: number;
  /** Bytes of every distinct digest the repository holds (a manifest also linked as a blob counts once). */
  bytes: number;
}

export interface StorageUsage {
  repositories: RepositoryUsage[];
  /** Bytes of every distinct digest some repository holds (a blob shared by repositories counts once). */
  bytes: number;
  /** Every committed blob, held by a repository or not (what garbage collection may free is the difference). */
  stored: CountAndBytes;
}

/** How many of `digests` are stored, and their bytes (each digest counted as often as it is listed). */
export const sizeOf = (blobs: ReadonlyMap<Digest, StoredBlob>, digests: Iterable<Digest>): CountAndBytes => {
  let count = 0;
  let bytes = 0;
  for (const d of digests) {
    const b = blobs.get(d);
    if (!b) continue;
    count++;
    bytes += b.size;
  }
  return { count, bytes };
};

/** Usage per repository and in total, from one scan (scanBlobs + scanRepositories). */
export function storageUsage(blobs: ReadonlyMap<Digest, StoredBlob>, repositories: ReadonlyMap<string, RepositoryContents>): StorageUsage {
  const everything = new Set<Digest>();
  const out: RepositoryUsage[] = [];
  for (const repo of repositories.values()) {
    const layers = new Set(repo.layers.map((l) => l.digest));
    const revisions = new Set(repo.revisions.map((l) => l.digest));
    const all = new Set([...layers, ...revisions]);
    for (const d of all) everything.add(d);
    const usage = { repository: repo.repository, blobs: sizeOf(blobs, layers), manifests: sizeOf(blobs, revisions), tags: repo.tags, bytes: sizeOf(blobs, all).bytes };
    if (usage.blobs.count + usage.manifests.count + usage.tags > 0) out.push(usage);
  }
  out.sort((a, b) => (a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : 0));
  return { repositories: out, bytes: sizeOf(blobs, everything).bytes, stored: sizeOf(blobs, blobs.keys()) };
}
