import { LruCache, ManifestUnknownError, isDigest, sharedCall, type Digest } from '@pullthrough/oci';
import { lexical } from './lexical.js';
import { mapLimit } from './map-limit.js';
import { ManifestStore } from './manifest-store.js';
import type { StorageDriver } from './storage-driver.js';
import { checkTag, tagCurrentLinkPath, tagPath, tagsPath } from './store-layout.js';

/** Who set a tag: a pull from the upstream (revalidated, may move) or a client's push here (never overwritten by the upstream). */
export type TagSource = 'upstream' | 'local';

export interface TagRecord {
  digest: Digest;
  /** When the upstream was last asked what this tag points to (for a local tag: when it was pushed). */
  checkedAt: Date;
  /** Records written before tags had a source read as `upstream`. */
  source: TagSource;
}

/** A tag with its record, as the admin API lists them. */
export interface TagEntry extends TagRecord {
  tag: string;
}

function parseTagLink(raw: Buffer): TagRecord | undefined {
  try {
    const link = JSON.parse(raw.toString('utf8')) as { digest?: unknown; checkedAt?: unknown; source?: unknown };
    if (typeof link.digest !== 'string' || !isDigest(link.digest) || typeof link.checkedAt !== 'string') return undefined;
    const checkedAt = new Date(link.checkedAt);
    const source: TagSource = link.source === 'local' ? 'local' : 'upstream';
    return Number.isNaN(checkedAt.getTime()) ? undefined : { digest: link.digest, checkedAt, source };
  } catch {
    return undefined;
  }
}

export interface TagCacheOptions {
  /**
   * How long a tag record read from storage is answered from memory (0: always read). Writes by
   * this process are seen at once; a change by another process (another frontend, the hydrator)
   * to a tag this one holds is seen after at most this long, as if the request had come that much
   * earlier. A tag this process does not hold is always read.
   */
  ttlMs: number;
  /** Tag records kept at most. */
  maxEntries: number;
  /** The clock the ttl is measured on (default: Date.now). */
  now?: () => number;
}

/** One second: a tag hit at thousands of requests/s reads its link file once a second, not per request. */
export const DEFAULT_TAG_CACHE: TagCacheOptions = { ttlMs: 1_000, maxEntries: 10_000 };

/** Tags: `repositories/<name>/_manifests/tags/<tag>/current/link` holding `{ digest, checkedAt }`. */
/** An upstream tag write found a pushed (`local`) tag in place when it was about to put its link there. */
class LocalTagStands extends Error {}

export class TagStore {
  private readonly cache: LruCache<TagRecord>;
  private readonly ttlMs: number;
  /**
   * Reads of a tag's link under way: a request that finds the record expired while another one reads it
   * waits for that read. Without it every request in flight when a hot tag's record expires read the link
   * file itself (dozens at 50 connections, queued in the thread pool), once a second: the slowest 1 % of
   * manifest hits (bench: p99 at 50 connections 10-11 ms, while the median was 3 ms).
   */
  private readonly reading = new Map<string, Promise<TagRecord | undefined>>();
  /** Tag writes and deletes by this process so far: a read that saw one happen meanwhile does not cache what it read. */
  private writes = 0;

  constructor(
    private readonly driver: StorageDriver,
    private readonly manifests: ManifestStore,
    cache: TagCacheOptions = DEFAULT_TAG_CACHE,
  ) {
    this.cache = new LruCache(cache.maxEntries, undefined, cache.now);
    this.ttlMs = cache.ttlMs;
  }

  /** Drop every tag record held in memory. */
  forgetCached(): void {
    this.cache.clear();
    this.writes++;
    this.reading.clear();
  }

  /**
   * This process is changing the tag: drop its record, and the read under way (later callers read again; the read
   * itself does not cache what it saw, as it may have seen the link before the change).
   */
  private forget(key: string): void {
    this.cache.delete(key);
    this.writes++;
    this.reading.delete(key);
  }

