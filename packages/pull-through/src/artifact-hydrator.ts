import type { HydrationJob, HydrationProgress, HydrationResult } from '@pullthrough/hydration-jobs';
import { blobDescriptors, parseManifest, platformString, type Descriptor, type Digest } from '@pullthrough/oci';
import type { RegistryStore } from '@pullthrough/storage';
import type { BlobFetcher } from './blob-fetcher.js';
import type { ManifestImporter } from './manifest-importer.js';
import type { UpstreamTarget } from './upstream-target.js';
import { LocalContent } from './content/local-content.js';

export type ProgressReporter = (progress: HydrationProgress) => Promise<void> | void;

/** The longest a walk goes through blobs found stored without reporting its progress. */
export const PROGRESS_EVERY_MS = 250;

/** Which children of an index a job hydrates. `pulled`: none here; each child pulled by digest gets its own job. */
export function selectChildren(children: Descriptor[], policy: HydrationJob['platforms']): Descriptor[] {
  if (policy === 'all') return children;
  if (policy === 'pulled') return [];
  const wanted = new Set(policy);
  return children.filter((c) => {
    const p = platformString(c.platform);
    if (!p) return false;
    return wanted.has(p) || (c.platform?.variant !== undefined && wanted.has(`${c.platform.os}/${c.platform.architecture}`));
  });
}

/**
 * Walks a manifest tree (index -> child manifests -> config + layers) and makes everything local:
 * fetches only what is missing, verifies every digest, commits and links. Content that is already
 * local costs no upstream request.
 */
export class ArtifactHydrator {
  constructor(
    private readonly store: RegistryStore,
    private readonly manifests: ManifestImporter,
    private readonly blobs: BlobFetcher,
  ) {}

  async hydrate(job: HydrationJob, target: UpstreamTarget, report?: ProgressReporter): Promise<HydrationResult> {
    // The repository's local content, as the pull path reads it (PullThroughContent's local half).
    const local = new LocalContent(this.store, job.downstreamRepository);
    const pending: Descriptor[] = [];
    let manifests = 0;
    const visit = async (digest: Digest) => {
      let stored = await local.manifest(digest);
      if (!stored) stored = await this.manifests.import(target, { kind: 'digest', digest });
      manifests++;
      const parsed = parseManifest(stored.bytes, stored.mediaType);
      for (const child of selectChildren(parsed.manifests, job.platforms)) await visit(child.digest);
      pending.push(...blobDescriptors(parsed));
    };
    await visit(job.digest as Digest);

    const unique = [...new Map(pending.map((d) => [d.digest, d])).values()];
    const progress: HydrationProgress = { blobsDone: 0, blobsTotal: unique.length, bytesDone: 0 };
    let blobsFetched = 0;
    let bytesFetched = 0;
    await report?.(progress);
    let reportedAt = Date.now();
    for (const blob of unique) {
      const { linked, stored } = await local.blobState(blob.digest);
      let fetchedNow = false;
      if (stored) {
        // Stored already (for this repository, or another): linked only once this upstream confirms it.
        if (!linked) await this.blobs.confirm(target, blob.digest, stored.size);
      } else {
        // The fetch links it (this upstream served it, or confirmed a copy stored meanwhile).
        const fetched = await this.blobs.ensure(target, blob.digest, blob.size);
        fetchedNow = fetched.bytesFetched > 0;
        if (fetchedNow) blobsFetched++;
        bytesFetched += fetched.bytesFetched;
      }
      progress.blobsDone++;
      progress.bytesDone += blob.size;
      // After each download, the last blob, and at most every PROGRESS_EVERY_MS among blobs found
      // stored: a job whose blobs a pull stored already reports its start and its end, not each blob.
      if (fetchedNow || progress.blobsDone === unique.length || Date.now() - reportedAt >= PROGRESS_EVERY_MS) {
        await report?.(progress);
        reportedAt = Date.now();
      }
    }
    return { manifests, blobs: unique.length, blobsFetched, bytesFetched };
  }
}
