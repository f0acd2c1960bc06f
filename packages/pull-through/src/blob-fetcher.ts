import { PassThrough, type Readable, type Writable } from 'node:stream';
import { BlobUnknownError, type Digest } from '@pullthrough/oci';
import type { RegistryStore } from '@pullthrough/storage';
import { BlobConfirmer } from './blob-confirmer.js';
import { blobFlightKey } from './blob-flight-key.js';
import { annotateUpstreamError, unwrapAnswer } from './upstream-answers.js';
import { withFailover } from './upstream-failover.js';
import type { UpstreamTarget } from './upstream-target.js';

export interface FetchedBlob {
  digest: Digest;
  size: number;
  /** Bytes that came from the upstream for this fetch (0 when it joined another fetch). */
  bytesFetched: number;
}

/** A blob fetch the caller leads: bytes stream to `stream` as they arrive; `done` settles on commit. */
export interface LiveBlob {
  size: number | undefined;
  stream: Readable;
  done: Promise<FetchedBlob>;
}

interface Flight {
  digest: Digest;
  /** The downstream repository the leading caller links; a caller for another one links its own. */
  downstreamRepository: string;
  done: Promise<FetchedBlob>;
}

/** A streaming client that takes no bytes for this long is cut off, like a disconnect. */
export const DEFAULT_CLIENT_STALL_TIMEOUT_MS = 30_000;

export interface BlobFetcherOptions {
  /** Cut off a streaming client that takes no bytes for this long, so it cannot hold up the fetch (0: never). */
  clientStallTimeoutMs?: number;
}

/** Resolves true on 'drain'; false on 'close' or when `timeoutMs` (> 0) passes first. */
const drained = (stream: Writable, timeoutMs = 0): Promise<boolean> =>
  new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (value: boolean) => () => {
      clearTimeout(timer);
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      resolve(value);
    };
    const onDrain = finish(true);
    const onClose = finish(false);
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    if (timeoutMs > 0) timer = setTimeout(finish(false), timeoutMs);
  });

/**
 * Streams a missing blob from the upstream into the store while handing the same bytes to one
 * client, hashing as it goes; the object is committed only if the digest matches. The last chunk
 * is held back from the client until the digest is verified, so a corrupt blob never looks like a
 * complete response; the commit itself finishes after the client has its bytes. Concurrent
 * requests for the same digest from the same upstream repository with the same credentials
 * (blobFlightKey) share ONE upstream GET: later callers wait for the commit and read the local copy.
 * A fetched blob is linked to the repository of each caller whose upstream served it; a blob that
 * is already stored is linked only once the caller's upstream confirms it (BlobConfirmer).
 */
export class BlobFetcher {
  private readonly flights = new Map<string, Flight>();
  private readonly clientStallTimeoutMs: number;
  private readonly confirmer: BlobConfirmer;

