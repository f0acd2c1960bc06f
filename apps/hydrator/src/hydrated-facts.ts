import type { HydrationJob, HydrationResult } from '@pullthrough/hydration-jobs';
import { parseManifest, type Digest } from '@pullthrough/oci';
import { selectChildren } from '@pullthrough/pull-through';
import type { RegistryStore } from '@pullthrough/storage';
import type { HydratedFacts, ManifestRef } from '@pullthrough/webhooks';

/** What a completed job made local, read back from the store: the root manifest and the platform manifests it hydrated. */
export async function hydratedFacts(store: RegistryStore, job: HydrationJob, result: HydrationResult): Promise<HydratedFacts> {
  const repo = job.downstreamRepository;
  const ref = async (digest: string): Promise<{ ref: ManifestRef; bytes: Buffer; mediaType: string } | undefined> => {
    const stored = await store.getManifest(repo, digest as Digest);
    return stored && { ref: { digest, mediaType: stored.mediaType, size: stored.bytes.length }, bytes: stored.bytes, mediaType: stored.mediaType };
  };
  const root = await ref(job.digest);
  if (!root) throw new Error(`hydrated manifest ${job.digest} is not local in ${repo}`);
  const children: ManifestRef[] = [];
  for (const child of selectChildren(parseManifest(root.bytes, root.mediaType).manifests, job.platforms)) {
    const stored = await ref(child.digest);
    if (stored) children.push(stored.ref);
  }
  return { repository: repo, ...(job.tag ? { tag: job.tag } : {}), root: root.ref, children, result };
}
