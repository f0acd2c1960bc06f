import { isDigest, type Digest } from '@pullthrough/oci';

/** What a manifest keeps alive: other manifests (index children, its subject) and plain blobs (config, layers). */
export interface ManifestReferences {
  manifests: Digest[];
  blobs: Digest[];
}

const digestsOf = (list: unknown, field = 'digest'): Digest[] =>
  Array.isArray(list)
    ? list.flatMap((d: unknown) => {
        const v = typeof d === 'object' && d !== null ? (d as Record<string, unknown>)[field] : undefined;
        return typeof v === 'string' && isDigest(v) ? [v] : [];
      })
    : [];

/**
 * The digests a stored manifest refers to: `manifests[]` of an index and `subject` (manifests),
 * `config`, `layers[]`, `blobs[]` (artifact manifests) and schema 1 `fsLayers[].blobSum` (blobs).
 * Anything unparsable refers to nothing (it was verified when stored; a corrupt one keeps nothing alive).
 */
export function manifestReferences(bytes: Uint8Array): ManifestReferences {
  let doc: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { manifests: [], blobs: [] };
    doc = parsed as Record<string, unknown>;
  } catch {
    return { manifests: [], blobs: [] };
  }
  return {
    manifests: [...digestsOf(doc.manifests), ...digestsOf([doc.subject])],
    blobs: [...digestsOf([doc.config]), ...digestsOf(doc.layers), ...digestsOf(doc.blobs), ...digestsOf(doc.fsLayers, 'blobSum')],
  };
}
