import type { Readable } from 'node:stream';
import { BlobUnknownError, parseDigest, type Digest } from '@pullthrough/oci';
import { noBlobTouches, type BlobTouches } from './blob-touches.js';
import { BlobWriter, type ExpectedBlob } from './blob-writer.js';
import type { ByteRange, StorageDriver } from './storage-driver.js';
import { mapLimit } from './map-limit.js';
import { blobDataPath, layerLinkPath } from './store-layout.js';

/** Links written at once by linkBlobs: a manifest's layers link in a few rounds without a burst of file handles. */
export const LINK_CONCURRENCY = 8;

export interface BlobInfo {
  size: number;
}

/**
 * Content-addressed blobs shared by every repository, plus the per-repository links that decide
 * which repository may serve which blob (distribution's `blobStore` + `linkedBlobStore`).
 */
export class BlobStore {
  constructor(
    private readonly driver: StorageDriver,
    /** Told before a blob is written, committed or linked (garbage collection's mark generation). */
    readonly touches: BlobTouches = noBlobTouches,
  ) {}

  async statBlob(digest: Digest): Promise<BlobInfo | undefined> {
    const info = await this.driver.stat(blobDataPath(digest));
    return info && { size: info.size };
  }

  /** A short-lived read-only URL of a stored blob, when the driver can give one (see StorageDriver.signedReadUrl). */
  async signedBlobUrl(digest: Digest, ttlSeconds: number): Promise<string | undefined> {
    return this.driver.signedReadUrl?.(blobDataPath(digest), ttlSeconds);
  }

  /** Stream a blob (or a range of it). Throws BlobUnknownError when absent, RangeInvalidError on a bad range. */
  async openBlob(digest: Digest, range?: ByteRange): Promise<Readable> {
    const stream = await this.driver.createReadStream(blobDataPath(digest), range);
    if (!stream) throw new BlobUnknownError('blob unknown to registry', { detail: { digest } });
    return stream;
  }

  /** Start writing a blob whose digest is known up front; see BlobWriter. */
  async createBlobWriter(expected: ExpectedBlob): Promise<BlobWriter> {
    const digest = parseDigest(expected.digest);
    const { size } = expected;
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
      throw new RangeError(`invalid expected blob size: ${size}`);
    }
    // Touched when the upload starts and again just before it commits (an upload may outlast the grace
    // period). The first touch and the new object's creation go at once: nothing reaches the blob's
    // path before the commit, and a miss's first bytes wait for both.
    const [, object] = await Promise.all([this.touches.touch([digest]), this.driver.createWriter({ path: blobDataPath(digest) })]);
    const beforeCommit = () => this.touches.touch([digest]);
    return new BlobWriter(object, size === undefined ? { digest } : { digest, size }, beforeCommit);
  }

  /**
   * Allow `repository` to serve `digest`. The blob need not be stored yet: a pull-through cache
   * links the blobs of a verified upstream manifest before their bytes arrive. A blob is served
   * for a repository only when it is both linked and stored.
   */
  async linkBlob(repository: string, digest: Digest): Promise<void> {
    await this.touches.touch([digest]);
    await this.writeLink(repository, digest);
  }

  private async writeLink(repository: string, digest: Digest): Promise<void> {
    const link = layerLinkPath(repository, digest);
    if (await this.driver.stat(link)) return;
    await this.driver.putContent(link, Buffer.from(digest));
  }

  /** linkBlob for each distinct digest, at most LINK_CONCURRENCY at a time. */
  async linkBlobs(repository: string, digests: readonly Digest[]): Promise<void> {
    const distinct = [...new Set(digests)];
    if (distinct.length === 0) return;
    await this.touches.touch(distinct);
    await mapLimit(distinct, LINK_CONCURRENCY, (digest) => this.writeLink(repository, digest));
  }

  /** Stop `repository` serving `digest` (the shared bytes stay for other repositories; GC frees unreferenced ones). */
  async unlinkBlob(repository: string, digest: Digest): Promise<void> {
    await this.driver.delete(layerLinkPath(repository, digest));
  }

  async isBlobLinked(repository: string, digest: Digest): Promise<boolean> {
    return (await this.driver.stat(layerLinkPath(repository, digest))) !== undefined;
  }

  /** statBlob, but only when the blob is linked to `repository`. */
  async statRepositoryBlob(repository: string, digest: Digest): Promise<BlobInfo | undefined> {
    if (!(await this.isBlobLinked(repository, digest))) return undefined;
    return this.statBlob(digest);
  }

  /** openBlob, but only when the blob is linked to `repository` (else BlobUnknownError). */
  async openRepositoryBlob(repository: string, digest: Digest, range?: ByteRange): Promise<Readable> {
    if (!(await this.isBlobLinked(repository, digest))) {
      throw new BlobUnknownError('blob unknown to repository', { detail: { repository, digest } });
    }
    return this.openBlob(digest, range);
  }
}
