import { BlobUnknownError, ManifestUnknownError, NameUnknownError, type Descriptor, type Digest, type Reference } from '@pullthrough/oci';
import type { RegistryStore, TagRecord } from '@pullthrough/storage';
import { resolveRange, type RangeRequest } from '../byte-range.js';
import type { ReferrerList, TagList } from '../cached-listings.js';
import type { StoredManifest } from '../manifest-importer.js';
import { blobBody } from './blob-body.js';
import type { BlobBody, BlobStat, CacheStatus, ManifestResponse, RepositoryContent } from './repository-content.js';

export interface LocalContentOptions {
  /** Blobs held here are answered by a redirect to a signed storage URL valid this long, when the store has one (0: never). */
  blobRedirectSeconds?: number;
}

/** What storage holds of a blob for a repository: whether the repository may serve it (linked), and whether its bytes are here (stored, for any repository). */
export interface LocalBlobState {
  linked: boolean;
  stored: { size: number } | undefined;
}

/**
 * A repository's content in storage, and nothing else: a repository no rule maps (an ordinary
 * local registry: what is here is served, anything else is unknown, no upstream is ever asked),
 * and the local half of a cached repository (PullThroughContent wraps one, as distribution's proxy
 * stores wrap its local stores). A blob is served only when it is linked to the repository.
 */
export class LocalContent implements RepositoryContent {
  constructor(
    readonly store: RegistryStore,
    readonly repository: string,
    private readonly options: LocalContentOptions = {},
  ) {}

  async statBlob(digest: Digest): Promise<BlobStat> {
    const { linked, stored } = await this.blobState(digest);
    if (!linked || !stored) throw this.blobUnknown(digest);
    return { size: stored.size, cache: 'local' };
  }

  async openBlob(digest: Digest, range?: RangeRequest): Promise<BlobBody> {
    const { linked, stored } = await this.blobState(digest);
    if (!linked || !stored) throw this.blobUnknown(digest);
    return this.openStored(digest, stored.size, range, 'local');
  }

  async blobLocation(digest: Digest): Promise<string | undefined> {
    const seconds = this.options.blobRedirectSeconds ?? 0;
    if (seconds <= 0) return undefined;
    const { linked, stored } = await this.blobState(digest);
    if (!linked || !stored) return undefined;
    return this.store.signedBlobUrl(digest, seconds);
  }

  async getManifest(reference: Reference): Promise<ManifestResponse> {
    if (reference.kind === 'digest') {
      const local = await this.manifest(reference.digest);
      if (!local) throw new ManifestUnknownError(`manifest unknown`, { detail: { repository: this.repository, digest: reference.digest } });
      return { ...local, cache: 'local' };
    }
    const { manifest } = await this.tagged(reference.tag);
    if (!manifest) throw new ManifestUnknownError(`manifest unknown`, { detail: { repository: this.repository, tag: reference.tag } });
    return { ...manifest, cache: 'local' };
  }

  async listTags(): Promise<TagList> {
    const tags = await this.tags();
    if (tags.length === 0) throw new NameUnknownError('repository name not known to registry', { detail: { name: this.repository } });
    return { tags, cache: 'local' };
  }

  async listReferrers(subject: Digest, artifactType?: string): Promise<ReferrerList> {
    return { manifests: await this.referrers(subject, artifactType), cache: 'local' };
  }

  // The local half of a cached repository: what PullThroughContent reads and writes here.

  /** Whether blobs held here may be answered by a redirect to signed storage URLs (the store may still have none). */
  get redirectsBlobs(): boolean {
    return (this.options.blobRedirectSeconds ?? 0) > 0;
  }

  /** Whether this repository may serve the blob (linked) and whether its bytes are here (stored). */
  async blobState(digest: Digest): Promise<LocalBlobState> {
    // Both asked at once: one wait for the storage instead of two in a row, on every blob request.
    const [linked, stored] = await Promise.all([this.store.isBlobLinked(this.repository, digest), this.store.statBlob(digest)]);
    return { linked, stored };
  }

  /** Whether the blob's bytes are here (for any repository); one storage look, no link checked. */
  async isStored(digest: Digest): Promise<boolean> {
    return (await this.store.statBlob(digest)) !== undefined;
  }

  /** A stored blob of `size` bytes (or the requested range of it; an unsatisfiable one throws RangeInvalidError). */
  async openStored(digest: Digest, size: number, request: RangeRequest | undefined, cache: CacheStatus): Promise<BlobBody> {
    const range = request ? resolveRange(request, size) : undefined;
    const stream = await this.store.openBlob(digest, range);
    return blobBody({ size, stream, cache, range });
  }

  /** A signed storage URL of a stored blob (undefined: the store has none, or redirects are off). */
  signedLocation(digest: Digest): Promise<string | undefined> {
    const seconds = this.options.blobRedirectSeconds ?? 0;
    return seconds > 0 ? this.store.signedBlobUrl(digest, seconds) : Promise.resolve(undefined);
  }

  manifest(digest: Digest): Promise<StoredManifest | undefined> {
    return this.store.getManifest(this.repository, digest);
  }

  /** The tag's record and the manifest it points at, as far as they are held. */
  async tagged(tag: string): Promise<{ record: TagRecord | undefined; manifest: StoredManifest | undefined }> {
    const record = await this.store.getTag(this.repository, tag);
    return { record, manifest: record ? await this.store.getManifest(this.repository, record.digest) : undefined };
  }

  /** Record that the upstream still gives `tag` this digest (checked now); false when a local (pushed) tag holds the name. */
  refreshTag(tag: string, digest: Digest, checkedAt: Date): Promise<boolean> {
    return this.store.putTag(this.repository, tag, digest, checkedAt);
  }

  tags(): Promise<string[]> {
    return this.store.listTags(this.repository);
  }

  async referrers(subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    const keep = (d: Descriptor) => artifactType === undefined || d.artifactType === artifactType;
    return (await this.store.listReferrers(this.repository, subject)).filter(keep);
  }

  private blobUnknown(digest: Digest): BlobUnknownError {
    return new BlobUnknownError('blob unknown to registry', { detail: { repository: this.repository, digest } });
  }
}
