import { BlobUnknownError, type Digest } from '@pullthrough/oci';
import type { RegistryStore } from '@pullthrough/storage';
import { blobFlightKey } from './blob-flight-key.js';
import { SingleFlight } from './single-flight.js';
import { unwrapAnswer } from './upstream-answers.js';
import { withFailover } from './upstream-failover.js';
import { targetContext, type UpstreamTarget } from './upstream-target.js';

interface Confirmation {
  /** Why the upstream did not confirm the blob; undefined when it did. */
  refused?: string;
  /** The upstream's 404, answered exactly as a fetch of a blob the cache does not hold answers it. */
  notFound?: true;
  /** The downstream repository the leading caller linked. */
  linked?: string;
}

/**
 * Links a blob already stored (for another repository) to a cached repository once that
 * repository's upstream, asked with its rule's credentials, confirms it with a HEAD: 200 for this
 * digest (Docker-Content-Digest, when sent, names it) and the stored size (when it sends one). No
 * second download. Concurrent confirmations with the same upstream coordinates share one HEAD.
 */
export class BlobConfirmer {
  private readonly flights = new SingleFlight<Confirmation>();

  constructor(private readonly store: RegistryStore) {}

  /**
   * Link `digest` (stored, `size` bytes) to the target's downstream repository if its upstream has it.
   * Throws BlobUnknownError when the upstream answers 404/401/403 or describes another blob; rejects
   * with the upstream error on 5xx, 429, timeouts and an open breaker. Nothing is linked then.
   */
  async confirm(target: UpstreamTarget, digest: Digest, size: number): Promise<void> {
    const outcome = await this.flights.run(blobFlightKey(target, digest), () => this.ask(target, digest, size));
    // Same error, message and detail as a digest the cache does not hold (blob-fetcher): whether the
    // cache stores a digest for some other repository must not show through a refusal.
    if (outcome.notFound) unwrapAnswer({ kind: 'not-found' }, target, `blob ${digest}`, BlobUnknownError);
    if (outcome.refused !== undefined) {
      throw new BlobUnknownError('blob unknown to repository', { detail: { digest, reason: outcome.refused } }).annotate(targetContext(target));
    }
    if (outcome.linked !== target.downstreamRepository) await this.store.linkBlob(target.downstreamRepository, digest);
  }

  private async ask(target: UpstreamTarget, digest: Digest, size: number): Promise<Confirmation> {
    const { value: answer } = await withFailover(target, (t) => t.client.headBlob(t.upstreamRepository, digest));
    if (answer.kind === 'not-found') return { notFound: true };
    if (answer.kind !== 'ok') return { refused: `upstream refused access (${answer.kind})` };
    const named = answer.headers['docker-content-digest'];
    if (named !== undefined && named !== digest) return { refused: 'upstream names another digest' };
    if (answer.value.size !== undefined && answer.value.size !== size) return { refused: `upstream size ${answer.value.size} differs from ${size}` };
    await this.store.linkBlob(target.downstreamRepository, digest);
    return { linked: target.downstreamRepository };
  }
}
