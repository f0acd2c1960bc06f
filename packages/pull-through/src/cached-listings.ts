import { NameUnknownError, type Descriptor, type Digest } from '@pullthrough/oci';
import { ruleTagFreshnessSeconds } from '@pullthrough/cache-rules';
import type { RegistryStore } from '@pullthrough/storage';
import type { PullObserver } from './pull-observer.js';
import { staleReason } from './stale-reason.js';
import { upstreamReferrers } from './upstream-referrers.js';
import { UpstreamTagLister } from './upstream-tag-lister.js';
import { targetContext, type UpstreamTarget } from './upstream-target.js';

/** Where a listing came from: local only, the upstream asked now ('miss') or shortly before ('hit'), or local because the upstream failed ('stale'). */
export type ListingCache = 'local' | 'hit' | 'miss' | 'stale';

export interface TagList {
  tags: string[];
  cache: ListingCache;
  staleReason?: string;
}

export interface ReferrerList {
  manifests: Descriptor[];
  cache: ListingCache;
  staleReason?: string;
}

/** Take one upstream-bound request from the client's allowance (throws ClientThrottledError when it is spent). */
export type Admit = () => void;

export interface CachedListingsOptions {
  store: RegistryStore;
  observer: PullObserver;
  /** The default tag freshness window, seconds (a rule's own overrides it). */
  tagFreshnessSeconds: number;
  now?: () => number;
}

/**
 * tags/list and referrers of a cached repository: the upstream's answer merged with what is held
 * locally; when the upstream cannot answer (down, throttled, breaker open, refused, the client over
 * its allowance) the local listing, marked stale with the reason. A local repository lists local
 * content only.
 */
export class CachedListings {
  private readonly tagLister: UpstreamTagLister;

  constructor(private readonly options: CachedListingsOptions) {
    this.tagLister = new UpstreamTagLister(options.now);
  }

  /** Sorted in the spec's lexical order, de-duplicated. */
  async listTags(repository: string, target: UpstreamTarget | undefined, admit: Admit): Promise<TagList> {
    const local = await this.options.store.listTags(repository);
    if (!target) {
      if (local.length === 0) throw new NameUnknownError('repository name not known to registry', { detail: { name: repository } });
      return { tags: local, cache: 'local' };
    }
    let upstream = this.tagLister.held(target);
    const cache: ListingCache = upstream === undefined ? 'miss' : 'hit';
    if (upstream === undefined) {
      try {
        admit();
        const ttlMs = ruleTagFreshnessSeconds(target.rule, this.options.tagFreshnessSeconds) * 1000;
        upstream = await this.tagLister.list(target, ttlMs);
      } catch (err) {
        return { tags: local, cache: 'stale', staleReason: staleReason(err, target, this.options.observer) };
      }
    }
    if (upstream === null && local.length === 0) {
      throw new NameUnknownError('repository name not known upstream', { detail: { name: repository } }).annotate(targetContext(target));
    }
    return { tags: [...new Set([...local, ...(upstream?.tags ?? [])])].sort(), cache };
  }

  /** Referrers of `subject` (local ones win over an upstream descriptor with the same digest), sorted by digest, filtered by artifactType. */
  async listReferrers(repository: string, target: UpstreamTarget | undefined, subject: Digest, artifactType: string | undefined, admit: Admit): Promise<ReferrerList> {
    const keep = (d: Descriptor) => artifactType === undefined || d.artifactType === artifactType;
    const local = (await this.options.store.listReferrers(repository, subject)).filter(keep);
    if (!target) return { manifests: local, cache: 'local' };
    let upstream: Descriptor[];
    try {
      admit();
      upstream = await upstreamReferrers(target, subject, artifactType);
    } catch (err) {
      return { manifests: local, cache: 'stale', staleReason: staleReason(err, target, this.options.observer) };
    }
    const byDigest = new Map<string, Descriptor>();
    for (const d of [...upstream.filter(keep), ...local]) byDigest.set(d.digest, d);
    const manifests = [...byDigest.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    return { manifests, cache: 'miss' };
  }
}
