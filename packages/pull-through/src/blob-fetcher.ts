import type { Descriptor, Digest } from '@pullthrough/oci';
import type { RegistryStore } from '@pullthrough/storage';
import { BlobConfirmer } from './blob-confirmer.js';
import { blobFlightKey } from './blob-flight-key.js';
import { FlightFollower } from './flight-follower.js';
import type { UpstreamTarget } from './upstream-target.js';
import { resolveRange, type ByteRange, type RangeRequest } from './byte-range.js';
import type { LiveTap } from './live-tap.js';
import type { ClientBuffers, ClientBufferStats } from './client-buffers.js';
import { memoryBudgets } from './memory-budgets.js';
import { openWritten, READ_BACK_MIN_REMAINING_BUFFERS } from './read-back.js';
import { downloadThrough, type DownloadDeps } from './blob-download.js';
import { ClaimsAhead, type ClaimAhead } from './claims-ahead.js';
import { noBlobLeases, type BlobLeases } from './redis-blob-leases.js';
import type { WriteLag, WriteLagStats } from './write-lag.js';
import { DEFAULT_READ_AHEAD_HOLD_MS, READ_AHEAD_MAX_RUNNING, ReadAheadHold, ReadAheadPlan, type ReadAheadStats } from './read-ahead.js';
import { DEFAULT_CLIENT_STALL_TIMEOUT_MS, liveBlobOf, liveTapFor, newFlight, type BlobFetcherOptions, type FetchedBlob, type Flight, type LiveBlob, type Started, type Want, type CoalescedFetches } from './blob-flight.js';

/**
 * How long a peer's request for a fetch whose lease this process claimed ahead (its client still looks
 * at storage) waits for that fetch to start. Well inside the peer client's 10 s wait for headers.
 */
const PEER_WAITS_FOR_START_MS = 5_000;

export { DEFAULT_CLIENT_STALL_TIMEOUT_MS, type BlobFetcherOptions, type CoalescedFetches, type FetchedBlob, type LiveBlob } from './blob-flight.js';

/**
 * Streams a missing blob from the upstream into the store while handing the same bytes to the
 * clients reading it live (the leader's whole blob, or ranges: LiveTap), hashing as it goes; the
 * object is committed only if the digest matches. A client whose bytes reach the blob's end gets
 * its last chunk only once the digest is verified, so a corrupt blob never looks like a complete
 * response. Each client has its own bounded buffer (ClientBuffers); one whose buffer is full falls
 * behind (continues from the stored blob after the commit), unless no other client has room and it
 * kept pace: then the read waits for it (ClientWaits). While a client reads live, the store's writer
 * may lag behind by a bounded amount (WriteLag); when that is full the read waits for a store that
 * keeps pace, else the store's rest is fetched again from where it stopped with one ranged GET after
 * the body ends (WriteThrough, completeStoreTail), its digest check continuing the same hash.
 * Concurrent requests for the same digest from the same upstream repository with the same
 * credentials (blobFlightKey) share ONE upstream GET: a later caller taps the fetch if its bytes
 * have not gone by yet or are still kept (ReceivedPrefix); other later callers wait for the commit
 * and read the local copy. Across processes (BlobLeases, Redis): a fetch first claims the flight
 * key's lease; when another process holds it, this one does not ask the upstream (FlightFollower): it
 * reads the leader's bytes live from its peer stream when the leader serves one (`peers`; `tapForPeer`
 * is the leader's side), else waits for that commit, and takes the lease over if it ends without one.
 * A fetched blob is linked to the repository of each caller whose upstream served it; a blob that
 * is already stored is linked only once the caller's upstream confirms it (BlobConfirmer).
 */
export class BlobFetcher {
  private readonly flights = new Map<string, Flight>();
  private readonly claimsAhead: ClaimsAhead;
  private readonly download: DownloadDeps;
  private readonly clientStallTimeoutMs: number;
  private readonly confirmer: BlobConfirmer;
  private readonly buffers: ClientBuffers;
  private readonly lag: WriteLag;
  private readonly leases: BlobLeases;
  private readonly follower: FlightFollower;
  private readonly readAhead: ReadAheadPlan | undefined;
  private readonly readAheadHoldMs: number;
  private readAheadRunning = 0;

