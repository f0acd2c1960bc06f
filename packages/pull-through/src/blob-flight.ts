import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '@pullthrough/oci';
import type { WrittenPrefix } from '@pullthrough/storage';
import type { ByteRange, RangeRequest } from './byte-range.js';
import type { ClientBuffers } from './client-buffers.js';
import { LiveTap } from './live-tap.js';
import type { ReadAheadHold } from './read-ahead.js';
import { ReceivedPrefix } from './received-prefix.js';
import { blobFlightId } from './blob-flight-key.js';
import type { Logger } from './logger.js';
import type { BlobPeers } from './peer-stream-client.js';
import type { BlobLeases } from './redis-blob-leases.js';

// The shapes BlobFetcher works with: what its callers get back, what it is configured with, and one
// running fetch (a flight) as the fetcher keeps it.

export interface FetchedBlob {
  digest: Digest;
  size: number;
  /** Bytes that came from the upstream for this fetch (0 when it joined another fetch). */
  bytesFetched: number;
}

/**
 * A blob fetch the caller reads live: bytes go to `sendTo`'s destination (directly) or to `stream` (a
 * Readable made on first use) as they arrive, whichever the caller uses first; `done` settles on
 * commit. `stream` is a getter: spreading a LiveBlob reads it (and so picks the stream).
 */
export interface LiveBlob {
  size: number | undefined;
  readonly stream: Readable;
  sendTo(dest: Writable): Promise<void>;
  done: Promise<FetchedBlob>;
  /** For a ranged read: the bytes `stream` carries. */
  range?: ByteRange;
}

export interface Flight {
  /** The flight key's id (blobFlightId): how its lease and its peer stream are named. */
  id: string;
  digest: Digest;
  /** The downstream repository the leading caller links; a caller for another one links its own. */
  downstreamRepository: string;
  /** Downstream repositories of clients that tapped the fetch: linked with the commit, before `done` settles. */
  alsoLink: Set<string>;
  done: Promise<FetchedBlob>;
  /**
   * Settles once the blob is in place in the store (committed here, before the repositories are linked),
   * or as `done` when that comes first (another process committed it, or the fetch failed).
   */
  inPlace: Promise<FetchedBlob>;
  /** Called by the download right after its commit: `inPlace` resolves. */
  placed(fetched: FetchedBlob): void;
  /** Clients reading the bytes as they arrive. */
  taps: LiveTap[];
  /** Bytes received from the upstream so far. */
  position: number;
  /** Settles with the blob's size (undefined: the upstream sent none) once the upstream's headers are in. */
  opened: Promise<number | undefined>;
  /** Whether the body is being read now: only then can a client tap it. */
  streaming: boolean;
  /** The bytes received so far, while they fit one client buffer: a late client can start from byte 0. */
  prefix: ReceivedPrefix;
  /** While the body is read: the part the store has written so far, when it can be read meanwhile (a late client's first bytes). */
  written?: WrittenPrefix;
  /** Where the store's writer stopped being fed (a write lag overflow): bytes from here on are not read back. */
  storeLeftAt?: number;
  /** Another process fetched (or fetches) the blob: clients here wait for the commit and read it locally. */
  followed: boolean;
  /** The body being read comes from the upstream (not from a leader's peer stream): other replicas may tap it. */
  leading: boolean;
  /** A fetch read ahead of its client: its read stops at the kept first bytes until a client taps it (ReadAheadHold). */
  hold?: ReadAheadHold;
}

/**
 * A new flight for the flight key `key`, before its fetch runs (its first bytes kept in `buffers`); `running(done)`
 * gives it the fetch's promise. Its `inPlace` settles when the download calls `placed` (committed), else as `done` does.
 */
export function newFlight(key: string, buffers: ClientBuffers, fields: Pick<Flight, 'digest' | 'downstreamRepository' | 'opened' | 'hold'>): { flight: Flight; running(done: Promise<FetchedBlob>): void } {
  let placed!: (fetched: FetchedBlob) => void;
  let notPlaced!: (err: unknown) => void;
  const inPlace = new Promise<FetchedBlob>((resolve, reject) => ((placed = resolve), (notPlaced = reject)));
  inPlace.catch(() => undefined);
  const flight: Flight = { ...fields, id: blobFlightId(key), prefix: new ReceivedPrefix(buffers), leading: false, done: undefined as unknown as Promise<FetchedBlob>, inPlace, placed, alsoLink: new Set(), taps: [], position: 0, streaming: false, followed: false };
  const running = (done: Promise<FetchedBlob>) => {
    flight.done = done;
    done.then(placed, notPlaced);
  };
  return { flight, running };
}

