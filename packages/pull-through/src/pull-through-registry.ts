import type { Digest, Reference } from '@pullthrough/oci';
import type { RegistryStore } from '@pullthrough/storage';
import { BlobFetcher } from './blob-fetcher.js';
import type { BlobLeases } from './redis-blob-leases.js';
import type { BlobPeers } from './peer-stream-client.js';
import type { Logger } from './logger.js';
import type { HydrationEnqueuer } from './hydration-enqueuer.js';
import { ManifestImporter } from './manifest-importer.js';
import type { UpstreamResolver } from './upstream-target.js';
import type { RangeRequest } from './byte-range.js';
import { noopObserver, type PullObserver } from './pull-observer.js';
import { noMissLimit, type MissLimiter } from './miss-limiter.js';
import { CachedListings, type ReferrerList, type TagList } from './cached-listings.js';
import { LocalContent } from './content/local-content.js';
import { PullThroughContent, type PullThroughDeps } from './content/pull-through-content.js';
import type { BlobBody, BlobStat, ManifestResponse, PullContext, RepositoryContent } from './content/repository-content.js';

export type { CacheStatus, ManifestResponse, PullContext } from './content/repository-content.js';

/** What openBlob answers (a BlobBody: it can also write itself to a response). */
export type BlobResponse = BlobBody;

export interface PullThroughOptions {
  store: RegistryStore;
  upstreams: UpstreamResolver;
  hydration: HydrationEnqueuer;
  /** Seconds a tag is served without asking the upstream again (a rule's `tagFreshnessSeconds` overrides it). */
  tagFreshnessSeconds: number;
  /** Where served/failed outcomes per rule go (rule health, metrics). */
  observer?: PullObserver;
  /** Fetch an image manifest's config as soon as the manifest from the upstream is verified, before the client asks (default true). */
  prefetchConfig?: boolean;
  /** Per-client allowance of upstream-bound requests (misses, revalidations); hits never count. */
  missLimiter?: MissLimiter;
  /** A client streaming a blob miss that takes no bytes for this long (while some wait for it) is cut off (default 30 s). */
  clientStallTimeoutMs?: number;
  /** Bytes one client of a shared blob fetch may have waiting in memory before it falls behind (default 8 MiB). */
  clientBufferBytes?: number;
  /** Bytes all such clients of this process may have waiting together (default 256 MiB). */
  clientBuffersTotalBytes?: number;
  /** When a client's buffer is full and no other client of the fetch has room, wait for it while its rate is at least this share of the receive rate; below it it falls behind (default 0.5; 1: never wait). */
  clientWaitMinShare?: number;
  /** Bytes a running blob fetch keeps from its start for clients that arrive later (default 2 MiB, at most one client buffer; 0: none). */
  blobPrefixBytes?: number;
  /** Layers of an image manifest just fetched from the upstream fetched ahead of the furthest one a client asked for (default 0: none; see ReadAheadPlan). */
  readAheadLayers?: number;
  /** How long such a fetch waits at its kept first bytes for a client, then goes on for the store (default 5000 ms). */
  readAheadHoldMs?: number;
  /** Bytes one blob miss may have queued for the store while live clients read it; past it the store's rest is fetched again with one ranged GET (default 32 MiB). */
  writeLagBytes?: number;
  /** Bytes every blob miss of this process may have queued for the store together (default 128 MiB). */
  writeLagTotalBytes?: number;
  /** When a miss's lag is full, wait for its store while its rate is at least this share of the receive rate; below it overflow (default 0.5). */
  writeLagMinStoreShare?: number;
  /** Local blobs are answered by a redirect to a signed storage URL valid this long, when the store has one (0: never). */
  blobRedirectSeconds?: number;
  /** Blob fetch leases shared with the other replicas and the hydrator: one upstream fetch per blob across them (default: none). */
  blobLeases?: BlobLeases;
  /** Read a blob another replica fetches from that replica's peer stream as it arrives (default: wait for its commit). */
  blobPeers?: BlobPeers;
  /** Where a peer stream that broke is reported. */
  logger?: Logger;
  now?: () => number;
}

/**
 * The pull-through registry: picks each repository's content (contentFor: LocalContent, or a
 * PullThroughContent wrapping it when a cache rule maps the repository) and owns what cached
 * repositories share in this process (the blob fetches in flight, the manifest importer, the upstream
 * listings, the miss limiter, the observer). Routes call the content; they never touch storage or
 * the network themselves. The repository-named methods are shorthands for contentFor(...) calls.
 */
