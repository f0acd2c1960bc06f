import {
  digestAlgorithm,
  digestOf,
  DigestMismatchError,
  ManifestUnknownError,
  parseManifest,
  type Digest,
  type ParsedManifest,
  type Reference,
} from '@pullthrough/oci';
import type { RegistryStore } from '@pullthrough/storage';
import { annotateUpstreamError, unwrapAnswer } from './upstream-answers.js';
import { withFailover } from './upstream-failover.js';
import { targetContext, type UpstreamTarget } from './upstream-target.js';

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  size: number;
  bytes: Buffer;
}

export interface ImportedManifest extends StoredManifest {
  parsed: ParsedManifest;
  /** The registry and repository that served it: the rule's source, or a fallback when the source was unavailable. */
  servedBy: { registry: string; repository: string };
  /**
   * An import by tag: settles once the tag is written (rejects when that failed). The manifest
   * itself is stored before the import resolves; the tag is written after, while the client is
   * answered. Undefined for an import by digest.
   */
  tagged?: Promise<void>;
}

type Fetched = Omit<ImportedManifest, 'tagged'>;

/**
 * Fetches a manifest from the upstream, verifies it (media type, descriptors, digest) and stores it
 * for the downstream repository (revision, referrers) before anyone sees it; an import by tag then
 * writes the tag while the client is answered (the tag's write, an fsync, is not on the client's
 * path). Concurrent imports of the same reference share one upstream GET, and a request for the
 * tag before its write is done joins the import instead of asking the upstream again.
 */
export class ManifestImporter {
  /** Imports by `<repository>@<tag or digest>`, from the upstream request until stored (the tag too) or failed. */
  private readonly running = new Map<string, Promise<ImportedManifest>>();

  constructor(
    private readonly store: RegistryStore,
    /** The clock that stamps a tag's `checkedAt` (the registry's, so freshness is measured on one clock). */
    private readonly now: () => number = Date.now,
  ) {}

  import(target: UpstreamTarget, reference: Reference): Promise<ImportedManifest> {
    const repo = target.downstreamRepository;
    const ref = reference.kind === 'tag' ? reference.tag : reference.digest;
    const key = `${repo}@${ref}`;
    const joined = this.running.get(key);
    if (joined) return joined;
    const forget = () => {
      if (this.running.get(key) === imported) this.running.delete(key);
    };
    const imported: Promise<ImportedManifest> = this.fetchAndStore(target, reference, ref).then((manifest) => {
      if (reference.kind !== 'tag') return manifest;
      const tagged = this.store.putTag(repo, reference.tag, manifest.digest, new Date(this.now())).then(() => undefined);
      // Handled here (the entry goes either way); whoever awaits `tagged` still sees a failure.
      tagged.then(forget, forget);
      return { ...manifest, tagged };
    });
    imported.then((m) => {
      if (!m.tagged) forget();
    }, forget);
    this.running.set(key, imported);
    return imported;
  }

  /** Resolves once every import running now is stored, its tag written, or failed (a shutdown, a test). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.running.values()].map((imported) => imported.then((m) => m.tagged)));
  }

  private async fetchAndStore(target: UpstreamTarget, reference: Reference, ref: string): Promise<Fetched> {
    const { value: answer, via } = await withFailover(target, (t) => t.client.getManifest(t.upstreamRepository, ref));
    target = via;
    const { bytes, mediaType: headerType, digest: headerDigest } = unwrapAnswer(answer, target, `manifest ${ref}`, ManifestUnknownError);
    let parsed: ParsedManifest;
    try {
      // Refuses malformed documents and ones listing more than MAX_MANIFEST_DESCRIPTORS: nothing is stored.
      parsed = parseManifest(bytes, headerType);
    } catch (err) {
      throw annotateUpstreamError(err, target);
    }
    const algorithm = reference.kind === 'digest' ? digestAlgorithm(reference.digest) : 'sha256';
    const digest = digestOf(bytes, algorithm);
    const expected = reference.kind === 'digest' ? reference.digest : headerDigest && digestAlgorithm(headerDigest) === algorithm ? headerDigest : undefined;
    if (expected && expected !== digest) {
      throw new DigestMismatchError(`manifest ${ref} from upstream does not match its digest`, {
        detail: { expected, actual: digest, ...targetContext(target) },
      });
    }
    const repo = target.downstreamRepository;
    await this.store.putManifest(repo, { digest, mediaType: parsed.mediaType, bytes });
    // Its blobs are NOT linked here: an upstream's manifest may list any digest, including one stored
    // for another repository. A blob is linked when this upstream serves it or confirms it (HEAD).
    if (parsed.subject) {
      await this.store.addReferrer(repo, parsed.subject.digest, {
        mediaType: parsed.mediaType,
        digest,
        size: bytes.length,
        ...(parsed.artifactType ? { artifactType: parsed.artifactType } : parsed.config ? { artifactType: parsed.config.mediaType } : {}),
        ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
      });
    }
    return { digest, mediaType: parsed.mediaType, size: bytes.length, bytes, parsed, servedBy: { registry: via.upstreamRegistry, repository: via.upstreamRepository } };
  }
}
