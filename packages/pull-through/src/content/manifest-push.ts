import {
  blobDescriptors,
  DigestInvalidError,
  digestAlgorithm,
  digestOf,
  isManifestMediaType,
  ManifestBlobUnknownError,
  ManifestInvalidError,
  parseManifest,
  RegistryError,
  type Descriptor,
  type Digest,
  type ParsedManifest,
  type Reference,
} from '@pullthrough/oci';
import type { RegistryStore } from '@pullthrough/storage';

/** What a pushed manifest became. */
export interface PushedManifest {
  digest: Digest;
  mediaType: string;
  size: number;
  /** The tag it was pushed by, if any. */
  tag?: string;
  /** Its `subject` (OCI 1.1), answered as `OCI-Subject`. */
  subject?: Digest;
}

/** Checks run at once per manifest (each is one or two small storage reads). */
const CHECK_CONCURRENCY = 8;

/** Manifest bodies are JSON documents: at most this many bytes (the same bound as a pulled manifest's). */
export const DEFAULT_MAX_PUSHED_MANIFEST_BYTES = 4 * 1024 * 1024;

/** The descriptor a referrers list shows for a manifest with a subject. */
export function referrerDescriptor(parsed: ParsedManifest, digest: Digest, size: number): Descriptor {
  return {
    mediaType: parsed.mediaType,
    digest,
    size,
    ...(parsed.artifactType ? { artifactType: parsed.artifactType } : parsed.config ? { artifactType: parsed.config.mediaType } : {}),
    ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
  };
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/**
 * Parse and check a pushed manifest: a manifest media type (OCI or Docker image manifest or index;
 * an OCI manifest with `artifactType` is an artifact), the Content-Type agreeing with the document's
 * own `mediaType`, the digest of a by-digest push, and everything it refers to present in the
 * repository: config and layers linked and stored with the sizes the descriptors say (foreign layers
 * with `urls` excepted), index children as manifests of the repository. A `subject` need not exist
 * (OCI 1.1: a referrer may be pushed before its subject).
 */
export async function checkPushedManifest(store: RegistryStore, repository: string, reference: Reference, bytes: Buffer, contentType: string | undefined): Promise<{ parsed: ParsedManifest; digest: Digest }> {
  let parsed: ParsedManifest;
  try {
    parsed = parseManifest(bytes, contentType);
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw new ManifestInvalidError('manifest is not valid');
  }
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  if (header && isManifestMediaType(header) && header !== parsed.mediaType) {
    throw new ManifestInvalidError('the Content-Type header and the manifest mediaType disagree', { detail: { contentType: header, mediaType: parsed.mediaType } });
  }
  const digest = digestOf(bytes, reference.kind === 'digest' ? digestAlgorithm(reference.digest) : 'sha256');
  if (reference.kind === 'digest' && reference.digest !== digest) {
    throw new DigestInvalidError('manifest content does not match the digest it was pushed by', { detail: { digest: reference.digest, actual: digest } });
  }
  const missing = (d: Descriptor, what: string) =>
    new ManifestBlobUnknownError(`manifest refers to a ${what} this repository does not have`, { detail: { repository, digest: d.digest, mediaType: d.mediaType } });
  // Touched before they are checked: a collection cannot free what the check found between the check and the store.
  await store.touchBlobs([digest, ...(parsed.isIndex ? parsed.manifests.map((m) => m.digest) : blobDescriptors(parsed).map((b) => b.digest)), ...(parsed.subject ? [parsed.subject.digest] : [])]);
  if (parsed.isIndex) {
    await mapLimit(parsed.manifests, CHECK_CONCURRENCY, async (child) => {
      if (!(await store.statManifest(repository, child.digest))) throw missing(child, 'manifest');
    });
  } else {
    await mapLimit(blobDescriptors(parsed), CHECK_CONCURRENCY, async (blob) => {
      const stored = await store.statRepositoryBlob(repository, blob.digest);
      if (!stored) throw missing(blob, 'blob');
      if (stored.size !== blob.size) {
        throw new ManifestInvalidError('a descriptor size does not match the blob', { detail: { digest: blob.digest, size: blob.size, actualSize: stored.size } });
      }
    });
  }
  return { parsed, digest };
}