export class PullThroughRegistry {
  readonly store: RegistryStore;
  readonly blobs: BlobFetcher;
  private readonly deps: PullThroughDeps;

  constructor(private readonly options: PullThroughOptions) {
    this.store = options.store;
    const now = options.now ?? Date.now;
    const observer = options.observer ?? noopObserver;
    this.blobs = new BlobFetcher(options.store, {
      ...(options.clientStallTimeoutMs !== undefined ? { clientStallTimeoutMs: options.clientStallTimeoutMs } : {}),
      ...(options.clientBufferBytes !== undefined ? { clientBufferBytes: options.clientBufferBytes } : {}),
      ...(options.clientBuffersTotalBytes !== undefined ? { clientBuffersTotalBytes: options.clientBuffersTotalBytes } : {}),
      ...(options.clientWaitMinShare !== undefined ? { clientWaitMinShare: options.clientWaitMinShare } : {}),
      ...(options.blobPrefixBytes !== undefined ? { prefixBytes: options.blobPrefixBytes } : {}),
      ...(options.readAheadLayers !== undefined ? { readAheadLayers: options.readAheadLayers } : {}),
      ...(options.readAheadHoldMs !== undefined ? { readAheadHoldMs: options.readAheadHoldMs } : {}),
      ...(options.writeLagBytes !== undefined ? { writeLagBytes: options.writeLagBytes } : {}),
      ...(options.writeLagTotalBytes !== undefined ? { writeLagTotalBytes: options.writeLagTotalBytes } : {}),
      ...(options.writeLagMinStoreShare !== undefined ? { writeLagMinStoreShare: options.writeLagMinStoreShare } : {}),
      ...(options.blobLeases ? { leases: options.blobLeases } : {}),
      ...(options.blobPeers ? { peers: options.blobPeers } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.deps = {
      blobs: this.blobs,
      manifests: new ManifestImporter(options.store, now),
      listings: new CachedListings({ store: options.store, observer, tagFreshnessSeconds: options.tagFreshnessSeconds, now }),
      hydration: options.hydration,
      observer,
      limiter: options.missLimiter ?? noMissLimit,
      tagFreshnessSeconds: options.tagFreshnessSeconds,
      prefetchConfig: options.prefetchConfig ?? true,
      now,
    };
  }

  /**
   * The repository's content for one request: a repository a cache rule maps is a PullThroughContent
   * (its LocalContent first, the rule's upstream behind it), any other an ordinary LocalContent (storage
   * only). The data routes call only the RepositoryContent interface.
   */
  contentFor(repository: string, ctx: PullContext = {}): RepositoryContent {
    const local = this.localContent(repository);
    const target = this.options.upstreams.resolve(repository);
    return target ? new PullThroughContent(local, target, this.deps, ctx) : local;
  }

  /** The repository's content in storage only (the local half of a cached repository). */
  localContent(repository: string): LocalContent {
    return new LocalContent(this.store, repository, this.options.blobRedirectSeconds !== undefined ? { blobRedirectSeconds: this.options.blobRedirectSeconds } : {});
  }

  getManifest(repository: string, reference: Reference, ctx: PullContext = {}): Promise<ManifestResponse> {
    return this.contentFor(repository, ctx).getManifest(reference);
  }

  /** Size of a blob for HEAD, from the local store or the upstream. */
  statBlob(repository: string, digest: Digest, ctx: PullContext = {}): Promise<BlobStat> {
    return this.contentFor(repository, ctx).statBlob(digest);
  }

  openBlob(repository: string, digest: Digest, range?: RangeRequest, ctx: PullContext = {}): Promise<BlobResponse> {
    return this.contentFor(repository, ctx).openBlob(digest, range);
  }

  /** See RepositoryContent.blobLocation. */
  blobLocation(repository: string, digest: Digest): Promise<string | undefined> {
    return this.contentFor(repository).blobLocation(digest);
  }

  /** See RepositoryContent.listTags. */
  listTags(repository: string, ctx: PullContext = {}): Promise<TagList> {
    return this.contentFor(repository, ctx).listTags();
  }

  listRepositories(): Promise<string[]> {
    return this.store.listRepositories();
  }

  /** See RepositoryContent.listReferrers. */
  listReferrers(repository: string, subject: Digest, artifactType?: string, ctx: PullContext = {}): Promise<ReferrerList> {
    return this.contentFor(repository, ctx).listReferrers(subject, artifactType);
  }
}
