import { PassThrough, type Readable, type Writable } from 'node:stream';
import { BlobUnknownError, type Digest } from '@pullthrough/oci';
import type { RegistryStore } from '@pullthrough/storage';
import { annotateUpstreamError, unwrapAnswer } from './upstream-answers.js';
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
  done: Promise<FetchedBlob>;
}

const once = (stream: Writable, event: 'drain'): Promise<void> =>
  new Promise((resolve) => {
    const finish = () => {
      stream.off(event, finish);
      stream.off('close', finish);
      resolve();
    };
    stream.on(event, finish);
    stream.on('close', finish);
  });

/**
 * Streams a missing blob from the upstream into the store while handing the same bytes to one
 * client, hashing as it goes; the object is committed only if the digest matches. The last chunk
 * is held back from the client until the digest is verified, so a corrupt blob never looks like a
 * complete response. Concurrent requests for the same digest share ONE upstream GET: later
 * callers wait for the commit and read the local copy.
 */
export class BlobFetcher {
  private readonly flights = new Map<string, Flight>();

  constructor(private readonly store: RegistryStore) {}

  isInFlight(digest: Digest): boolean {
    return this.flights.has(digest);
  }

  /** Make the blob local (lead or join a fetch). */
  async ensure(target: UpstreamTarget, digest: Digest, expectedSize?: number): Promise<FetchedBlob> {
    const existing = this.flights.get(digest);
    if (existing) {
      const joined = await existing.done;
      return { ...joined, bytesFetched: 0 };
    }
    const live = await this.start(target, digest, expectedSize, false);
    return live.done;
  }

  /**
   * Lead a fetch whose bytes are also streamed to the caller, or undefined when another fetch of
   * this digest is already running (the caller should `ensure` and read locally).
   */
  async stream(target: UpstreamTarget, digest: Digest, expectedSize?: number): Promise<LiveBlob | undefined> {
    if (this.flights.has(digest)) return undefined;
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
    const flight: Flight = { done };
    this.flights.set(digest, flight);
    done.then(
      () => this.flights.delete(digest),
      () => this.flights.delete(digest),
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
    let answer;
    try {
      answer = await target.client.getBlob(target.upstreamRepository, digest);
    } catch (err) {
      sink?.destroy(err as Error);
      throw annotateUpstreamError(err, target);
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
    onHeaders(size);
    const writer = await this.store.createBlobWriter({ digest, ...(size !== undefined ? { size } : {}) });
    let held: Buffer | undefined;
    let clientAlive = sink !== undefined;
    const toClient = async (chunk: Buffer) => {
      if (!clientAlive || !sink) return;
      if (sink.destroyed) {
        clientAlive = false;
        return;
      }
      if (!sink.write(chunk)) await once(sink, 'drain');
    };
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (!writer.write(chunk)) await once(writer, 'drain');
        if (held) await toClient(held);
        held = chunk;
      }
      const committed = await writer.commit();
      if (held) await toClient(held);
      if (clientAlive) sink?.end();
      await this.store.linkBlob(target.downstreamRepository, digest);
      return { digest, size: committed.size, bytesFetched: committed.size };
    } catch (err) {
      body.destroy();
      await writer.abort().catch(() => undefined);
      sink?.destroy(err as Error);
      throw annotateUpstreamError(err, target);
    }
  }
}
