import { blobDescriptors, BlobUnknownError, ClientThrottledError, ManifestUnknownError, NameUnknownError, RegistryError, type Digest, type ParsedManifest, type Reference } from '@pullthrough/oci';
import { ruleTagFreshnessSeconds, ruleUpstreamTagNotFound, tagAllowed } from '@pullthrough/cache-rules';
import type { BlobFetcher } from '../blob-fetcher.js';
import type { ClaimAhead } from '../claims-ahead.js';
import type { CachedListings, ReferrerList, TagList } from '../cached-listings.js';
import type { HydrationEnqueuer } from '../hydration-enqueuer.js';
import type { ManifestImporter, StoredManifest } from '../manifest-importer.js';
import type { MissLimiter } from '../miss-limiter.js';
import type { PullObserver } from '../pull-observer.js';
import type { RangeRequest } from '../byte-range.js';
import { refuseOutsideAllowList } from '../allow-list-check.js';
import { staleReason } from '../stale-reason.js';
import { withFailover } from '../upstream-failover.js';
import type { UpstreamTarget } from '../upstream-target.js';
import { liveBlobBody } from './blob-body.js';
import type { LocalBlobState, LocalContent } from './local-content.js';
import type { BlobBody, BlobStat, CacheStatus, ManifestResponse, PullContext, RepositoryContent } from './repository-content.js';

/** An image config larger than this (rare: most are a few KiB) is not fetched before a client asks for it. */
export const CONFIG_PREFETCH_MAX_BYTES = 1024 * 1024;

/** The machinery every cached repository shares (one per process: the fetches in flight, the limits, the feeds). */
export interface PullThroughDeps {
  blobs: BlobFetcher;
  manifests: ManifestImporter;
  listings: CachedListings;
  hydration: HydrationEnqueuer;
  observer: PullObserver;
  limiter: MissLimiter;
  /** Seconds a tag is served without asking the upstream again (a rule's `tagFreshnessSeconds` overrides it). */
  tagFreshnessSeconds: number;
  /** Start an imported image manifest's config fetch before the client asks for it (prefetchConfig). */
  prefetchConfig: boolean;
  now: () => number;
}

/**
 * A cached repository: its LocalContent first, the rule's upstream behind it (like distribution's
 * proxy stores, which wrap the local stores and satisfy the same interfaces). Adds freshness and
 * revalidation of tags (HEAD), stale serving when the upstream cannot answer, confirmation HEADs for
 * blobs stored for another repository, misses streamed through the one shared BlobFetcher, a
 * hydration job per imported manifest, the client's miss allowance, the rule's allow-list checked
 * before anything (local content included), and served/failed outcomes reported per rule.
 */
export class PullThroughContent implements RepositoryContent {
  readonly repository: string;
  /** `observed`, made on first use: a manifest hit on a fresh tag never asks an upstream. */
  private observedTarget: UpstreamTarget | undefined;

  constructor(
    private readonly local: LocalContent,
    /** Listings use the target as resolved: they report no upstream use. */
    private readonly target: UpstreamTarget,
    private readonly deps: PullThroughDeps,
    private readonly ctx: PullContext = {},
  ) {
    this.repository = local.repository;
  }

  /** The target reporting which of the rule's upstreams answered (manifests and blobs). */
  private get observed(): UpstreamTarget {
    if (this.observedTarget) return this.observedTarget;
    const observer = this.deps.observer;
    this.observedTarget = {
      ...this.target,
      observer: {
        upstreamAnswered: (rule, upstream, fallback) => observer.upstreamAnswered?.(rule, upstream, fallback),
        upstreamSkipped: (rule, upstream, next, err) => {
          const category = err instanceof RegistryError && err.category ? err.category : 'upstream-unavailable';
          const message = err instanceof Error ? err.message : 'upstream error';
          observer.failed(rule, category, `${message} (upstream ${upstream}; trying fallback ${next})`);
        },
      },
    };
    return this.observedTarget;
  }

  getManifest(reference: Reference): Promise<ManifestResponse> {
    // A rule's allow-list is checked before anything, local content included: a tightened filter
    // refuses what was cached before. By digest only the repository is checked (a digest has no tag).
    refuseOutsideAllowList(this.target, ManifestUnknownError, reference.kind === 'tag' ? reference.tag : undefined);
    return this.observe(() => this.manifestFor(reference));
  }

  statBlob(digest: Digest): Promise<BlobStat> {
    refuseOutsideAllowList(this.target, BlobUnknownError);
    return this.observe(() => this.blobSize(digest));
  }

