import type { Readable } from 'node:stream';
import {
  BlobUnknownError,
  ClientThrottledError,
  ManifestUnknownError,
  NameUnknownError,
  RegistryError,
  type Digest,
  type Reference,
} from '@pullthrough/oci';
import { ruleTagFreshnessSeconds, ruleUpstreamTagNotFound, tagAllowed } from '@pullthrough/cache-rules';
import type { RegistryStore } from '@pullthrough/storage';
import { BlobFetcher } from './blob-fetcher.js';
import type { BlobLeases } from './redis-blob-leases.js';
import type { HydrationEnqueuer } from './hydration-enqueuer.js';
import { ManifestImporter, type StoredManifest } from './manifest-importer.js';
import { annotateUpstreamError } from './upstream-answers.js';
import { withFailover } from './upstream-failover.js';
import { refuseOutsideAllowList } from './allow-list-check.js';
import type { UpstreamResolver, UpstreamTarget } from './upstream-target.js';
import { resolveRange, type ByteRange, type RangeRequest } from './byte-range.js';
import { noopObserver, type PullObserver } from './pull-observer.js';
import { noMissLimit, type MissLimiter } from './miss-limiter.js';
import { CachedListings, type ReferrerList, type TagList } from './cached-listings.js';
import { staleReason } from './stale-reason.js';

/** Where a response's content came from (the `X-Cache` header). */
export type CacheStatus = 'hit' | 'miss' | 'revalidated' | 'stale' | 'local';

export interface ManifestResponse extends StoredManifest {
  cache: CacheStatus;
  /** Why a stale tag was served (upstream failure), when cache is 'stale'. */
  staleReason?: string;
}

export interface BlobResponse {
  size: number | undefined;
  stream: Readable;
  cache: CacheStatus;
  range?: ByteRange;
  /** For a streamed miss: settles when the blob is committed (or fails). */
  done?: Promise<unknown>;
}

export interface PullContext {
  requestId?: string;
  /**
   * Who the request is for (an identity or an address, see the frontend's client key): its
   * upstream-bound requests are counted by the miss limiter. Unset: not limited (the cache's own work).
   */
  client?: string;
}

export interface PullThroughOptions {
  store: RegistryStore;
  upstreams: UpstreamResolver;
  hydration: HydrationEnqueuer;
  /** Seconds a tag is served without asking the upstream again (a rule's `tagFreshnessSeconds` overrides it). */
  tagFreshnessSeconds: number;
  /** Where served/failed outcomes per rule go (rule health, metrics). */
  observer?: PullObserver;
  /** Per-client allowance of upstream-bound requests (misses, revalidations); hits never count. */
  missLimiter?: MissLimiter;
  /** A client streaming a blob miss that takes no bytes for this long (while some wait for it) is cut off (default 30 s). */
  clientStallTimeoutMs?: number;
  /** Bytes one client of a shared blob fetch may have waiting in memory before it falls behind (default 8 MiB). */
  clientBufferBytes?: number;
  /** Bytes all such clients of this process may have waiting together (default 256 MiB). */
  clientBuffersTotalBytes?: number;
  /** Local blobs are answered by a redirect to a signed storage URL valid this long, when the store has one (0: never). */
  blobRedirectSeconds?: number;
  /** Blob fetch leases shared with the other replicas and the hydrator: one upstream fetch per blob across them (default: none). */
  blobLeases?: BlobLeases;
  now?: () => number;
}

/**
 * The pull-through registry: local state first, the upstream on a miss (through the breaker-wrapped
 * client), write-through to the store, and a hydration job for what was pulled. Routes call this;
 * they never touch storage or the network themselves.
 */
export class PullThroughRegistry {
  readonly store: RegistryStore;
  private readonly manifests: ManifestImporter;
  readonly blobs: BlobFetcher;
  private readonly now: () => number;
  private readonly observer: PullObserver;
  private readonly limiter: MissLimiter;
  private readonly listings: CachedListings;

