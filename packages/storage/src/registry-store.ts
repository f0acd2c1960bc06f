import type { Readable } from 'node:stream';
import type { Descriptor, Digest } from '@pullthrough/oci';
import { BlobStore, type BlobInfo } from './blob-store.js';
import type { BlobTouches } from './blob-touches.js';
import type { BlobWriter, ExpectedBlob } from './blob-writer.js';
import { ControlStore, type ControlWriteOptions } from './control-store.js';
import { DEFAULT_MANIFEST_CACHE_BYTES, ManifestStore, type ManifestInfo, type ManifestToStore, type StoredManifest } from './manifest-store.js';
import { ReferrerStore } from './referrer-store.js';
import { listRepositories } from './repository-catalog.js';
import { repositoryPath } from './store-layout.js';
import type { ByteRange, StorageDriver } from './storage-driver.js';
import { DEFAULT_TAG_CACHE, TagStore, type TagCacheOptions, type TagEntry, type TagRecord, type TagSource } from './tag-store.js';

export interface RegistryStoreOptions {
  /** Bytes of manifests kept in memory (immutable, so never stale). */
  manifestCacheBytes?: number;
  /** Tag records answered from memory for a short while (see TagCacheOptions). */
  tagCache?: TagCacheOptions;
  /** Told before blobs are written, committed or linked and manifests stored (garbage collection; default: nobody). */
  touches?: BlobTouches;
}

/**
 * The registry's local state over a StorageDriver (distribution's `registry/storage`): blobs,
 * per-repository blob links, manifests, tags, referrers, the repository catalog, and the control
 * area. Composes the focused stores below; each is also reachable directly.
 */
/** What a repository holds under its own name (distribution's layout; nested repositories are siblings of these). */
const REPOSITORY_PARTS = ['_manifests', '_layers', '_referrers'] as const;

export class RegistryStore {
  readonly blobs: BlobStore;
  readonly manifests: ManifestStore;
  readonly tags: TagStore;
  readonly referrers: ReferrerStore;
  readonly control: ControlStore;

  constructor(
    readonly driver: StorageDriver,
    options: RegistryStoreOptions = {},
  ) {
    this.blobs = new BlobStore(driver, options.touches);
    this.manifests = new ManifestStore(driver, this.blobs, options.manifestCacheBytes ?? DEFAULT_MANIFEST_CACHE_BYTES);
    this.tags = new TagStore(driver, this.manifests, options.tagCache ?? DEFAULT_TAG_CACHE);
    this.referrers = new ReferrerStore(driver);
    this.control = new ControlStore(driver);
  }

  // Blobs
  statBlob(digest: Digest): Promise<BlobInfo | undefined> {
    return this.blobs.statBlob(digest);
  }
  openBlob(digest: Digest, range?: ByteRange): Promise<Readable> {
    return this.blobs.openBlob(digest, range);
  }
  signedBlobUrl(digest: Digest, ttlSeconds: number): Promise<string | undefined> {
    return this.blobs.signedBlobUrl(digest, ttlSeconds);
  }
  createBlobWriter(expected: ExpectedBlob): Promise<BlobWriter> {
    return this.blobs.createBlobWriter(expected);
  }
  /**
   * Tell a garbage collection running meanwhile that these blobs are in use from now on (see
   * BlobTouches). Writes, commits, links and stored manifests do it themselves; call it before
   * checking that a blob is present when what follows relies on it staying (mount, manifest PUT,
   * committing an upload session).
   */
  touchBlobs(digests: readonly Digest[]): Promise<void> {
    return this.blobs.touches.touch(digests);
  }
  linkBlob(repository: string, digest: Digest): Promise<void> {
    return this.blobs.linkBlob(repository, digest);
  }
  linkBlobs(repository: string, digests: readonly Digest[]): Promise<void> {
    return this.blobs.linkBlobs(repository, digests);
  }
  unlinkBlob(repository: string, digest: Digest): Promise<void> {
    return this.blobs.unlinkBlob(repository, digest);
  }
  isBlobLinked(repository: string, digest: Digest): Promise<boolean> {
    return this.blobs.isBlobLinked(repository, digest);
  }
  statRepositoryBlob(repository: string, digest: Digest): Promise<BlobInfo | undefined> {
    return this.blobs.statRepositoryBlob(repository, digest);
  }
  openRepositoryBlob(repository: string, digest: Digest, range?: ByteRange): Promise<Readable> {
    return this.blobs.openRepositoryBlob(repository, digest, range);
  }