  openBlob(digest: Digest, range?: RangeRequest): Promise<BlobBody> {
    refuseOutsideAllowList(this.target, BlobUnknownError);
    return this.observe(() => this.blobFor(digest, range));
  }

  async blobLocation(digest: Digest): Promise<string | undefined> {
    if (!this.local.redirectsBlobs) return undefined;
    refuseOutsideAllowList(this.target, BlobUnknownError);
    const { linked, stored } = await this.local.blobState(digest);
    if (!linked || !stored) return undefined;
    const url = await this.local.signedLocation(digest);
    if (url) this.deps.observer.served(this.target.rule.name, 'hit');
    return url;
  }

  /**
   * tags/list: the upstream's tags merged with the local ones (local only, marked stale, when the
   * upstream cannot answer), cut to what the rule's allow-list admits (a refused repository is
   * unknown, and never asked for).
   */
  async listTags(): Promise<TagList> {
    refuseOutsideAllowList(this.target, NameUnknownError);
    const list = await this.deps.listings.listTags(this.repository, this.target, () => this.admit());
    return { ...list, tags: list.tags.filter((tag) => tagAllowed(this.target.rule.allow, tag)) };
  }

  /** OCI 1.1 referrers: the upstream's (API or tag schema) merged with the local ones. */
  listReferrers(subject: Digest, artifactType?: string): Promise<ReferrerList> {
    refuseOutsideAllowList(this.target, NameUnknownError);
    return this.deps.listings.listReferrers(this.repository, this.target, subject, artifactType, () => this.admit());
  }

  /** Report the rule's outcome (served from where, or failed in which category) to the observer. */
  private async observe<T extends { cache: CacheStatus; done?: Promise<unknown> }>(fn: () => Promise<T>): Promise<T> {
    const rule = this.target.rule.name;
    const fail = (err: unknown) => {
      if (err instanceof RegistryError && err.category) this.deps.observer.failed(rule, err.category, err.message);
    };
    try {
      const result = await fn();
      this.deps.observer.served(rule, result.cache);
      result.done?.catch(fail);
      return result;
    } catch (err) {
      fail(err);
      throw err;
    }
  }

  /**
   * A request about to go to the upstream for a client: take one from the client's allowance, or
   * refuse with 429 and Retry-After. Checked here, where "upstream-bound" is decided, not in routes.
   */
  private admit(): void {
    if (this.ctx.client === undefined) return;
    const retryAfterSeconds = this.deps.limiter.take(this.ctx.client);
    if (retryAfterSeconds === undefined) return;
    throw new ClientThrottledError('this client sent too many requests that need an upstream; content held locally is still served', {
      retryAfterSeconds,
      detail: { rule: this.target.rule.name, retryAfterSeconds },
    });
  }

  private async manifestFor(reference: Reference): Promise<ManifestResponse> {
    if (reference.kind === 'digest') {
      const local = await this.local.manifest(reference.digest);
      if (local) return { ...local, cache: 'hit' };
      this.admit();
      return this.importManifest(reference);
    }
    const { record, manifest } = await this.local.tagged(reference.tag);
    if (!record || !manifest) {
      this.admit();
      return this.importManifest(reference);
    }
    // A tag a client pushed here (the rule allows pushes) wins: never revalidated, never moved by the upstream.
    if (record.source === 'local') return { ...manifest, cache: 'local' };
    const ageMs = this.deps.now() - new Date(record.checkedAt).getTime();
    if (ageMs < ruleTagFreshnessSeconds(this.target.rule, this.deps.tagFreshnessSeconds) * 1000) return { ...manifest, cache: 'hit' };
    return this.revalidate(reference.tag, manifest);
  }

  /**
   * Any failure to revalidate a tag held locally (upstream down, throttling, open breaker, DNS,
   * broken credentials, a corrupt new manifest): serve the local copy, saying it is stale and why.
   */
  private stale(local: StoredManifest, err: unknown): ManifestResponse {
    return { ...local, cache: 'stale', staleReason: staleReason(err, this.observed, this.deps.observer) };
  }

