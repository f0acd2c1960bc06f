import type { Digest } from '@pullthrough/oci';
import type { RegistryStore } from '@pullthrough/storage';
import type { FetchedBlob, Flight } from './blob-flight.js';
import { silentLogger, type Logger } from './logger.js';
import { relayPeerStream } from './peer-relay.js';
import type { BlobPeers } from './peer-stream-client.js';
import type { BlobLeaseClaim, BlobLeases } from './redis-blob-leases.js';
import type { UpstreamTarget } from './upstream-target.js';

export interface FlightFollowerOptions {
  store: RegistryStore;
  leases: BlobLeases;
  /** Where the leaders' live streams are read (none: followers wait for the commit). */
  peers: BlobPeers | undefined;
  pollMs: number;
  timeoutMs: number;
  /** ClientBuffers.minClientShare: when the relay of a leader's stream waits for a full local client. */
  clientWaitMinShare?: number;
  logger?: Logger;
}

/**
 * A follower keeps waiting for the commit this long while its looks at the lease get no answer in time.
 * The leader it saw most likely still fetches: on a loaded machine (or a Redis that stalls for a moment)
 * the 50 ms claim deadline passes now and then, and taking each miss for "nobody holds it" made every
 * such look a second upstream GET of the blob (the bench's herd3 on a slow day: 2 GETs for most blobs).
 */
export const FOLLOW_UNANSWERED_MS = 10_000;

/** Another process committed the blob (linked here), or the lease passed to this process (or to nobody): fetch with the claim. */
export type Followed = { fetched: FetchedBlob } | { claim: BlobLeaseClaim };

/**
 * What a process does with a blob another process is fetching (it holds the flight key's lease).
 * When that leader serves its running fetches to its peers (the lease names its peer URL) and the
 * caller reads live, the follower reads the leader's stream and feeds this flight's taps with it, as
 * an upstream body would (relayPeerStream): every local client shares this one stream, each with its
 * own buffer, and local clients that come later can tap it too. Then, or when there is no such stream,
 * it waits for the leader's commit, links the stored blob, and lets the taps that fell behind continue
 * from it. A lease that ends without a commit (the leader failed or died) is taken over.
 */
export class FlightFollower {
  private readonly logger: Logger;

  constructor(private readonly options: FlightFollowerOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * `onHeaders(size)` is called once the leader's stream is open (the caller's tap is made then);
   * `onFollow()` when there is none: no byte was given, the caller waits for the commit. A stream
   * that breaks cuts the taps reading it (their clients retry); the fetch itself goes on waiting.
   */
  async follow(
    held: BlobLeaseClaim & { kind: 'held' },
    key: string,
    target: UpstreamTarget,
    digest: Digest,
    flight: Flight,
    live: boolean,
    onHeaders: (size: number) => void,
    onFollow: () => void,
  ): Promise<Followed> {
    const peers = this.options.peers;
    const stream = live && held.peerUrl && peers ? await peers.open(held.peerUrl, flight.id) : undefined;
    if (!stream) {
      onFollow();
      // The leader may hold a read-ahead back until a client wants it: this caller does (a read-ahead
      // here says so once its own client comes).
      if (flight.hold) flight.hold.whenTapped(() => this.options.leases.wanted(key));
      else this.options.leases.wanted(key);
      return this.waitForCommit(key, target, digest, flight);
    }
    flight.streaming = true;
    onHeaders(stream.size);
    try {
      await relayPeerStream(flight, stream, digest, this.options.clientWaitMinShare);
    } catch (err) {
      peers!.stats.failed.broken++;
      this.logger.warn({ digest, err: (err as Error).message }, 'peer stream broke: its clients were cut; waiting for the commit');
      // No more taps on this flight: later callers wait for the commit.
      flight.followed = true;
      flight.taps.length = 0;
    }
    return this.waitForCommit(key, target, digest, flight);
  }

  /**
   * Wait for the leader's commit (a notification, or the store polled), then link the stored blob
   * (its upstream coordinates are ours). A lease that ends without a commit is taken over: the
   * caller fetches with that claim.
   */
  async waitForCommit(key: string, target: UpstreamTarget, digest: Digest, flight: Flight): Promise<Followed> {
    const deadline = Date.now() + this.options.timeoutMs;
    let unansweredSince: number | undefined;
    for (;;) {
      await this.options.leases.waitForCommit(digest, this.options.pollMs);
      const stored = await this.options.store.statBlob(digest);
      if (stored) return { fetched: await this.linkStored(target, digest, flight, stored.size) };
      // Waited long enough for a leader that still renews its lease: fetch here after all.
      if (Date.now() > deadline) return { claim: { kind: 'alone' } };
      const claim = await this.options.leases.acquire(key);
      if (claim.kind === 'held') {
        unansweredSince = undefined;
        continue;
      }
      // Redis gave no answer in time (or is down): the leader seen before most likely still fetches.
      if (claim.kind === 'alone' && Date.now() - (unansweredSince ??= Date.now()) < FOLLOW_UNANSWERED_MS) continue;
      return { claim };
    }
  }

  /** The blob is stored by another fetch: taps that fell behind continue from it, and it is linked for every caller. */
  async linkStored(target: UpstreamTarget, digest: Digest, flight: Flight, size: number): Promise<FetchedBlob> {
    const open = (start: number, end: number) => this.options.store.openBlob(digest, { start, end });
    for (const tap of flight.taps) tap.committed(open, size);
    flight.alsoLink.add(target.downstreamRepository);
    await Promise.all([...flight.alsoLink].map((repository) => this.options.store.linkBlob(repository, digest)));
    return { digest, size, bytesFetched: 0 };
  }
}
