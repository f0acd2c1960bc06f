import {
  DigestMismatchError,
  LruCache,
  ManifestInvalidError,
  digestAlgorithm,
  digestOf,
  parseDigest,
  sharedCall,
  type Digest,
} from '@pullthrough/oci';
import { BlobStore } from './blob-store.js';
import { manifestReferences } from './manifest-references.js';
import type { StorageDriver } from './storage-driver.js';
import { blobDataPath, manifestRevisionLinkPath } from './store-layout.js';
import { inSpan } from '@pullthrough/telemetry';

export interface ManifestInfo {
  digest: Digest;
  mediaType: string;
  size: number;
}

export interface StoredManifest extends ManifestInfo {
  bytes: Buffer;
}

export interface ManifestToStore {
  digest: Digest;
  mediaType: string;
  bytes: Uint8Array;
}

/** RFC 6838 type/subtype (no parameters). */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function parseRevisionLink(raw: Buffer, digest: Digest): ManifestInfo | undefined {
  try {
    const link = JSON.parse(raw.toString('utf8')) as Partial<ManifestInfo>;
    if (typeof link.mediaType !== 'string' || typeof link.size !== 'number') return undefined;
    return { digest, mediaType: link.mediaType, size: link.size };
  } catch {
    return undefined;
  }
}

/** Default bound of the in-memory manifest cache. */
export const DEFAULT_MANIFEST_CACHE_BYTES = 32 * 1024 * 1024;
/** How long a manifest held in memory is answered before its revision link is checked again (another process may have deleted it). */
export const MANIFEST_RECHECK_MS = 1_000;

interface CachedManifest extends StoredManifest {
  /** When the revision link was last seen (this process wrote or read it). */
  seenAt: number;
}

/**
 * Manifests are blobs too; a per-repository revision link records that the repository has the
 * manifest and with which media type and size (so HEAD needs one small read).
 */
