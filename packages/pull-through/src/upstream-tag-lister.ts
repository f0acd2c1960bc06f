import { LruCache } from '@pullthrough/oci';
import { SingleFlight } from './single-flight.js';
import { annotateUpstreamError, unwrapAnswer } from './upstream-answers.js';
import type { UpstreamTarget } from './upstream-target.js';
import { NameUnknownError } from '@pullthrough/oci';

/** Tags asked for per upstream page (registries may send fewer and a Link to the next page). */
export const UPSTREAM_TAG_PAGE_SIZE = 1000;
/** Upstream pages followed at most for one listing. */
export const MAX_UPSTREAM_TAG_PAGES = 20;
/** Upstream tags kept at most for one repository: the rest of a longer list is not shown. */
export const MAX_UPSTREAM_TAGS = 10_000;
/** An upstream tag list is reused for at most this long (less when the rule's tag freshness is shorter). */
export const MAX_UPSTREAM_TAG_LIST_TTL_MS = 30_000;
/** Tags held in memory across every repository's cached list. */
const MAX_CACHED_TAGS = 200_000;

/** An upstream repository's tags (unsorted, valid tags only); `truncated` when the bounds cut it short. */
export interface UpstreamTagList {
  tags: string[];
  truncated: boolean;
}

/**
 * The full tag list of an upstream repository: follows the upstream's `Link` pagination up to
 * MAX_UPSTREAM_TAG_PAGES pages / MAX_UPSTREAM_TAGS tags. A list (or an upstream 404, kept as null)
 * is remembered briefly, per upstream repository and credential set, so that a client paging
 * through `tags/list` with `n`/`last` costs one upstream listing, not one per page; concurrent
 * listings of one repository share one upstream walk.
 */
export class UpstreamTagLister {
  private readonly cache: LruCache<UpstreamTagList | null>;
  private readonly flights = new SingleFlight<UpstreamTagList | null>();

  constructor(now: () => number = Date.now) {
    this.cache = new LruCache(MAX_CACHED_TAGS, (v) => (v?.tags.length ?? 0) + 1, now);
  }

  /** The list remembered for the target: a list, null (the upstream said 404) or undefined (not held). */
  held(target: UpstreamTarget): UpstreamTagList | null | undefined {
    return this.cache.get(listKey(target));
  }

  /** Ask the upstream (joining a walk in progress); null when the upstream has no such repository. */
  list(target: UpstreamTarget, ttlMs: number): Promise<UpstreamTagList | null> {
    const key = listKey(target);
    return this.flights.run(key, async () => {
      const list = await this.walk(target);
      this.cache.set(key, list, Math.min(ttlMs, MAX_UPSTREAM_TAG_LIST_TTL_MS));
      return list;
    });
  }

  private async walk(target: UpstreamTarget): Promise<UpstreamTagList | null> {
    const tags = new Set<string>();
    let query: URLSearchParams | undefined = new URLSearchParams({ n: String(UPSTREAM_TAG_PAGE_SIZE) });
    for (let page = 0; query !== undefined; page++) {
      if (page === MAX_UPSTREAM_TAG_PAGES || tags.size >= MAX_UPSTREAM_TAGS) return { tags: [...tags].slice(0, MAX_UPSTREAM_TAGS), truncated: true };
      let answer;
      try {
        answer = await target.client.listTags(target.upstreamRepository, query);
      } catch (err) {
        throw annotateUpstreamError(err, target);
      }
      if (answer.kind === 'not-found' && page === 0) return null;
      const value = unwrapAnswer(answer, target, `repository ${target.upstreamRepository}`, NameUnknownError);
      for (const tag of value.tags) tags.add(tag);
      query = value.next;
    }
    return { tags: [...tags].slice(0, MAX_UPSTREAM_TAGS), truncated: tags.size > MAX_UPSTREAM_TAGS };
  }
}

function listKey(target: UpstreamTarget): string {
  return JSON.stringify([target.upstreamRegistry, target.upstreamRepository, target.rule.credentialSetName ?? null]);
}
