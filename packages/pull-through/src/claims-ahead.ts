import { LruCache, type Digest } from '@pullthrough/oci';
import { blobFlightId } from './blob-flight-key.js';
import type { BlobLeaseClaim, BlobLeases } from './redis-blob-leases.js';

/** How long a blob named by a manifest just fetched from the upstream counts as a likely miss. */
const LIKELY_MISS_MS = 60_000;

/**
 * A lease claim started while the caller looks at storage (ClaimsAhead.start). `drop` gives it up
 * when storage had the blob after all (`stored`: announce it as committed, as a leader would); a
 * claim that a fetch took over is the fetch's, and `drop` leaves it alone.
 */
export interface ClaimAhead {
  drop(stored: boolean): void;
}

/**
 * Lease claims made before their fetch, for likely misses: the layers of an image manifest this
 * process just fetched from the upstream (`expect`, by flight key, for a minute each). The first
 * request for one starts its claim while it looks at storage (`start`), so a cold pull's blob waits
 * for one Redis round trip fewer before its upstream GET; the fetch then takes the claim (`take`).
 * Whoever takes a claim out of the map owns it (and releases it). A hit pays no claim.
 *
 * While a claim is out, the lease may already name this process as the leader of a fetch that has
 * not started yet: another replica's follower that asks for its peer stream then waits for the claim
 * to be taken or dropped (`settled`) instead of being turned away.
 */
export class ClaimsAhead {
  private readonly likely = new LruCache<true>(4096);
  private readonly claims = new Map<string, Promise<BlobLeaseClaim>>();
  /** The flight ids of the claims out, with who waits for each to be taken or dropped. */
  private readonly out = new Map<string, { key: string; waiters: Array<() => void> }>();

  constructor(private readonly leases: BlobLeases) {}

  expect(flightKeys: Iterable<string>): void {
    for (const key of flightKeys) this.likely.set(key, true, LIKELY_MISS_MS);
  }

  /** Start the claim of a likely miss (once per expect); undefined for anything else, or while one is out. */
  start(key: string, digest: Digest): ClaimAhead | undefined {
    if (this.likely.get(key) === undefined || this.claims.has(key)) return undefined;
    // Once: a second request for the blob finds the fetch running or the blob stored.
    this.likely.delete(key);
    const claim = this.leases.acquire(key);
    claim.catch(() => undefined);
    this.claims.set(key, claim);
    this.out.set(blobFlightId(key), { key, waiters: [] });
    return {
      drop: (stored) => {
        if (this.claims.get(key) !== claim) return;
        this.remove(key);
        // Led: let it go; when the blob is stored, as a leader that committed it would (waiting followers look again).
        void claim.then((c) => c.kind === 'led' && c.release(stored ? digest : undefined)).catch(() => undefined);
      },
    };
  }

  /** The claim started ahead for this flight, now the caller's (undefined: none). */
  take(key: string): Promise<BlobLeaseClaim> | undefined {
    const claim = this.claims.get(key);
    if (claim) this.remove(key);
    return claim;
  }

  /**
   * Resolves once the claim out for this flight id is taken by its fetch or dropped, or after
   * `timeoutMs` (at once when none is out). Its waiters run after the code that took it: a fetch that
   * took it is in its fetcher's map of running flights by then.
   */
  settled(flightId: string, timeoutMs: number): Promise<void> {
    const entry = this.out.get(flightId);
    if (!entry) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      entry.waiters.push(done);
    });
  }

  private remove(key: string): void {
    this.claims.delete(key);
    const id = blobFlightId(key);
    const entry = this.out.get(id);
    this.out.delete(id);
    for (const wake of entry?.waiters ?? []) wake();
  }
}
