import { blobDescriptors, isDigest, parseManifest, type Digest } from '@pullthrough/oci';
import { blobDataPath, manifestRevisionLinkPath, manifestRevisionsPath, repositoryPath, tagCurrentLinkPath, type RegistryStore } from '@pullthrough/storage';

/** A tag as stored: `local` when its record says `source: 'local'` (a push); a missing source is upstream. */
export interface TagEntry {
  tag: string;
  digest: Digest;
  /** When the upstream was last asked (ms), the fallback recency of a tag never pulled. */
  checkedAt: number;
  local: boolean;
}

/** A manifest revision of a repository and what it references. */
export interface ManifestEntry {
  digest: Digest;
  size: number;
  /** When its revision link was written (ms): the fallback recency of a manifest never pulled. */
  storedAt: number;
  /** Index children. */
  children: Digest[];
  /** Config and layers, with the sizes the manifest declares. */
  blobs: { digest: Digest; size: number }[];
  subject?: Digest;
}

/** What one repository holds: tags, manifest revisions, and blob links (with their write times). */
export interface RepositoryInventory {
  repository: string;
  tags: TagEntry[];
  manifests: Map<Digest, ManifestEntry>;
  links: Map<Digest, number>;
}

function readTagLink(raw: Buffer | undefined): Omit<TagEntry, 'tag'> | undefined {
  if (!raw) return undefined;
  try {
    const link = JSON.parse(raw.toString('utf8')) as { digest?: unknown; checkedAt?: unknown; source?: unknown };
    if (typeof link.digest !== 'string' || !isDigest(link.digest)) return undefined;
    const checkedAt = typeof link.checkedAt === 'string' ? Date.parse(link.checkedAt) : NaN;
    return { digest: link.digest, checkedAt: Number.isNaN(checkedAt) ? 0 : checkedAt, local: link.source === 'local' };
  } catch {
    return undefined;
  }
}

/** `<alg>/<hex>` directories under `prefix` whose `link` object exists, with the link's write time. */
async function listLinks(store: RegistryStore, prefix: string): Promise<Map<Digest, number>> {
  const out = new Map<Digest, number>();
  for (const alg of await store.driver.list(prefix)) {
    for (const hex of await store.driver.list(`${prefix}/${alg}`)) {
      const digest = `${alg}:${hex}`;
      if (!isDigest(digest)) continue;
      const info = await store.driver.stat(`${prefix}/${alg}/${hex}/link`);
      if (info) out.set(digest, info.modifiedAt.getTime());
    }
  }
  return out;
}

/** Read everything retention needs about one repository (one listing per level, one read per manifest and tag). */
export async function readInventory(store: RegistryStore, repository: string): Promise<RepositoryInventory> {
  const tags: TagEntry[] = [];
  for (const tag of await store.listTags(repository)) {
    const entry = readTagLink(await store.driver.getContent(tagCurrentLinkPath(repository, tag)));
    if (entry) tags.push({ tag, ...entry });
  }
  const manifests = new Map<Digest, ManifestEntry>();
  for (const [digest, storedAt] of await listLinks(store, manifestRevisionsPath(repository))) {
    // Read past the store's manifest cache: a pass reads every manifest once and must not push hot ones out.
    const bytes = await store.driver.getContent(blobDataPath(digest));
    if (!bytes) continue;
    let entry: ManifestEntry = { digest, size: bytes.length, storedAt, children: [], blobs: [] };
    try {
      const link = JSON.parse((await store.driver.getContent(manifestRevisionLinkPath(repository, digest)))?.toString('utf8') ?? '{}') as { mediaType?: unknown };
      const parsed = parseManifest(bytes, typeof link.mediaType === 'string' ? link.mediaType : undefined);
      entry = {
        ...entry,
        children: parsed.manifests.map((d) => d.digest),
        blobs: blobDescriptors(parsed).map((d) => ({ digest: d.digest, size: d.size })),
        ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
      };
    } catch {
      // Not a manifest we can walk (stored verbatim from an upstream): it references nothing we know of.
    }
    manifests.set(digest, entry);
  }
  const links = await listLinks(store, `${repositoryPath(repository)}/_layers`);
  return { repository, tags, manifests, links };
}

/**
 * The manifests `roots` keep in `inventory`: the roots, their index children (recursively), and
 * the referrers of anything kept (a signature or SBOM goes with its subject).
 */
export function manifestClosure(inventory: RepositoryInventory, roots: Iterable<Digest>): Set<Digest> {
  const kept = new Set<Digest>();
  const visit = (digest: Digest) => {
    if (kept.has(digest) || !inventory.manifests.has(digest)) return;
    kept.add(digest);
    for (const child of inventory.manifests.get(digest)!.children) visit(child);
  };
  for (const root of roots) visit(root);
  for (let grew = true; grew; ) {
    grew = false;
    for (const m of inventory.manifests.values()) {
      if (m.subject && kept.has(m.subject) && !kept.has(m.digest)) {
        visit(m.digest);
        grew = true;
      }
    }
  }
  return kept;
}

/** Digests (manifests and linked blobs) and their sizes that a set of kept manifests needs. */
export function contentOf(inventory: RepositoryInventory, manifests: Iterable<Digest>): Map<Digest, number> {
  const out = new Map<Digest, number>();
  for (const digest of manifests) {
    const m = inventory.manifests.get(digest);
    if (!m) continue;
    out.set(digest, m.size);
    for (const b of m.blobs) if (inventory.links.has(b.digest)) out.set(b.digest, b.size);
  }
  return out;
}
