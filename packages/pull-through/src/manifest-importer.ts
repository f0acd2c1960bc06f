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
import { SingleFlight } from './single-flight.js';
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
}

/**
 * Fetches a manifest from the upstream, verifies it, and stores it for the downstream repository
 * (revision, referrers, then the tag, which appears only after them) before anyone sees it.
 * Concurrent imports of the same reference share one upstream GET.
 */
export class ManifestImporter {
  private readonly flights = new SingleFlight<ImportedManifest>();

  constructor(
    private readonly store: RegistryStore,
    /** The clock that stamps a tag's `checkedAt` (the registry's, so freshness is measured on one clock). */
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * `onVerified`: called once the upstream's manifest is verified, before it is stored (the caller
   * may start on what the client asks for next); only the call that leads the import's flight.
   */
  import(target: UpstreamTarget, reference: Reference, onVerified?: (parsed: ParsedManifest) => void): Promise<ImportedManifest> {
    const ref = reference.kind === 'tag' ? reference.tag : reference.digest;
    return this.flights.run(`${target.downstreamRepository}@${ref}`, () => this.fetchAndStore(target, reference, ref, onVerified));
  }

  private async fetchAndStore(target: UpstreamTarget, reference: Reference, ref: string, onVerified: ((parsed: ParsedManifest) => void) | undefined): Promise<ImportedManifest> {
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
    onVerified?.(parsed);
    const repo = target.downstreamRepository;
    const stored = (async () => {
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
    })();
    // The tag's link is written and flushed while the manifest is (its fsync off the answer's way) and
    // appears only after the manifest and its referrer entry: nothing when they fail.
    const tagged = reference.kind === 'tag' ? this.store.putTag(repo, reference.tag, digest, new Date(this.now()), 'upstream', { after: stored }) : undefined;
    // Both settled before the import ends, failed or not: no write goes on unwatched behind an answer.
    const [manifest, tag] = await Promise.allSettled([stored, tagged]);
    if (manifest.status === 'rejected') throw manifest.reason;
    if (tag.status === 'rejected') throw tag.reason;
    return { digest, mediaType: parsed.mediaType, size: bytes.length, bytes, parsed, servedBy: { registry: via.upstreamRegistry, repository: via.upstreamRepository } };
  }
}