  constructor(
    private readonly store: RegistryStore,
    options: BlobFetcherOptions = {},
  ) {
    this.clientStallTimeoutMs = options.clientStallTimeoutMs ?? DEFAULT_CLIENT_STALL_TIMEOUT_MS;
    this.confirmer = new BlobConfirmer(store);
    this.leases = options.leases ?? noBlobLeases;
    this.claimsAhead = new ClaimsAhead(this.leases);
    this.follower = new FlightFollower({
      store,
      leases: this.leases,
      peers: options.peers,
      pollMs: options.followPollMs ?? 500,
      timeoutMs: options.followTimeoutMs ?? 600_000,
      ...(options.clientWaitMinShare !== undefined ? { clientWaitMinShare: options.clientWaitMinShare } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    ({ buffers: this.buffers, lag: this.lag } = memoryBudgets(options));
    this.download = { store, confirmer: this.confirmer, lag: this.lag, buffers: this.buffers };
    this.readAhead = options.readAheadLayers ? new ReadAheadPlan(options.readAheadLayers) : undefined;
    this.readAheadHoldMs = options.readAheadHoldMs ?? DEFAULT_READ_AHEAD_HOLD_MS;
    // Another process's client waits for a fetch this process leads (or is about to): a read-ahead goes on now.
    this.leases.onWanted((flightId) => {
      for (const flight of this.flights.values()) if (flight.id === flightId && !flight.followed) flight.hold?.release();
    });
  }

  /** Memory held for live clients now, and how many fell behind, stalled or were waited for so far (for the metrics). */
  get clientBufferStats(): ClientBufferStats {
    return this.buffers.stats;
  }

  /** Memory queued for store writers now, lag overflows and their completion GETs so far (for the metrics). */
  get writeLagStats(): WriteLagStats {
    return this.lag.stats;
  }
  /** Requests that shared a running fetch instead of asking the upstream (for the metrics). */
  readonly coalesced: CoalescedFetches = { joined: 0, tapped: 0, readBack: 0 };
  /** Layers read ahead of their client (for the metrics). */
  readonly readAheadStats: ReadAheadStats = { started: 0, unasked: 0 };

  /** Whether any fetch of `digest` (for any upstream repository) is running. */
  isInFlight(digest: Digest): boolean {
    return [...this.flights.values()].some((f) => f.digest === digest);
  }

  /**
   * Link a blob stored for another repository once the target's upstream confirms it with a HEAD
   * (no download). Throws BlobUnknownError, linking nothing, when the upstream does not have it.
   */
  confirm(target: UpstreamTarget, digest: Digest, size: number): Promise<void> {
    return this.confirmer.confirm(target, digest, size);
  }

  /** Resolves once every fetch running now has committed or failed (for a clean shutdown). */
  async settle(): Promise<void> {
    // A fetch read ahead does not wait for a client any more.
    for (const flight of this.flights.values()) flight.hold?.release();
    await Promise.allSettled([...this.flights.values()].map((f) => f.done));
  }

  /**
   * The layers of an image manifest this process just fetched from the target's upstream: most of
   * them are missing here, and clients ask for them next. For a minute each, a request for one may
   * claim its fetch lease while it looks at storage (`requested`), instead of after; and with
   * `readAheadLayers`, a request for one starts the fetches of the next ones (`readAheadAfter`).
   */
  expectMisses(target: UpstreamTarget, layers: readonly Descriptor[]): void {
    const keyOf = (layer: Descriptor) => blobFlightKey(target, layer.digest);
    this.claimsAhead.expect(layers.map(keyOf));
    this.readAhead?.expect(layers, keyOf);
  }

  /**
   * A client asks for this blob: when it is a layer of a manifest just fetched (expectMisses), the
   * next `readAheadLayers` layers after it are fetched now, each once, ahead of the client's requests
   * for them (the same upstream and credentials as the client's own request would use). Each such
   * fetch keeps its first bytes and, with `readAheadHoldMs`, stops there until a client taps it
   * (ReadAheadHold); a layer stored already (for any repository) is left to the client's request,
   * which confirms it upstream. (A client's request reads ahead through `requested`.)
   */
  readAheadAfter(target: UpstreamTarget, digest: Digest): void {
    if (this.readAhead) this.readAheadOf(target, this.readAhead.after(blobFlightKey(target, digest)));
  }

  private readAheadOf(target: UpstreamTarget, layers: readonly Descriptor[]): void {
    for (const layer of layers) {
      if (this.readAheadRunning >= READ_AHEAD_MAX_RUNNING) return;
      if (this.isRunning(target, layer.digest)) continue;
      this.readAheadRunning++;
      void (async () => {
        if (await this.store.statBlob(layer.digest)) return;
        // Checked and started in one step: a client's fetch started meanwhile is not doubled.
        if (this.isRunning(target, layer.digest)) return;
        const hold = new ReadAheadHold(this.readAheadHoldMs);
        this.readAheadStats.started++;
        const { done } = await this.start(target, layer.digest, layer.size, { hold });
        await done.finally(() => hold.expired && this.readAheadStats.unasked++);
      })()
        .catch(() => undefined)
        .finally(() => this.readAheadRunning--);
    }
  }

  /**
   * A client asks for this blob, before it looks at storage (one flight key for all of it): whether a
   * fetch of it with the target's upstream coordinates runs here (`running`); if not, for a likely
   * miss (expectMisses) its lease claim starts now (`ahead`), so it is under way while the caller
   * looks at storage (a cold pull's blob then waits for one round trip fewer before its upstream GET;
   * a fetch of the same flight started here takes it over; a caller that finds the blob stored must
   * `drop` it; a hit pays no claim). And the layers after it are read ahead (readAheadAfter).
   */
  requested(target: UpstreamTarget, digest: Digest): { running: boolean; ahead: ClaimAhead | undefined } {
    const key = blobFlightKey(target, digest);
    const running = this.flights.has(key);
    if (this.readAhead) this.readAheadOf(target, this.readAhead.after(key));
    return { running, ahead: running ? undefined : this.claimsAhead.start(key, digest) };
  }

  /** Make the blob local and linked to the target's repository (lead or join a fetch). */
  async ensure(target: UpstreamTarget, digest: Digest, expectedSize?: number): Promise<FetchedBlob> {
    const joined = this.join(target, digest);
    if (joined) return joined;
    const started = await this.start(target, digest, expectedSize, undefined);
    return started.done;
  }

  /** Whether a fetch of this blob with the target's upstream coordinates is running (joining it costs no upstream request). */
  isRunning(target: UpstreamTarget, digest: Digest): boolean {
    return this.flights.has(blobFlightKey(target, digest));
  }

  /**
   * Join the fetch of this blob with the target's upstream coordinates if one is running, else undefined (no
   * upstream request). Settles once the fetch is committed and linked to the repositories; with `toRead`, once the
   * blob is in place in the store, to be read for this repository's client (linked first if the fetch does not).
   */
  join(target: UpstreamTarget, digest: Digest, toRead = false): Promise<FetchedBlob> | undefined {
    const existing = this.flights.get(blobFlightKey(target, digest));
    if (!existing) return undefined;
    this.coalesced.joined++;
    // A fetch read ahead goes on now: this caller waits for its commit.
    existing.hold?.release();
    return (toRead ? existing.inPlace : existing.done).then(async (fetched) => {
      // Same upstream repository and credentials: its upstream served the blob for this caller too.
      if (existing.downstreamRepository !== target.downstreamRepository) await this.store.linkBlob(target.downstreamRepository, digest);
      return { ...fetched, bytesFetched: 0 };
    });
  }

  /**
   * The whole blob, streamed as its bytes arrive: leads a fetch, or taps the running one with the same
   * upstream coordinates while every byte it has received is still kept (ReceivedPrefix). Undefined
   * when that cannot be done: the caller should `ensure` and read locally.
   */
  async stream(target: UpstreamTarget, digest: Digest, expectedSize?: number): Promise<LiveBlob | undefined> {
    const running = this.flights.get(blobFlightKey(target, digest));
    if (running) return this.tap(running, target.downstreamRepository, undefined);
    return (await this.start(target, digest, expectedSize, {})).live;
  }

  /**
   * Another replica's client of the fetch named by `flightId` (the peer listener): the whole blob from
   * byte 0 while every byte received is kept, like a local client's tap (own bounded buffer, behind
   * then resumed from the stored blob, stall cut). Only a fetch reading its upstream here, with a size.
   */
  async tapForPeer(flightId: string): Promise<(LiveBlob & { size: number }) | undefined> {
    const find = () => [...this.flights.values()].find((f) => f.id === flightId);
    // The lease may name this process while its client still looks at storage with the claim made
    // ahead (ClaimsAhead): wait for that fetch to start (or the claim to be dropped) rather than refuse.
    const running = find() ?? (await this.claimsAhead.settled(flightId, PEER_WAITS_FOR_START_MS), find());
    // A follower may ask before the upstream's headers are in: wait for them (then the body is read).
    if (!running || (await running.opened.catch(() => undefined)) === undefined || !running.leading) return undefined;
    const live = await this.tap(running, undefined, undefined);
    return live && live.size !== undefined ? (live as LiveBlob & { size: number }) : undefined;
  }

  /**
   * A range of a missing blob, streamed as its bytes arrive from the one upstream fetch (which goes
   * on to the end for the store and the digest check): leads the fetch, or taps a running one whose
   * bytes have not passed the range's start yet (or are still kept). Undefined when that cannot be
   * done (the range already went by, or the upstream sent no size): the caller should `ensure` and
   * read locally. An unsatisfiable range throws RangeInvalidError with the size (the fetch still completes).
   */
  async streamRange(target: UpstreamTarget, digest: Digest, range: RangeRequest): Promise<LiveBlob | undefined> {
    const running = this.flights.get(blobFlightKey(target, digest));
    if (!running) {
      const { live } = await this.start(target, digest, undefined, { range });
      return live?.range ? live : undefined;
    }
    return this.tap(running, target.downstreamRepository, range);
  }

  /** A new client of a running fetch (linking `link` with the commit): from where the fetch is now, or from the kept prefix; else undefined. */
  private async tap(running: Flight, link: string | undefined, range: RangeRequest | undefined): Promise<LiveBlob | undefined> {
    const size = await running.opened.catch(() => undefined);
    if (size === undefined && range) return undefined;
    const resolved = range ? resolveRange(range, size!) : undefined;
    const start = resolved?.start ?? 0;
    // Checked and joined in one step: no byte arrives in between.
    if (!running.streaming || running.followed) return undefined;
    const fromPrefix = start < running.position;
    if (!fromPrefix || (running.prefix.available && this.buffers.fits(running.prefix.size))) {
      const tap = this.newTap(resolved, size);
      if (fromPrefix) running.prefix.replay(tap);
      return this.joined(running, tap, link, size, resolved);
    }
    // Past the kept first bytes: read them back from the store's written part meanwhile, then live.
    const opened = await openWritten(running, size, READ_BACK_MIN_REMAINING_BUFFERS * this.buffers.limits.perClientBytes);
    if (!opened) return undefined;
    const written = opened.written;
    // Checked and joined in one step again (the fetch went on while the file was opened): a tap joined
    // before the fetch stops receiving hears of its commit.
    if (!running.streaming || running.followed || running.written !== written) {
      void opened.reader.close().catch(() => undefined);
      return undefined;
    }
    const tap = this.newTap(resolved, size);
    const position = () => (running.streaming && !running.followed && running.written === written ? running.position : undefined);
    tap.chase({ reader: opened.reader, written, end: tap.end, position, joinWithin: this.buffers.limits.perClientBytes / 2, storeLeftAt: () => running.storeLeftAt });
    this.coalesced.readBack++;
    return this.joined(running, tap, link, size, resolved);
  }

  /** The new tap joins the running fetch (in the same tick as the checks before it). */
  private joined(running: Flight, tap: LiveTap, link: string | undefined, size: number | undefined, resolved: ByteRange | undefined): LiveBlob {
    running.taps.push(tap);
    // A fetch read ahead of its client goes on now (past its kept prefix once the clients that came with this one tapped it too).
    running.hold?.tapped();
    this.coalesced.tapped++;
    // Same upstream repository and credentials: its upstream serves the blob for this caller too. It
    // is linked with the commit (a caller that joins the fetch later finds the link in place).
    if (link !== undefined) running.alsoLink.add(link);
    const done = running.done.then((fetched) => ({ ...fetched, bytesFetched: 0 }));
    done.catch(() => undefined);
    return liveBlobOf(tap, size, done, resolved);
  }

  private newTap(range: ByteRange | undefined, size: number | undefined): LiveTap {
    return liveTapFor(range, size, this.buffers, this.clientStallTimeoutMs);
  }

  private async start(target: UpstreamTarget, digest: Digest, expectedSize: number | undefined, want: Want): Promise<Started> {
    type Headers = { size: number | undefined; tap?: LiveTap; range?: ByteRange; followed?: true };
    let resolveHeaders!: (opened: Headers) => void;
    let rejectHeaders!: (err: unknown) => void;
    const headers = new Promise<Headers>((res, rej) => {
      resolveHeaders = res;
      rejectHeaders = rej;
    });
    const key = blobFlightKey(target, digest);
    let resolveOpened!: (size: number | undefined) => void;
    const opened = new Promise<number | undefined>((resolve) => (resolveOpened = resolve));
    const { flight, running } = newFlight(key, this.buffers, { digest, downstreamRepository: target.downstreamRepository, opened, ...(want?.hold ? { hold: want.hold } : {}) });
    // Another process fetches the blob: the caller waits for the commit (a fetch taken over later has no caller tap).
    let followed = false;
    const onFollow = () => {
      followed = true;
      flight.followed = true;
      flight.prefix.drop();
      resolveOpened(undefined);
      resolveHeaders({ size: undefined, followed: true });
    };
    // Called once the upstream's (or the leader's) headers are in, before any body byte: the caller's
    // tap is in place first. Once only: a fetch taken over after a peer stream has no caller tap.
    let headed = false;
    const onHeaders = (size: number | undefined) => {
      if (headed) return;
      headed = true;
      resolveOpened(size);
      // Read ahead: no tap until a client comes.
      if (!want || followed || want.hold) return resolveHeaders({ size });
      if (want.range && size === undefined) return resolveHeaders({ size });
      let range: ByteRange | undefined;
      try {
        range = want.range ? resolveRange(want.range, size!) : undefined;
      } catch (err) {
        return rejectHeaders(err);
      }
      const tap = this.newTap(range, size);
      flight.taps.push(tap);
      resolveHeaders({ size, tap, ...(range ? { range } : {}) });
    };
    const done = this.run(target, digest, expectedSize, flight, want !== undefined, onHeaders, onFollow);
    running(done);
    done.catch((err: unknown) => {
      resolveOpened(undefined);
      rejectHeaders(err);
    });
    this.flights.set(key, flight);
    done.then(
      () => this.flights.delete(key),
      () => this.flights.delete(key),
    );
    const answered = await headers;
    if (answered.followed) return { live: undefined, done };
    return { live: liveBlobOf(answered.tap, answered.size, done, answered.range), done };
  }

  private async run(
    target: UpstreamTarget,
    digest: Digest,
    expectedSize: number | undefined,
    flight: Flight,
    live: boolean,
    onHeaders: (size: number | undefined) => void,
    onFollow: () => void,
  ): Promise<FetchedBlob> {
    const key = blobFlightKey(target, digest);
    // A claim started while the caller looked at storage (`requested`) is this fetch's now.
    let claim = await (this.claimsAhead.take(key) ?? this.leases.acquire(key));
    let committed: Digest | undefined;
    try {
      let tookOver = false;
      if (claim.kind === 'held') {
        const followed = await this.follower.follow(claim, key, target, digest, flight, live, onHeaders, onFollow);
        if ('fetched' in followed) return followed.fetched;
        claim = followed.claim;
        tookOver = true;
      }
      if (claim.kind === 'led' && ((live && claim.afterCommit) || tookOver)) {
        // The previous leader committed and released since the store was read: no second GET.
        const stored = await this.store.statBlob(digest);
        if (stored) {
          onFollow();
          return await this.follower.linkStored(target, digest, flight, stored.size);
        }
      }
      const fetched = await downloadThrough(this.download, target, digest, expectedSize, flight, live, onHeaders);
      if (fetched.bytesFetched > 0) committed = digest;
      return fetched;
    } finally {
      // A leader announces its commit with the release (one round trip); a fetch without the lease announces it alone.
      if (claim.kind === 'led') claim.release(committed);
      else if (committed) this.leases.committed(committed);
    }
  }
}
