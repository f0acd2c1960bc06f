import type { Readable, Writable } from 'node:stream';
import type { Digest, Reference } from '@pullthrough/oci';
import type { ByteRange, RangeRequest } from '../byte-range.js';
import type { StoredManifest } from '../manifest-importer.js';
import type { ReferrerList, TagList } from '../cached-listings.js';

/** Where a response's content came from (the `X-Cache` header). */
export type CacheStatus = 'hit' | 'miss' | 'revalidated' | 'stale' | 'local';

export interface ManifestResponse extends StoredManifest {
  cache: CacheStatus;
  /** Why a stale tag was served (upstream failure), when cache is 'stale'. */
  staleReason?: string;
}

/** What HEAD of a blob answers. */
export interface BlobStat {
  size: number;
  cache: CacheStatus;
}

/**
 * A blob opened for one response: its size, the range it carries, where it came from, and its
 * bytes. It knows how to write itself: stored blobs go out through pooled buffers, a miss streams
 * its bytes as they arrive from the upstream. The caller never needs to know which.
 */
export interface BlobBody {
  /** Undefined only for a live miss whose upstream sent no size. */
  size: number | undefined;
  cache: CacheStatus;
  /** For a ranged read: the bytes the body carries. */
  range?: ByteRange;
  /** The bytes (for callers that read them rather than send them). */
  stream: Readable;
  /** For a streamed miss: settles when the blob is committed (or fails). */
  done?: Promise<unknown>;
  /** Write the bytes to `dest` and end it; rejects when the bytes cannot be read (or `dest` failed). */
  sendTo(dest: Writable): Promise<void>;
}

export interface PullContext {
  requestId?: string;
  /**
   * Who the request is for (an identity or an address, see the frontend's client key): its
   * upstream-bound requests are counted by the miss limiter. Unset: not limited (the cache's own work).
   */
  client?: string;
}

/**
 * One repository's content as the data plane reads it, whatever holds it: `LocalContent` (a
 * repository no rule maps: storage only) or `PullThroughContent` (a cached repository: storage
 * first, the rule's upstream behind it). Bound to one repository and one request's context.
 * Errors are the oci package's domain errors (404s: MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN).
 */
export interface RepositoryContent {
  readonly repository: string;
  /** Size of a blob for HEAD. */
  statBlob(digest: Digest): Promise<BlobStat>;
  /** A blob (or a range of it: 206; an unsatisfiable range throws RangeInvalidError with the size). */
  openBlob(digest: Digest, range?: RangeRequest): Promise<BlobBody>;
  /**
   * Where a client may fetch a blob held here directly (a short-lived signed storage URL), or
   * undefined: redirects off, the store has no such URLs, or the blob is not held (then openBlob).
   */
  blobLocation(digest: Digest): Promise<string | undefined>;
  /** A manifest by tag or digest, bytes exactly as stored. */
  getManifest(reference: Reference): Promise<ManifestResponse>;
  /** Every tag, sorted in the spec's lexical order (the route pages it). */
  listTags(): Promise<TagList>;
  /** OCI 1.1 referrers of `subject`, filtered by artifactType when given. */
  listReferrers(subject: Digest, artifactType?: string): Promise<ReferrerList>;
}