  constructor(private readonly options: PullThroughOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.observer = options.observer ?? noopObserver;
    this.limiter = options.missLimiter ?? noMissLimit;
    this.manifests = new ManifestImporter(options.store, this.now);
    this.listings = new CachedListings({
      store: options.store,
      observer: this.observer,
      tagFreshnessSeconds: options.tagFreshnessSeconds,
      now: this.now,
    });
    this.blobs = new BlobFetcher(options.store, {
      ...(options.clientStallTimeoutMs !== undefined ? { clientStallTimeoutMs: options.clientStallTimeoutMs } : {}),
      ...(options.clientBufferBytes !== undefined ? { clientBufferBytes: options.clientBufferBytes } : {}),
      ...(options.clientBuffersTotalBytes !== undefined ? { clientBuffersTotalBytes: options.clientBuffersTotalBytes } : {}),
      ...(options.blobLeases ? { leases: options.blobLeases } : {}),
    });
  }

  async getManifest(repository: string, reference: Reference, ctx: PullContext = {}): Promise<ManifestResponse> {
    const target = this.resolve(repository);
    // A rule's allow-list is checked before anything, local content included: a tightened filter
    // refuses what was cached before. By digest only the repository is checked (a digest has no tag).
    if (target) refuseOutsideAllowList(target, ManifestUnknownError, reference.kind === 'tag' ? reference.tag : undefined);
    return this.observe(target, () => this.manifestFor(repository, target, reference, ctx));
  }

  /** The repository's upstream target, reporting which of the rule's upstreams answered to the observer. */
  private resolve(repository: string): UpstreamTarget | undefined {
    const target = this.options.upstreams.resolve(repository);
    if (!target) return undefined;
    const observer = this.observer;
    target.observer = {
      upstreamAnswered: (rule, upstream, fallback) => observer.upstreamAnswered?.(rule, upstream, fallback),
      upstreamSkipped: (rule, upstream, next, err) => {
        const category = err instanceof RegistryError && err.category ? err.category : 'upstream-unavailable';
        const message = err instanceof Error ? err.message : 'upstream error';
        observer.failed(rule, category, `${message} (upstream ${upstream}; trying fallback ${next})`);
      },
    };
    return target;
  }

  /** Report a rule's outcome (served from where, or failed in which category) to the observer. */
  private async observe<T extends { cache: CacheStatus; done?: Promise<unknown> }>(target: UpstreamTarget | undefined, fn: () => Promise<T>): Promise<T> {
    if (!target) return fn();
    const rule = target.rule.name;
    const fail = (err: unknown) => {
      if (err instanceof RegistryError && err.category) this.observer.failed(rule, err.category, err.message);
    };
    try {
      const result = await fn();
      this.observer.served(rule, result.cache);
      result.done?.catch(fail);
      return result;
    } catch (err) {
      fail(err);
      throw err;
    }
  }

  private async manifestFor(repository: string, target: UpstreamTarget | undefined, reference: Reference, ctx: PullContext): Promise<ManifestResponse> {
    if (reference.kind === 'digest') {
      const local = await this.store.getManifest(repository, reference.digest);
      if (local) return { ...local, cache: target ? 'hit' : 'local' };
      if (!target) throw new ManifestUnknownError(`manifest unknown`, { detail: { repository, digest: reference.digest } });
      this.admit(target, ctx);
      return this.importManifest(target, reference, ctx);
    }
    const tag = await this.store.getTag(repository, reference.tag);
    const local = tag ? await this.store.getManifest(repository, tag.digest) : undefined;
    if (!target) {
      if (!local) throw new ManifestUnknownError(`manifest unknown`, { detail: { repository, tag: reference.tag } });
      return { ...local, cache: 'local' };
    }
    if (!tag || !local) {
      this.admit(target, ctx);
      return this.importManifest(target, reference, ctx);
    }
    // A tag a client pushed here (the rule allows pushes) wins: never revalidated, never moved by the upstream.
    if (tag.source === 'local') return { ...local, cache: 'local' };
    const ageMs = this.now() - new Date(tag.checkedAt).getTime();
    if (ageMs < ruleTagFreshnessSeconds(target.rule, this.options.tagFreshnessSeconds) * 1000) return { ...local, cache: 'hit' };
    return this.revalidate(target, reference.tag, local, ctx);
  }