  // Manifests
  putManifest(repository: string, manifest: ManifestToStore): Promise<ManifestInfo> {
    return this.manifests.putManifest(repository, manifest);
  }
  getManifest(repository: string, digest: Digest): Promise<StoredManifest | undefined> {
    return this.manifests.getManifest(repository, digest);
  }
  statManifest(repository: string, digest: Digest): Promise<ManifestInfo | undefined> {
    return this.manifests.statManifest(repository, digest);
  }
  deleteManifest(repository: string, digest: Digest): Promise<boolean> {
    return this.manifests.deleteManifest(repository, digest);
  }

  // Tags
  getTag(repository: string, tag: string): Promise<TagRecord | undefined> {
    return this.tags.getTag(repository, tag);
  }
  putTag(repository: string, tag: string, digest: Digest, checkedAt: Date = new Date(), source: TagSource = 'upstream', options: { after?: Promise<unknown> } = {}): Promise<boolean> {
    return this.tags.putTag(repository, tag, digest, checkedAt, source, options);
  }
  listTagRecords(repository: string): Promise<TagEntry[]> {
    return this.tags.listTagRecords(repository);
  }
  deleteTag(repository: string, tag: string): Promise<void> {
    return this.tags.deleteTag(repository, tag);
  }
  listTags(repository: string): Promise<string[]> {
    return this.tags.listTags(repository);
  }

  // Referrers
  addReferrer(repository: string, subject: Digest, descriptor: Descriptor): Promise<void> {
    return this.referrers.addReferrer(repository, subject, descriptor);
  }
  removeReferrer(repository: string, subject: Digest, referrer: Digest): Promise<void> {
    return this.referrers.removeReferrer(repository, subject, referrer);
  }
  listReferrers(repository: string, subject: Digest): Promise<Descriptor[]> {
    return this.referrers.listReferrers(repository, subject);
  }

  // Catalog
  /**
   * Forget what a repository holds (its tags, manifest revisions, blob links and referrers; not the
   * shared blobs, nor repositories nested under its name), and what this process keeps in memory.
   * The repository then serves nothing until its upstream serves or confirms content again.
   */
  async forgetRepository(repository: string): Promise<void> {
    const root = repositoryPath(repository);
    for (const part of REPOSITORY_PARTS) await this.driver.delete(`${root}/${part}`);
    this.forgetCached();
  }

  /** Drop the in-memory manifest and tag caches (another process may have forgotten repositories). */
  forgetCached(): void {
    this.manifests.forgetCached();
    this.tags.forgetCached();
  }

  /** Repositories with a manifest (the catalog); with `withBlobs`, also those holding only blob links. */
  listRepositories(options: { withBlobs?: boolean } = {}): Promise<string[]> {
    return listRepositories(this.driver, options);
  }

  // Control area
  getControl<T>(kind: string, name: string): Promise<T | undefined> {
    return this.control.getControl<T>(kind, name);
  }
  putControl(kind: string, name: string, value: unknown, options?: ControlWriteOptions): Promise<void> {
    return this.control.putControl(kind, name, value, options);
  }
  deleteControl(kind: string, name: string): Promise<void> {
    return this.control.deleteControl(kind, name);
  }
  listControl<T>(kind: string): Promise<T[]> {
    return this.control.listControl<T>(kind);
  }

  // Housekeeping
  /** Remove temporary objects (abandoned uploads) older than `olderThanMs`. */
  purgeUploads(olderThanMs: number): Promise<number> {
    return this.driver.purgeUploads(olderThanMs);
  }
}