export class ManifestStore {
  /**
   * Manifests by (repository, digest), kept in memory: a revision's bytes are immutable
   * (content-addressed), so a hit is spared two small file reads. A revision can be deleted (by
   * this process: dropped at once; by another: its link is checked again after MANIFEST_RECHECK_MS;
   * rule changes and retention also announce it, and every process then drops this cache).
   */
  private readonly cache: LruCache<CachedManifest>;
  /** Checks of cached manifests' revision links under way (cached). */
  private readonly rechecks = new WeakMap<CachedManifest, Promise<CachedManifest | undefined>>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    /** Bytes of manifests kept in memory (0 turns the cache off). */
    cacheBytes = DEFAULT_MANIFEST_CACHE_BYTES,
    private readonly now: () => number = Date.now,
  ) {
    this.cache = new LruCache(cacheBytes, (m) => m.bytes.length);
  }

  /**
   * A cached manifest, its revision link checked again when last seen more than MANIFEST_RECHECK_MS ago: by one
   * request, the others that come meanwhile wait for its answer (every request in flight at 50 connections
   * checking the same link once a second was most of the slowest 1 % of manifest hits).
   */
  private async cached(key: string, repository: string, digest: Digest): Promise<CachedManifest | undefined> {
    const hit = this.cache.get(key);
    if (!hit || this.now() - hit.seenAt < MANIFEST_RECHECK_MS) return hit;
    return sharedCall(this.rechecks, hit, () => this.recheck(key, hit, repository, digest));
  }

  private async recheck(key: string, hit: CachedManifest, repository: string, digest: Digest): Promise<CachedManifest | undefined> {
    if (!(await this.driver.stat(manifestRevisionLinkPath(repository, digest)))) {
      if (this.cache.get(key) === hit) this.cache.delete(key);
      return undefined;
    }
    hit.seenAt = this.now();
    return hit;
  }

  /**
   * Remove a manifest revision from a repository (the shared bytes stay: GC frees unreferenced ones).
   * Resolves false when the repository did not have it.
   */
  async deleteManifest(repository: string, digest: Digest): Promise<boolean> {
    const link = manifestRevisionLinkPath(repository, digest);
    this.cache.delete(`${repository}@${digest}`);
    if (!(await this.driver.stat(link))) return false;
    // The revision's directory (`.../<alg>/<hex>`), not just its link file.
    await this.driver.delete(link.slice(0, -'/link'.length));
    this.cache.delete(`${repository}@${digest}`);
    return true;
  }

  /** Drop every manifest held in memory (a repository's cached content was forgotten). */
  forgetCached(): void {
    this.cache.clear();
  }

  /** Verify and store a manifest in a repository. Throws DigestMismatchError, ManifestInvalidError. */
  putManifest(repository: string, manifest: ManifestToStore): Promise<ManifestInfo> {
    return inSpan('storage manifest put', { 'pullthrough.repository': repository, 'pullthrough.digest': String(manifest.digest) }, () => this.verifyAndPut(repository, manifest));
  }

  private async verifyAndPut(repository: string, manifest: ManifestToStore): Promise<ManifestInfo> {
    const digest = parseDigest(manifest.digest);
    const link = manifestRevisionLinkPath(repository, digest);
    const { mediaType } = manifest;
    if (typeof mediaType !== 'string' || !MEDIA_TYPE.test(mediaType)) {
      throw new ManifestInvalidError('invalid manifest media type', { detail: { mediaType: String(mediaType).slice(0, 200) } });
    }
    const bytes = Buffer.isBuffer(manifest.bytes)
      ? manifest.bytes
      : Buffer.from(manifest.bytes.buffer, manifest.bytes.byteOffset, manifest.bytes.byteLength);
    const actual = digestOf(bytes, digestAlgorithm(digest));
    if (actual !== digest) {
      throw new DigestMismatchError('manifest content does not match its digest', { detail: { expected: digest, actual } });
    }
    // The manifest and what it names are in use from now on (a collection running meanwhile keeps them).
    const refs = manifestReferences(bytes);
    await this.blobs.touches.touch([...new Set([digest, ...refs.manifests, ...refs.blobs])]);
    // Looked at after the touch: a collector deleting it has finished by then (and it is written again).
    const data = (await this.blobs.statBlob(digest)) ? undefined : this.writeData(digest, bytes);
    data?.catch(() => undefined);
    const info: ManifestInfo = { digest, mediaType, size: bytes.length };
    // The revision link is written while the data is, and appears only after it (or not at all).
    try {
      await this.driver.putContent(link, Buffer.from(JSON.stringify({ mediaType, size: info.size })), data ? { after: data } : {});
    } catch (err) {
      // A link that failed on its own (before it waited for the data) leaves no write running unwatched.
      await data?.catch(() => undefined);
      throw err;
    }
    this.cache.set(`${repository}@${digest}`, { ...info, bytes, seenAt: this.now() });
    return info;
  }

  private async writeData(digest: Digest, bytes: Buffer): Promise<void> {
    const writer = await this.driver.createWriter({ path: blobDataPath(digest) });
    try {
      writer.end(bytes);
      await writer.commit(blobDataPath(digest));
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  /** Media type and size of a manifest in a repository, or undefined. */
  async statManifest(repository: string, digest: Digest): Promise<ManifestInfo | undefined> {
    const cached = await this.cached(`${repository}@${digest}`, repository, digest);
    if (cached) return { digest, mediaType: cached.mediaType, size: cached.size };
    const raw = await this.driver.getContent(manifestRevisionLinkPath(repository, digest));
    return raw && parseRevisionLink(raw, digest);
  }

  /** A manifest with its bytes, or undefined when the repository does not have it. */
  async getManifest(repository: string, digest: Digest): Promise<StoredManifest | undefined> {
    const key = `${repository}@${digest}`;
    const cached = await this.cached(key, repository, digest);
    if (cached) return { digest: cached.digest, mediaType: cached.mediaType, size: cached.size, bytes: cached.bytes };
    const info = await this.statManifest(repository, digest);
    if (!info) return undefined;
    const bytes = await this.driver.getContent(blobDataPath(digest));
    if (!bytes) return undefined;
    const manifest = { ...info, size: bytes.length, bytes };
    this.cache.set(key, { ...manifest, seenAt: this.now() });
    return manifest;
  }
}