  /**
   * A request about to go to the upstream for a client: take one from the client's allowance, or
   * refuse with 429 and Retry-After. Checked here, where "upstream-bound" is decided, not in routes.
   */
  private admit(target: UpstreamTarget, ctx: PullContext): void {
    if (ctx.client === undefined) return;
    const retryAfterSeconds = this.limiter.take(ctx.client);
    if (retryAfterSeconds === undefined) return;
    throw new ClientThrottledError('this client sent too many requests that need an upstream; content held locally is still served', {
      retryAfterSeconds,
      detail: { rule: target.rule.name, retryAfterSeconds },
    });
  }

  /**
   * Any failure to revalidate a tag held locally (upstream down, throttling, open breaker, DNS,
   * broken credentials, a corrupt new manifest): serve the local copy, saying it is stale and why.
   */
  private stale(local: StoredManifest, target: UpstreamTarget, err: unknown): ManifestResponse {
    return { ...local, cache: 'stale', staleReason: staleReason(err, target, this.observer) };
  }

  /** A stale tag: ask the upstream with HEAD (free on Docker Hub); same digest -> refresh, else fetch. */
  private async revalidate(target: UpstreamTarget, tag: string, local: StoredManifest, ctx: PullContext): Promise<ManifestResponse> {
    let answer;
    try {
      // A client over its allowance still gets the local copy (marked stale), without the upstream.
      this.admit(target, ctx);
      answer = (await withFailover(target, (t) => t.client.headManifest(t.upstreamRepository, tag))).value;
    } catch (err) {
      return this.stale(local, target, err);
    }
    if (answer.kind === 'not-found') {
      if (ruleUpstreamTagNotFound(target.rule) === 'serve-local') {
        return { ...local, cache: 'stale', staleReason: `upstream-not-found: tag ${tag} no longer exists upstream; the rule keeps serving the local copy` };
      }
      throw new ManifestUnknownError(`tag ${tag} no longer exists upstream`).annotate({ rule: target.rule.name, upstream: target.upstreamRegistry });
    }
    // 401/403 for a tag we hold: a broken credential must not break pulls of what is local.
    if (answer.kind !== 'ok') {
      this.observer.failed(target.rule.name, 'upstream-auth', `upstream ${target.upstreamRegistry} refused tag ${tag}: ${answer.message}`);
      return { ...local, cache: 'stale', staleReason: `upstream-auth: ${answer.message}` };
    }
    if (answer.value.digest === local.digest) {
      await this.store.putTag(target.downstreamRepository, tag, local.digest, new Date(this.now()));
      return { ...local, cache: 'revalidated' };
    }
    try {
      return await this.importManifest(target, { kind: 'tag', tag }, ctx);
    } catch (err) {
      // The tag moved but its new manifest cannot be fetched (or is corrupt): the old one is still a valid answer.
      return this.stale(local, target, err);
    }
  }

  private async importManifest(target: UpstreamTarget, reference: Reference, ctx: PullContext): Promise<ManifestResponse> {
    const imported = await this.manifests.import(target, reference);
    this.options.hydration.enqueue({
      downstreamRepository: target.downstreamRepository,
      ruleName: target.rule.name,
      // The registry that served: the rule's source, or the fallback that stood in for it.
      upstreamRegistry: imported.servedBy.registry,
      upstreamRepository: imported.servedBy.repository,
      digest: imported.digest,
      ...(reference.kind === 'tag' ? { tag: reference.tag } : {}),
      ...(target.rule.credentialSetName ? { credentialSetName: target.rule.credentialSetName } : {}),
      platforms: target.rule.platforms ?? 'pulled',
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
      enqueuedAt: new Date(this.now()).toISOString(),
    });
    const { parsed: _parsed, ...stored } = imported;
    return { ...stored, cache: 'miss' };
  }

