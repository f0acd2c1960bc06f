import type { Digest } from '@pullthrough/oci';
import { manifestReferences } from './manifest-references.js';
import { mapLimit } from './map-limit.js';
import type { StorageDriver } from './storage-driver.js';
import { blobDataPath } from './store-layout.js';

const READ_CONCURRENCY = 16;

/**
 * Mark: every digest reachable from `roots` (the manifests some repository has a revision of):
 * the manifests themselves, index children and subjects (read and followed in turn, whether or
 * not a repository has a revision of them), configs and layers. A manifest whose bytes are not
 * stored keeps its digest marked but leads nowhere.
 */
export async function markReferenced(driver: StorageDriver, roots: Iterable<Digest>): Promise<Set<Digest>> {
  const marked = new Set<Digest>();
  let level = [...new Set(roots)];
  for (const d of level) marked.add(d);
  while (level.length > 0) {
    const children = await mapLimit(level, READ_CONCURRENCY, async (digest) => {
      const bytes = await driver.getContent(blobDataPath(digest));
      return bytes ? manifestReferences(bytes) : { manifests: [], blobs: [] };
    });
    const next: Digest[] = [];
    for (const refs of children) {
      for (const b of refs.blobs) marked.add(b);
      for (const m of refs.manifests) {
        if (marked.has(m)) continue;
        marked.add(m);
        next.push(m);
      }
    }
    level = next;
  }
  return marked;
}