/** What the caller of start() reads: the whole blob, a range of it, nothing yet (read ahead: `hold`), or nothing (a background import). */
export type Want = { range?: RangeRequest; hold?: ReadAheadHold } | undefined;

/** A streaming client that takes no bytes for this long (while it has bytes waiting) is cut off, like a disconnect. */
export const DEFAULT_CLIENT_STALL_TIMEOUT_MS = 30_000;

export interface BlobFetcherOptions {
  /** Cut off a streaming client that takes no bytes for this long while it has some waiting (0: never). */
  clientStallTimeoutMs?: number;
  /** Bytes one live client may have waiting in memory before it falls behind (then reads the stored blob). */
  clientBufferBytes?: number;
  /** Bytes every live client of this process may have waiting in memory together. */
  clientBuffersTotalBytes?: number;
  /** When a live client's buffer is full and no other live client of the fetch has room, the read waits for it while its rate over its life is at least this share (0..1) of the receive rate; below it it falls behind. Default 0.5 (1: never wait). */
  clientWaitMinShare?: number;
  /** A client the read waits for falls behind after all when it takes no byte for this long (ms). Default 2000. */
  clientWaitStallMs?: number;
  /** Bytes a running fetch keeps from its start for clients that arrive after it started (they read it live from byte 0; later ones wait for the commit). Default 2 MiB, at most one client buffer; 0: none. */
  prefixBytes?: number;
  /** Bytes one miss may have queued for the store ahead of the storage while live clients read it (then the rest is completed with a ranged GET). */
  writeLagBytes?: number;
  /** Bytes every miss of this process may have queued for the store together. */
  writeLagTotalBytes?: number;
  /** When a live miss's lag is full, wait for its store while the store's rate over the miss so far is at least this share (0..1) of the receive rate; below it overflow. Default 0.5. */
  writeLagMinStoreShare?: number;
  /** A miss that waits for its store overflows after all when the store takes no byte for this long (ms). Default 2000. */
  writeLagStallMs?: number;
  /** Leases shared with the other processes: a blob another process is fetching is not fetched here (default: none). */
  leases?: BlobLeases;
  /** While another process fetches the blob, look at the store and its lease this often (a commit notification ends the wait sooner). Default 500. */
  followPollMs?: number;
  /** Wait at most this long for another process's fetch, then fetch here anyway. Default 600000. */
  followTimeoutMs?: number;
  /** Read the bytes of a blob another replica fetches from that replica as they arrive (default: none, wait for its commit). */
  peers?: BlobPeers;
  /** Where a broken peer stream is reported. */
  logger?: Logger;
  /** Layers of an image manifest just fetched from the upstream read ahead of the furthest one a client asked for (ReadAheadPlan). Default 0: none. */
  readAheadLayers?: number;
  /** A fetch read ahead waits this long at its kept first bytes for a client, then goes on for the store alone (ms; 0: it never waits). Default 5000. */
  readAheadHoldMs?: number;
}

/** What start() hands back: the live stream (none when another process fetches the blob: wait for `done`, read locally), and the fetch. */
export interface Started {
  live: LiveBlob | undefined;
  done: Promise<FetchedBlob>;
}

/** Blob requests served from a fetch already running here: joined (waited for its commit) or tapped (its bytes live). */
export interface CoalescedFetches {
  joined: number;
  tapped: number;
  /** Of the tapped: clients after the kept first bytes that read them back from the store's written part. */
  readBack: number;
}

/** The LiveBlob of a tap (none: an empty, ended stream). */
export function liveBlobOf(tap: LiveTap | undefined, size: number | undefined, done: Promise<FetchedBlob>, range: ByteRange | undefined): LiveBlob {
  const empty = tap ? undefined : new PassThrough().end();
  return {
    size,
    done,
    ...(range ? { range } : {}),
    get stream() {
      return tap ? tap.stream : empty!;
    },
    sendTo: (dest) => (tap ? tap.sendTo(dest) : pipeline(empty!, dest)),
  };
}

/**
 * A new client of a blob fetch reading `range` (undefined: the whole blob) of a blob of `size`
 * (undefined: not known). Its own buffer bounds what waits for the client; the stream adds at most
 * one small buffer. A tap that reaches the last byte holds its last slice until the digest is verified.
 */
export function liveTapFor(range: { start: number; end: number } | undefined, size: number | undefined, buffers: ClientBuffers, stallTimeoutMs: number): LiveTap {
  const end = range ? range.end : size === undefined ? Infinity : size - 1;
  const verified = size === undefined || end >= size - 1;
  return new LiveTap(range?.start ?? 0, end, verified, buffers, stallTimeoutMs);
}