  /** Size of a blob for HEAD, from the local store or the upstream. */
  async statBlob(repository: string, digest: Digest, ctx: PullContext = {}): Promise<{ size: number; cache: CacheStatus }> {
    const target = this.resolve(repository);
    if (target) refuseOutsideAllowList(target, BlobUnknownError);
    return this.observe(target, () => this.blobSize(repository, target, digest, ctx));
  }

  private async blobSize(repository: string, maybeTarget: UpstreamTarget | undefined, digest: Digest, ctx: PullContext): Promise<{ size: number; cache: CacheStatus }> {
    // Taken before storage is read: a fetch finishing meanwhile links just after its commit.
    const running = this.runningFetch(maybeTarget, digest);
    const { linked, stored } = await this.localBlob(repository, digest);
    if (linked && stored) return { size: stored.size, cache: maybeTarget ? 'hit' : 'local' };
    const target = this.requireTarget(repository, digest, maybeTarget);
    // A fetch for this repository's upstream is running or committing: its result is this answer.
    if (running) return { size: (await running).size, cache: 'miss' };
    this.admit(target, ctx);
    if (stored) {
      // Stored for another repository: this one's upstream must confirm it (then later pulls are local).
      await this.blobs.confirm(target, digest, stored.size);
      return { size: stored.size, cache: 'revalidated' };
    }
    const { value: answer } = await withFailover(target, (t) => t.client.headBlob(t.upstreamRepository, digest));
    if (answer.kind === 'ok' && answer.value.size !== undefined) return { size: answer.value.size, cache: 'miss' };
    if (answer.kind === 'ok') {
      const fetched = await this.blobs.ensure(target, digest);
      return { size: fetched.size, cache: 'miss' };
    }
    throw new BlobUnknownError('blob unknown upstream', { detail: { digest } }).annotate({ rule: target.rule.name });
  }

  async openBlob(repository: string, digest: Digest, range?: RangeRequest, ctx: PullContext = {}): Promise<BlobResponse> {
    const target = this.resolve(repository);
    if (target) refuseOutsideAllowList(target, BlobUnknownError);
    return this.observe(target, () => this.blobFor(repository, target, digest, range, ctx));
  }

  /**
   * Where a client may fetch a local blob directly (a short-lived signed storage URL), or undefined:
   * redirects off, the store has no such URLs, or the blob is not linked and stored (then openBlob).
   */
  async blobLocation(repository: string, digest: Digest): Promise<string | undefined> {
    const seconds = this.options.blobRedirectSeconds ?? 0;
    if (seconds <= 0) return undefined;
    const target = this.resolve(repository);
    if (target) refuseOutsideAllowList(target, BlobUnknownError);
    const { linked, stored } = await this.localBlob(repository, digest);
    if (!linked || !stored) return undefined;
    const url = await this.store.signedBlobUrl(digest, seconds);
    if (url && target) this.observer.served(target.rule.name, 'hit');
    return url;
  }