  /** A stale tag: ask the upstream with HEAD (free on Docker Hub); same digest -> refresh, else fetch. */
  private async revalidate(tag: string, local: StoredManifest): Promise<ManifestResponse> {
    const target = this.observed;
    let answer;
    try {
      // A client over its allowance still gets the local copy (marked stale), without the upstream.
      this.admit();
      answer = (await withFailover(target, (t) => t.client.headManifest(t.upstreamRepository, tag))).value;
    } catch (err) {
      return this.stale(local, err);
    }
    if (answer.kind === 'not-found') {
      if (ruleUpstreamTagNotFound(target.rule) === 'serve-local') {
        return { ...local, cache: 'stale', staleReason: `upstream-not-found: tag ${tag} no longer exists upstream; the rule keeps serving the local copy` };
      }
      throw new ManifestUnknownError(`tag ${tag} no longer exists upstream`).annotate({ rule: target.rule.name, upstream: target.upstreamRegistry });
    }
    // 401/403 for a tag we hold: a broken credential must not break pulls of what is local.
    if (answer.kind !== 'ok') {
      this.deps.observer.failed(target.rule.name, 'upstream-auth', `upstream ${target.upstreamRegistry} refused tag ${tag}: ${answer.message}`);
      return { ...local, cache: 'stale', staleReason: `upstream-auth: ${answer.message}` };
    }
    if (answer.value.digest === local.digest) {
      await this.local.refreshTag(tag, local.digest, new Date(this.deps.now()));
      return { ...local, cache: 'revalidated' };
    }
    try {
      return await this.importManifest({ kind: 'tag', tag });
    } catch (err) {
      // The tag moved but its new manifest cannot be fetched (or is corrupt): the old one is still a valid answer.
      return this.stale(local, err);
    }
  }

  private async importManifest(reference: Reference): Promise<ManifestResponse> {
    const target = this.observed;
    const imported = await this.deps.manifests.import(target, reference, (parsed) => this.fetchAhead(parsed));
    this.deps.hydration.enqueue({
      downstreamRepository: target.downstreamRepository,
      ruleName: target.rule.name,
      // The registry that served: the rule's source, or the fallback that stood in for it.
      upstreamRegistry: imported.servedBy.registry,
      upstreamRepository: imported.servedBy.repository,
      digest: imported.digest,
      ...(reference.kind === 'tag' ? { tag: reference.tag } : {}),
      ...(target.rule.credentialSetName ? { credentialSetName: target.rule.credentialSetName } : {}),
      platforms: target.rule.platforms ?? 'pulled',
      ...(this.ctx.requestId ? { requestId: this.ctx.requestId } : {}),
      enqueuedAt: new Date(this.deps.now()).toISOString(),
    });
    const { parsed: _parsed, ...stored } = imported;
    return { ...stored, cache: 'miss' };
  }

  /**
   * An image manifest from the upstream, verified, while it is being stored: its config is asked for
   * first, its layers next, most likely missing here (BlobFetcher.expectMisses: their lease claims are
   * made early, and a request for one reads the next ones ahead; foreign layers are fetched by clients
   * from their own URLs).
   */
  private fetchAhead(parsed: ParsedManifest): void {
    if (parsed.isIndex) return;
    if (this.deps.prefetchConfig) this.prefetchConfig(parsed);
    this.deps.blobs.expectMisses(this.observed, blobDescriptors(parsed).filter((d) => d !== parsed.config));
  }

  /**
   * An image manifest fetched for a client: its config is what clients ask for next, so its upstream
   * GET starts as soon as the manifest is verified, while the manifest is still being stored. The
   * client's request then taps this fetch (its first bytes are kept in memory) instead of starting
   * one. One GET per imported image manifest, to the upstream and with the credentials that the
   * manifest came through; not counted against the client's allowance (its manifest request was).
   * A config stored already (for any repository) is left to the client's request (this repository's
   * upstream must confirm it), and so is one larger than CONFIG_PREFETCH_MAX_BYTES.
   */
  private prefetchConfig(parsed: ParsedManifest): void {
    const config = parsed.config;
    if (parsed.isIndex || !config || config.size > CONFIG_PREFETCH_MAX_BYTES) return;
    const target = this.observed;
    const blobs = this.deps.blobs;
    const digest = config.digest;
    if (blobs.isRunning(target, digest)) return;
    void (async () => {
      if (await this.local.isStored(digest)) return;
      // Bytes nobody reads yet: this tap drains them (a later client taps from the kept prefix).
      const live = await blobs.stream(target, digest, config.size);
      live?.stream.resume();
      await live?.done;
    })().catch(() => undefined);
  }

  private async blobSize(digest: Digest): Promise<BlobStat> {
    const target = this.observed;
    const blobs = this.deps.blobs;
    // Taken before storage is read: a fetch finishing meanwhile links just after its commit.
    const running = blobs.join(target, digest);
    // Awaited only if storage does not answer first; its failure then surfaces there.
    running?.catch(() => undefined);
    const { linked, stored } = await this.local.blobState(digest);
    if (linked && stored) return { size: stored.size, cache: 'hit' };
    // A fetch for this repository's upstream is running or committing: its result is this answer.
    if (running) return { size: (await running).size, cache: 'miss' };
    this.admit();
    if (stored) {
      // Stored for another repository: this one's upstream must confirm it (then later pulls are local).
      await blobs.confirm(target, digest, stored.size);
      return { size: stored.size, cache: 'revalidated' };
    }
    const { value: answer } = await withFailover(target, (t) => t.client.headBlob(t.upstreamRepository, digest));
    if (answer.kind === 'ok' && answer.value.size !== undefined) return { size: answer.value.size, cache: 'miss' };
    if (answer.kind === 'ok') {
      const fetched = await blobs.ensure(target, digest);
      return { size: fetched.size, cache: 'miss' };
    }
    throw new BlobUnknownError('blob unknown upstream', { detail: { digest } }).annotate({ rule: target.rule.name });
  }

