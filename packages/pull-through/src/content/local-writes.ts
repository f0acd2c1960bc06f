import {
  BlobUnknownError,
  DeniedError,
  ManifestUnknownError,
  RegistryError,
  SizeInvalidError,
  parseDigest,
  parseManifest,
  parseRepositoryName,
  type Digest,
  type Reference,
} from '@pullthrough/oci';
import { allowRefusal, type RuleMatch } from '@pullthrough/cache-rules';
import type { RegistryStore } from '@pullthrough/storage';
import { checkPushedManifest, DEFAULT_MAX_PUSHED_MANIFEST_BYTES, referrerDescriptor, type PushedManifest } from './manifest-push.js';
import { UploadSessions, type PushedBlob } from './upload-sessions.js';
import { noWriteEvents, type WriteContext, type WriteEvents } from './write-events.js';

export interface LocalWritesOptions {
  store: RegistryStore;
  /**
   * The cache rule whose target covers a repository, if any: a push there needs the rule's
   * `allowPush`, and a mount reads from there only inside the rule's allow-list.
   */
  ruleFor: (repository: string) => Pick<RuleMatch, 'rule' | 'upstreamRepository'> | undefined;
  /** Where pushes and deletes are reported (webhooks). */
  events?: WriteEvents;
  /** Bytes a pushed manifest may have (default 4 MiB, like a pulled one). */
  maxManifestBytes?: number;
  now?: () => number;
}


/** Repositories an automatic mount (`?mount=` without `from`) looks at for the blob, at most. */
const AUTO_MOUNT_SCAN = 256;
/**
 * Push and content management on local state (the OCI distribution-spec push and delete
 * workflows): blob upload sessions, cross-repository mounts, manifest PUT with every reference
 * checked, deletes of manifests, tags and blob links, and the events they emit. Authorization is
 * the caller's (the data router, before anything here runs); the push policy of cache-rule paths
 * is decided here. Routes call this and never touch storage.
 */
export class LocalWrites {
  readonly uploads: UploadSessions;
  private readonly store: RegistryStore;
  private readonly events: WriteEvents;
  private readonly now: () => number;

  constructor(private readonly options: LocalWritesOptions) {
    this.store = options.store;
    this.uploads = new UploadSessions(options.store);
    this.events = options.events ?? noWriteEvents;
    this.now = options.now ?? Date.now;
  }

  /** Bytes a pushed manifest may have. */
  get maxManifestBytes(): number {
    return this.options.maxManifestBytes ?? DEFAULT_MAX_PUSHED_MANIFEST_BYTES;
  }

  /**
   * Refuse a push into a cache rule's path unless the rule allows pushes (DENIED naming the rule),
   * and one the rule's allow-list would never serve (a repository, or `tag`, outside it).
   */
  checkPush(repository: string, tag?: string): void {
    const match = this.options.ruleFor(repository);
    if (!match) return;
    const { rule } = match;
    if (rule.allowPush !== true) {
      throw new DeniedError(`repository ${repository} is cache rule "${rule.name}"'s path, which does not allow pushes (the rule's allowPush is false)`, {
        detail: { repository, rule: rule.name },
      });
    }
    const refusal = allowRefusal(rule, match.upstreamRepository, tag);
    if (refusal) throw new DeniedError(`${refusal.message}: content pushed there would never be served`, { detail: { repository, rule: rule.name, filter: refusal.filter } });
  }

  /**
   * Mount `digest` into `repository` from `from`, or without `from` (automatic mount) from
   * `repository` itself or the first of the other repositories the caller may pull that holds it
   * (at most AUTO_MOUNT_SCAN of them are looked at): only when the blob is linked to that
   * repository and stored, and the caller may pull it (`mayPull`, the client's authorization; for a
   * cache rule's repository, also its rule's allow-list, as a pull would be). Resolves undefined
   * when it cannot: the client then uploads the blob (202), and learns nothing about a repository
   * it may not read.
   */
  async mount(repository: string, digest: Digest, from: string | undefined, mayPull: (repository: string) => boolean): Promise<PushedBlob | undefined> {
    let source: string;
    try {
      source = from === undefined ? repository : parseRepositoryName(from);
    } catch (err) {
      if (err instanceof RegistryError) return undefined;
      throw err;
    }
    const found = (await this.mountableFrom(source, digest, mayPull)) ?? (from === undefined ? await this.automaticSource(repository, digest, mayPull) : undefined);
    if (!found) return undefined;
    if (found.source !== repository) await this.store.linkBlob(repository, digest);
    return { digest, size: found.size };
  }