  /**
   * A blob is served for a repository only when it is linked to it and stored. A blob stored for
   * another repository is linked once this repository's upstream confirms it with a HEAD (no second
   * download); a missing one is fetched from this repository's upstream (which links it).
   */
  private async blobFor(repository: string, maybeTarget: UpstreamTarget | undefined, digest: Digest, range: RangeRequest | undefined, ctx: PullContext): Promise<BlobResponse> {
    // Taken before storage is read: a fetch finishing meanwhile links just after its commit.
    const running = this.runningFetch(maybeTarget, digest);
    const { linked, stored } = await this.localBlob(repository, digest);
    if (linked && stored) return this.openLocal(digest, stored.size, range, maybeTarget ? 'hit' : 'local');
    const target = this.requireTarget(repository, digest, maybeTarget);
    if (running) {
      // A fetch for this repository's upstream is running (or committing): join it, no upstream request.
      // The caller taps it while its bytes are still to come or still kept in memory; else it waits for
      // the commit. (Checked again in the same tick: a fetch that ended meanwhile is not started anew.)
      const tapped = this.blobs.isRunning(target, digest) ? (range ? await this.blobs.streamRange(target, digest, range) : await this.blobs.stream(target, digest)) : undefined;
      if (tapped) return { size: tapped.size, stream: tapped.stream, cache: 'miss', done: tapped.done, ...(tapped.range ? { range: tapped.range } : {}) };
      return this.openLocal(digest, (await running).size, range, 'miss');
    }
    this.admit(target, ctx);
    if (stored) {
      await this.blobs.confirm(target, digest, stored.size);
      return this.openLocal(digest, stored.size, range, 'revalidated');
    }
    // Bytes go out as they arrive from the one upstream fetch: the whole blob, or just the range asked for.
    const live = range ? await this.blobs.streamRange(target, digest, range) : await this.blobs.stream(target, digest);
    if (live) return { size: live.size, stream: live.stream, cache: 'miss', done: live.done, ...(live.range ? { range: live.range } : {}) };
    // The fetch (led or joined) links the blob to this repository: its upstream served it.
    const fetched = await this.blobs.ensure(target, digest);
    return this.openLocal(digest, fetched.size, range, 'miss');
  }

  /** The running fetch of this blob for the target's upstream coordinates, joined (no upstream request), if any. */
  private runningFetch(target: UpstreamTarget | undefined, digest: Digest): Promise<{ size: number }> | undefined {
    const joined = target ? this.blobs.join(target, digest) : undefined;
    // Awaited only if storage does not answer first; its failure then surfaces there.
    joined?.catch(() => undefined);
    return joined;
  }

  private async openLocal(digest: Digest, size: number, request: RangeRequest | undefined, cache: CacheStatus): Promise<BlobResponse> {
    const range = request ? resolveRange(request, size) : undefined;
    const stream = await this.store.openBlob(digest, range);
    return { size, stream, cache, ...(range ? { range } : {}) };
  }

  /** Whether `repository` may serve the blob (linked) and whether its bytes are here (stored, for any repository). */
  private async localBlob(repository: string, digest: Digest): Promise<{ linked: boolean; stored: { size: number } | undefined }> {
    const linked = await this.store.isBlobLinked(repository, digest);
    return { linked, stored: await this.store.statBlob(digest) };
  }

  private requireTarget(repository: string, digest: Digest, target: UpstreamTarget | undefined): UpstreamTarget {
    if (!target) throw new BlobUnknownError('blob unknown to registry', { detail: { repository, digest } });
    return target;
  }

  /**
   * tags/list: a cached repository's upstream tags merged with the local ones (local only, marked
   * stale, when the upstream cannot answer), cut to what its rule's allow-list admits (a refused
   * repository is unknown, and never asked for).
   */
  async listTags(repository: string, ctx: PullContext = {}): Promise<TagList> {
    const target = this.options.upstreams.resolve(repository);
    if (target) refuseOutsideAllowList(target, NameUnknownError);
    const list = await this.listings.listTags(repository, target, () => target && this.admit(target, ctx));
    return target ? { ...list, tags: list.tags.filter((tag) => tagAllowed(target.rule.allow, tag)) } : list;
  }

  listRepositories(): Promise<string[]> {
    return this.store.listRepositories();
  }

  /** OCI 1.1 referrers: a cached repository's upstream referrers (API or tag schema) merged with the local ones; a repository outside its rule's allow-list is unknown. */
  listReferrers(repository: string, subject: Digest, artifactType?: string, ctx: PullContext = {}): Promise<ReferrerList> {
    const target = this.options.upstreams.resolve(repository);
    if (target) refuseOutsideAllowList(target, NameUnknownError);
    return this.listings.listReferrers(repository, target, subject, artifactType, () => target && this.admit(target, ctx));
  }
}