  /**
   * A blob is served for a repository only when it is linked to it and stored. A blob stored for
   * another repository is linked once this repository's upstream confirms it with a HEAD (no second
   * download); a missing one is fetched from this repository's upstream (which links it).
   */
  private async blobFor(digest: Digest, range: RangeRequest | undefined): Promise<BlobBody> {
    const target = this.observed;
    const blobs = this.deps.blobs;
    // Looked at before storage is read. A fetch of it for this repository's upstream running here is joined at
    // once, without that look: it can wait behind the store's writes (a thread pool's turn) while the fetch's
    // kept first bytes go by for a herd's clients. One that starts or finishes meanwhile is joined, not asked
    // again. A blob of a manifest just fetched from the upstream: its fetch lease is claimed while storage is
    // read (`ahead`), and the next layers are fetched ahead of this client's requests for them.
    const { running: wasRunning, ahead } = blobs.requested(target, digest);
    try {
      const looked = wasRunning ? undefined : await this.lookBeforeJoin(digest, range, ahead);
      if (looked && 'body' in looked) return looked.body;
      const joined = !looked || blobs.isRunning(target, digest) ? await this.joinRunning(digest, range) : looked;
      if ('body' in joined) return joined.body;
      const { stored } = joined.state;
      this.admit();
      if (stored) {
        await blobs.confirm(target, digest, stored.size);
        return this.local.openStored(digest, stored.size, range, 'revalidated');
      }
      // Bytes go out as they arrive from the one upstream fetch: the whole blob, or just the range asked for.
      const live = range ? await blobs.streamRange(target, digest, range) : await blobs.stream(target, digest);
      if (live) return liveBlobBody(live, 'miss');
      // The fetch (led or joined) links the blob to this repository: its upstream served it.
      const fetched = await blobs.ensure(target, digest);
      return this.local.openStored(digest, fetched.size, range, 'miss');
    } finally {
      // Unless a fetch took the claim over (it releases it), nobody will use it: let it go.
      ahead?.drop(false);
    }
  }

  /** Storage as it is now: a hit is opened; a blob stored after all gives up the lease claim made ahead, saying so. */
  private async lookBeforeJoin(digest: Digest, range: RangeRequest | undefined, ahead: ClaimAhead | undefined): Promise<{ body: BlobBody } | { state: LocalBlobState }> {
    const state = await this.local.blobState(digest);
    if (state.stored) ahead?.drop(true);
    if (state.linked && state.stored) return { body: await this.local.openStored(digest, state.stored.size, range, 'hit') };
    return { state };
  }

  /**
   * Join the fetch of this blob for this repository's upstream (no upstream request): tap it while
   * its bytes are still to come or still kept in memory, else wait for its commit and read the stored
   * blob. Each way links this repository once: a tap with the commit, a join when the fetch settles.
   * When the fetch ended before it could be joined and left nothing linked here: storage as it is now
   * (the blob may be stored, for another repository: then this repository's upstream must confirm it).
   */
  private async joinRunning(digest: Digest, range: RangeRequest | undefined): Promise<{ body: BlobBody } | { state: LocalBlobState }> {
    const target = this.observed;
    const blobs = this.deps.blobs;
    // Checked and tapped in the same tick: a fetch that ended meanwhile is not started anew.
    const tapped = blobs.isRunning(target, digest) ? (range ? await blobs.streamRange(target, digest, range) : await blobs.stream(target, digest)) : undefined;
    if (tapped) return { body: liveBlobBody(tapped, 'miss') };
    // Read once the blob is in place: the fetch links it to this repository meanwhile.
    const joined = blobs.join(target, digest, true);
    if (joined) return { body: await this.local.openStored(digest, (await joined).size, range, 'miss') };
    // It ended between the two looks: linked here if it was this repository's fetch.
    const state = await this.local.blobState(digest);
    return state.linked && state.stored ? { body: await this.local.openStored(digest, state.stored.size, range, 'miss') } : { state };
  }
}
