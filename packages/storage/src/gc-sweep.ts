import type { Digest } from '@pullthrough/oci';
import type { RepositoryContents, RepositoryLink, StoredBlob } from './storage-scan.js';
import type { StorageDriver } from './storage-driver.js';
import { blobPrefix } from './store-layout.js';

/** A blob no manifest refers to, with every repository link to it seen by the scan. */
export interface SweepCandidate {
  blob: StoredBlob;
  links: RepositoryLink[];
}

export interface SweepPlan {
  /** Unreferenced, and neither the blob nor any link to it is younger than the cutoff. */
  candidates: SweepCandidate[];
  /** Unreferenced but kept: the blob or a link to it was written after the cutoff (grace period). */
  young: SweepCandidate[];
  /**
   * Links to a blob that is not stored: revision links (a manifest whose bytes are gone), and blob
   * links no manifest refers to, older than the cutoff. (A blob link whose blob is not stored yet but
   * that a manifest names is a pull-through link waiting for its bytes, and stays.)
   */
  danglingLinks: RepositoryLink[];
}

/**
 * Sweep plan from a scan: every stored blob not in `marked` is a candidate unless it, or one of
 * its links, changed at or after `cutoff` (now minus the grace period).
 */
export function planSweep(
  blobs: ReadonlyMap<Digest, StoredBlob>,
  repositories: ReadonlyMap<string, RepositoryContents>,
  marked: ReadonlySet<Digest>,
  cutoff: Date,
): SweepPlan {
  const linksOf = new Map<Digest, RepositoryLink[]>();
  const dangling: RepositoryLink[] = [];
  for (const repo of repositories.values()) {
    for (const link of repo.layers) {
      if (blobs.has(link.digest)) {
        const list = linksOf.get(link.digest);
        if (list) list.push(link);
        else linksOf.set(link.digest, [link]);
      } else if (!marked.has(link.digest) && link.modifiedAt < cutoff) dangling.push(link);
    }
    for (const link of repo.revisions) if (!blobs.has(link.digest) && link.modifiedAt < cutoff) dangling.push(link);
  }
  const candidates: SweepCandidate[] = [];
  const young: SweepCandidate[] = [];
  for (const blob of blobs.values()) {
    if (marked.has(blob.digest)) continue;
    const links = linksOf.get(blob.digest) ?? [];
    const isYoung = blob.modifiedAt >= cutoff || links.some((l) => l.modifiedAt >= cutoff);
    (isYoung ? young : candidates).push({ blob, links });
  }
  return { candidates, young, danglingLinks: dangling };
}

/**
 * Delete a blob: its repository links first, then the object (a sweep cut short leaves an
 * unlinked blob, which the next collection frees, never a link that outlived its checks).
 */
export async function deleteBlobAndLinks(driver: StorageDriver, digest: Digest, links: readonly RepositoryLink[]): Promise<void> {
  for (const link of links) await driver.delete(link.path);
  await driver.delete(blobPrefix(digest));
}

/** Delete one link object (its emptied prefixes go with it). */
export async function deleteLink(driver: StorageDriver, link: RepositoryLink): Promise<void> {
  await driver.delete(link.path);
}