  constructor(
    private readonly store: RegistryStore,
    options: BlobFetcherOptions = {},
  ) {
    this.clientStallTimeoutMs = options.clientStallTimeoutMs ?? DEFAULT_CLIENT_STALL_TIMEOUT_MS;
    this.confirmer = new BlobConfirmer(store);
  }

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
    await Promise.allSettled([...this.flights.values()].map((f) => f.done));
  }

  /** Make the blob local and linked to the target's repository (lead or join a fetch). */
  async ensure(target: UpstreamTarget, digest: Digest, expectedSize?: number): Promise<FetchedBlob> {
    const joined = this.join(target, digest);
    if (joined) return joined;
    const live = await this.start(target, digest, expectedSize, false);
    return live.done;
  }

  /**
   * Join the fetch of this blob with the target's upstream coordinates if one is running (its
   * client may have all the bytes while the commit and link are still under way), else undefined.
   * Joining costs no upstream request.
   */
  join(target: UpstreamTarget, digest: Digest): Promise<FetchedBlob> | undefined {
    const existing = this.flights.get(blobFlightKey(target, digest));
    if (!existing) return undefined;
    return existing.done.then(async (fetched) => {
      // Same upstream repository and credentials: its upstream served the blob for this caller too.
      if (existing.downstreamRepository !== target.downstreamRepository) await this.store.linkBlob(target.downstreamRepository, digest);
      return { ...fetched, bytesFetched: 0 };
    });
  }

  /**
   * Lead a fetch whose bytes are also streamed to the caller, or undefined when another fetch of
   * this digest with the same upstream coordinates is already running (the caller should `ensure`
   * and read locally).
   */
  async stream(target: UpstreamTarget, digest: Digest, expectedSize?: number): Promise<LiveBlob | undefined> {
    if (this.flights.has(blobFlightKey(target, digest))) return undefined;
    return this.start(target, digest, expectedSize, true);
  }

  private async start(target: UpstreamTarget, digest: Digest, expectedSize: number | undefined, live: boolean): Promise<LiveBlob> {
    let resolveHeaders!: (size: number | undefined) => void;
    let rejectHeaders!: (err: unknown) => void;
    const headers = new Promise<number | undefined>((res, rej) => {
      resolveHeaders = res;
      rejectHeaders = rej;
    });
    const sink = live ? new PassThrough({ highWaterMark: 1024 * 1024 }) : undefined;
    // Until the caller pipes it, a failure must not become an unhandled 'error' event.
    sink?.on('error', () => undefined);
    const done = this.run(target, digest, expectedSize, sink, resolveHeaders);
    done.catch((err: unknown) => rejectHeaders(err));
    const key = blobFlightKey(target, digest);
    this.flights.set(key, { digest, downstreamRepository: target.downstreamRepository, done });
    done.then(
      () => this.flights.delete(key),
      () => this.flights.delete(key),
    );
    const size = await headers;
    return { size, stream: sink ?? new PassThrough().end(), done };
  }

  private async run(
    target: UpstreamTarget,
    digest: Digest,
    expectedSize: number | undefined,
    sink: PassThrough | undefined,
    onHeaders: (size: number | undefined) => void,
  ): Promise<FetchedBlob> {
    if (!sink) {
      // A background import may find the blob committed meanwhile (another job, another process,
      // another repository): no second download, but it is linked only if this upstream confirms it.
      const stored = await this.store.statBlob(digest);
      if (stored) {
        await this.confirmer.confirm(target, digest, stored.size);
        onHeaders(stored.size);
        return { digest, size: stored.size, bytesFetched: 0 };
      }
    }
    let answer;
    try {
      const served = await withFailover(target, (t) => t.client.getBlob(t.upstreamRepository, digest));
      answer = served.value;
      target = served.via;
    } catch (err) {
      sink?.destroy(err as Error);
      throw err;
    }
    let body: Readable;
    let size: number | undefined;
    try {
      const value = unwrapAnswer(answer, target, `blob ${digest}`, BlobUnknownError);
      body = value.body;
      size = value.size ?? expectedSize;
    } catch (err) {
      sink?.destroy(err as Error);
      throw err;
    }
    // The body may fail before the loop below reads it (while the writer is created): without a
    // listener that 'error' would crash the process; the loop then sees the failure via `errored`.
    body.on('error', () => undefined);
    onHeaders(size);
    let writer: Awaited<ReturnType<RegistryStore['createBlobWriter']>>;
    try {
      writer = await this.store.createBlobWriter({ digest, ...(size !== undefined ? { size } : {}) });
    } catch (err) {
      body.destroy();
      sink?.destroy(err as Error);
      throw err;
    }
    // A failed writer (too many bytes, storage error) is read from `writer.errored` below; without a
    // listener its 'error' event would crash the process.
    writer.on('error', () => undefined);
    let held: Buffer | undefined;
    let clientAlive = sink !== undefined;
    const toClient = async (chunk: Buffer) => {
      if (!clientAlive || !sink) return;
      if (sink.destroyed) {
        clientAlive = false;
        return;
      }
      if (!sink.write(chunk) && !(await drained(sink, this.clientStallTimeoutMs))) {
        // Gone, or stalled: stop feeding it (the fetch goes on for the store and for callers waiting on it).
        clientAlive = false;
        sink.destroy(new Error(`client stalled: no room for more bytes within ${this.clientStallTimeoutMs} ms`));
      }
    };
    try {
      if (body.errored) throw body.errored;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (!writer.write(chunk) && !writer.destroyed) await drained(writer);
        if (writer.destroyed) throw writer.errored ?? new Error('blob writer closed before the blob was complete');
        if (held) await toClient(held);
        held = chunk;
      }
      // Every byte is hashed as it is written: a wrong blob throws here, and its last chunk never
      // reaches the client. A verified blob is complete for the client now; it does not wait for
      // the temporary object's flush, fsync and commit (callers that joined this fetch still do).
      writer.verify();
      if (held) await toClient(held);
      if (clientAlive) sink?.end();
      const committed = await writer.commit();
      await this.store.linkBlob(target.downstreamRepository, digest);
      return { digest, size: committed.size, bytesFetched: committed.size };
    } catch (caught) {
      // A writer that failed on its own (too many bytes, storage error) knows the cause; the error
      // we caught may only be its consequence ("cannot commit a blob writer that is aborted").
      const err = writer.errored ?? caught;
      body.destroy();
      await writer.abort().catch(() => undefined);
      // A client that was given the whole verified blob keeps it: only the store failed.
      if (!sink?.writableEnded) sink?.destroy(err as Error);
      throw annotateUpstreamError(err, target);
    }
  }
}