  async getTag(repository: string, tag: string): Promise<TagRecord | undefined> {
    const key = `${repository}:${tag}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const writes = this.writes;
    return sharedCall(this.reading, key, () => this.readTag(key, repository, tag, writes));
  }

  private async readTag(key: string, repository: string, tag: string, writesBefore: number): Promise<TagRecord | undefined> {
    const raw = await this.driver.getContent(tagCurrentLinkPath(repository, tag));
    const record = raw && parseTagLink(raw);
    // Only tags that exist are remembered: one created by another process is seen at once. Not when this
    // process wrote or deleted a tag meanwhile: what it wrote stands (the read may have seen the link before).
    if (record && this.writes === writesBefore) this.cache.set(key, record, this.ttlMs);
    return record;
  }

  /**
   * Point a tag at a manifest the repository has (throws ManifestUnknownError otherwise), or
   * just refresh `checkedAt` when it already points there. An `upstream` write (a pull, a
   * revalidation) never replaces a `local` tag (a client pushed it here): resolves false then.
   * (Read, then written: a push and an upstream write racing on the same tag are not ordered.)
   * `after`: the manifest is being stored; the tag's link is written and flushed meanwhile, and both
   * checks are made once `after` resolved, right before the link is put in place (nothing when
   * `after` rejects or a check fails).
   */
  async putTag(repository: string, tag: string, digest: Digest, checkedAt: Date = new Date(), source: TagSource = 'upstream', options: { after?: Promise<unknown> } = {}): Promise<boolean> {
    // The caller's promise is awaited below, or left when this throws first: never unhandled here.
    options.after?.catch(() => undefined);
    const link = tagCurrentLinkPath(repository, tag);
    if (Number.isNaN(checkedAt.getTime())) throw new RangeError('checkedAt is not a valid date');
    const writable = async (): Promise<boolean> => {
      await options.after;
      if (!(await this.manifests.statManifest(repository, digest))) {
        throw new ManifestUnknownError('cannot tag a manifest the repository does not have', { detail: { repository, tag, digest } });
      }
      if (source !== 'upstream') return true;
      const raw = await this.driver.getContent(link);
      return !(raw && parseTagLink(raw)?.source === 'local');
    };
    const key = `${repository}:${tag}`;
    const data = Buffer.from(JSON.stringify({ digest, checkedAt: checkedAt.toISOString(), source }));
    // With `after`: checked while the link is written, before it is put in place. Without: before it is written.
    const checked = writable().then((ok) => {
      if (!ok) throw new LocalTagStands();
    });
    // Awaited here or by putContent, or left when putContent's own write fails first: never unhandled.
    checked.catch(() => undefined);
    try {
      if (!options.after) await checked;
      this.forget(key);
      await this.driver.putContent(link, data, options.after ? { after: checked } : {});
    } catch (err) {
      if (err instanceof LocalTagStands) return false;
      throw err;
    }
    this.forget(key);
    this.cache.set(key, { digest, checkedAt, source }, this.ttlMs);
    return true;
  }

  /** Every tag of a repository with its record, in lexical order (unreadable records are left out). */
  async listTagRecords(repository: string): Promise<TagEntry[]> {
    const tags = await this.listTags(repository);
    const records = await mapLimit(tags, 16, async (tag) => {
      const raw = await this.driver.getContent(tagCurrentLinkPath(repository, tag));
      const record = raw && parseTagLink(raw);
      return record ? { tag, ...record } : undefined;
    });
    return records.filter((r): r is TagEntry => r !== undefined);
  }

  async deleteTag(repository: string, tag: string): Promise<void> {
    // Forgotten before and after: a read under way meanwhile does not put the old record back.
    const key = `${repository}:${tag}`;
    this.forget(key);
    await this.driver.delete(tagPath(repository, tag));
    this.forget(key);
  }

  /** Tags of a repository in lexical order (the OCI tags/list order). */
  async listTags(repository: string): Promise<string[]> {
    const names = await this.driver.list(tagsPath(repository));
    const tags = names.filter((name) => {
      try {
        return checkTag(name) === name;
      } catch {
        return false;
      }
    });
    return tags.sort(lexical);
  }
}