  /** The blob's size when `source` holds it and the caller may read it there. */
  private async mountableFrom(source: string, digest: Digest, mayPull: (repository: string) => boolean): Promise<{ source: string; size: number } | undefined> {
    if (!mayPull(source)) return undefined;
    const match = this.options.ruleFor(source);
    if (match && allowRefusal(match.rule, match.upstreamRepository)) return undefined;
    // Touched before it is looked at: a collection cannot free it between the look and the link.
    await this.store.touchBlobs([digest]);
    const stored = await this.store.statRepositoryBlob(source, digest);
    return stored ? { source, size: stored.size } : undefined;
  }

  /** An automatic mount's source: another repository the caller may pull that holds the blob. */
  private async automaticSource(repository: string, digest: Digest, mayPull: (repository: string) => boolean): Promise<{ source: string; size: number } | undefined> {
    const candidates = (await this.store.listRepositories({ withBlobs: true })).filter((name) => name !== repository && mayPull(name)).slice(0, AUTO_MOUNT_SCAN);
    for (const candidate of candidates) {
      const found = await this.mountableFrom(candidate, digest, mayPull);
      if (found) return found;
    }
    return undefined;
  }

  /** PUT a manifest by tag or digest: checked (see checkPushedManifest), stored, referrers and tag updated, `push` reported. */
  async putManifest(repository: string, reference: Reference, bytes: Buffer, contentType: string | undefined, ctx: WriteContext = {}): Promise<PushedManifest> {
    const limit = this.maxManifestBytes;
    if (bytes.length > limit) throw new SizeInvalidError(`manifest is larger than ${limit} bytes`, { detail: { size: bytes.length, limit } });
    const { parsed, digest } = await checkPushedManifest(this.store, repository, reference, bytes, contentType);
    await this.store.putManifest(repository, { digest, mediaType: parsed.mediaType, bytes });
    if (parsed.subject) await this.store.addReferrer(repository, parsed.subject.digest, referrerDescriptor(parsed, digest, bytes.length));
    const tag = reference.kind === 'tag' ? reference.tag : undefined;
    if (tag) await this.store.putTag(repository, tag, digest, new Date(this.now()), 'local');
    const pushed: PushedManifest = { digest, mediaType: parsed.mediaType, size: bytes.length, ...(tag ? { tag } : {}), ...(parsed.subject ? { subject: parsed.subject.digest } : {}) };
    await this.events.pushed(repository, pushed, ctx);
    return pushed;
  }

  /**
   * DELETE a manifest by digest (its tags and its referrers entry go with it), or a tag by name (the
   * manifest stays). MANIFEST_UNKNOWN when there is no such thing; `delete` reported for each.
   */
  async deleteManifest(repository: string, reference: Reference, ctx: WriteContext = {}): Promise<void> {
    if (reference.kind === 'tag') {
      const record = await this.store.getTag(repository, reference.tag);
      if (!record) throw new ManifestUnknownError('manifest unknown', { detail: { repository, tag: reference.tag } });
      const info = await this.store.statManifest(repository, record.digest);
      await this.store.deleteTag(repository, reference.tag);
      await this.events.deleted(repository, { digest: record.digest, mediaType: info?.mediaType ?? '', size: info?.size ?? 0, tag: reference.tag }, ctx);
      return;
    }
    const digest = parseDigest(reference.digest);
    const manifest = await this.store.getManifest(repository, digest);
    if (!manifest) throw new ManifestUnknownError('manifest unknown', { detail: { repository, digest } });
    const tags = (await this.store.listTagRecords(repository)).filter((t) => t.digest === digest).map((t) => t.tag);
    for (const tag of tags) await this.store.deleteTag(repository, tag);
    const subject = subjectOf(manifest.bytes);
    if (subject) await this.store.removeReferrer(repository, subject, digest);
    await this.store.deleteManifest(repository, digest);
    const gone = { digest, mediaType: manifest.mediaType, size: manifest.size };
    for (const tag of tags) await this.events.deleted(repository, { ...gone, tag }, ctx);
    await this.events.deleted(repository, gone, ctx);
  }

  /** DELETE a blob: the repository stops serving it (its bytes stay for others until GC). */
  async deleteBlob(repository: string, digest: Digest): Promise<void> {
    if (!(await this.store.isBlobLinked(repository, digest))) throw new BlobUnknownError('blob unknown to repository', { detail: { repository, digest } });
    await this.store.unlinkBlob(repository, digest);
  }
}

/** The subject of a stored manifest, if it has one (stored manifests were checked when stored). */
function subjectOf(bytes: Buffer): Digest | undefined {
  try {
    return parseManifest(bytes).subject?.digest;
  } catch {
    return undefined;
  }
}
