import type { Readable } from 'node:stream';
import type { Digest } from '@pullthrough/oci';
import type { RegistryStore } from '@pullthrough/storage';
import type { BlobConfirmer } from './blob-confirmer.js';
import type { FetchedBlob, Flight } from './blob-flight.js';
import type { ClientBuffers } from './client-buffers.js';
import { ClientWaits } from './client-waits.js';
import { endOwnHold } from './lent-slices.js';
import { ReceivePace } from './receive-pace.js';
import { completeStoreTail } from './store-tail.js';
import { annotateUpstreamError } from './upstream-answers.js';
import { startDownload } from './upstream-download.js';
import type { UpstreamTarget } from './upstream-target.js';
import type { WriteLag } from './write-lag.js';
import { WriteThrough } from './write-through.js';

/** What a download needs of its BlobFetcher. */
export interface DownloadDeps {
  store: RegistryStore;
  confirmer: BlobConfirmer;
  lag: WriteLag;
  buffers: ClientBuffers;
}

/**
 * The fetch itself, once this process leads it (BlobFetcher.run): the upstream body is hashed,
 * written through to the store (WriteThrough) and offered to the flight's clients as it arrives;
 * the digest is checked before the last byte reaches a client, the store's rest is completed after a
 * lag overflow, the blob committed and linked. A fetch nobody reads live first looks whether the blob
 * was stored meanwhile (and only confirms it upstream then).
 */
export async function downloadThrough(
  deps: DownloadDeps,
  target: UpstreamTarget,
  digest: Digest,
  expectedSize: number | undefined,
  flight: Flight,
  live: boolean,
  onHeaders: (size: number | undefined) => void,
): Promise<FetchedBlob> {
  const failTaps = (err: unknown) => flight.taps.forEach((tap) => tap.fail(err as Error));
  if (!live) {
    // Only a fetch that clients read live keeps its first bytes for clients that come later.
    flight.prefix.drop();
    // A background import may find the blob committed meanwhile (another job, another process,
    // another repository): no second download, but it is linked only if this upstream confirms it.
    const stored = await deps.store.statBlob(digest);
    if (stored) {
      await deps.confirmer.confirm(target, digest, stored.size);
      onHeaders(stored.size);
      return { digest, size: stored.size, bytesFetched: 0 };
    }
  }
  // The store's object is opened while the upstream is asked; no client tap exists yet.
  const download = await startDownload(deps.store, target, digest);
  // The store's rest after a lag overflow is fetched through the same upstreams (and failover).
  const source = target;
  target = download.via;
  const body: Readable = download.content.body;
  const size = download.content.size ?? expectedSize;
  // The body may fail before the loop below reads it (while the writer is created): without a
  // listener that 'error' would crash the process; the loop then sees the failure via `errored`.
  body.on('error', () => undefined);
  flight.streaming = true;
  flight.leading = true;
  // A fetch taken over after a peer stream starts again from byte 0.
  flight.position = 0;
  flight.storeLeftAt = undefined;
  onHeaders(size);
  let writer: Awaited<ReturnType<RegistryStore['createBlobWriter']>>;
  try {
    writer = await download.writer(size);
  } catch (err) {
    await download.drop();
    flight.streaming = false;
    body.destroy();
    failTaps(err);
    throw err;
  }
  // A failed writer (too many bytes, storage error) is read from `writer.errored` below; without a
  // listener its 'error' event would crash the process.
  writer.on('error', () => undefined);
  // A client that comes after the kept first bytes reads them back from the store's written part meanwhile.
  flight.written = writer.writtenPrefix;
  const readLive = () => flight.taps.some((tap) => tap.live);
  // The read's own pace: what the store and a full client must keep a share of to be waited for.
  const pace = new ReceivePace();
  const through = new WriteThrough(writer, deps.lag, readLive, pace);
  const clients = new ClientWaits(pace, deps.buffers.minClientShare);
  try {
    if (body.errored) throw body.errored;
    let whole = true;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      // Read ahead of its client: the read stops before the first chunk the kept prefix cannot take, until
      // a client taps the fetch (and the clients that come with it: ReadAheadHold) or the hold times out
      // (then the rest is for the store). Not the upstream's time.
      const hold = flight.hold;
      if (hold && !hold.settled && !flight.prefix.keeps(chunk.length)) {
        const stop = flight.prefix.available ? hold.atPrefixEnd() : hold.release();
        if (stop) await pace.waiting(() => stop);
      }
      // Hashed (and checked against the expected size) before any client sees it.
      const wait = through.take(chunk);
      // The store was left behind here (its rest comes from a ranged GET checked only at the commit): no
      // read-back reads past it; such clients go on from the stored blob.
      flight.storeLeftAt ??= through.overflowAt;
      const offset = flight.position;
      flight.position += chunk.length;
      flight.prefix.add(chunk);
      // Each client gets the part of the chunk inside its range in its own buffer. The read waits for
      // a full client only as ClientWaits decides, for the store as WriteThrough does; for both when both ask.
      const waitFor = clients.offer(flight.taps, chunk, offset);
      // A chunk lent by the blob reader's slab pool: the store's writer, the kept prefix and each tap
      // hold it on their own now (retainLent); this loop's hold ends here.
      endOwnHold(chunk);
      if (wait || waitFor.length > 0) await Promise.all([wait ? through.room() : undefined, clients.room(waitFor)]);
      // The store stopped being fed and no client reads live any more: the rest is for the store only.
      if (through.overflowAt !== undefined && !readLive()) {
        whole = false;
        break;
      }
    }
    flight.streaming = false;
    flight.written = undefined;
    flight.prefix.drop();
    if (whole) {
      // Every byte is hashed as it arrives: a wrong blob throws here, and a tap that reaches the
      // blob's end never gets its last slice. A verified blob is complete for the clients now; they
      // do not wait for the store's write, flush, fsync and commit (callers that joined do).
      through.verifyReceived();
      for (const tap of flight.taps) tap.complete();
    }
    const overflowAt = through.overflowAt;
    if (overflowAt !== undefined) await completeStoreTail(source, digest, writer, overflowAt, whole ? flight.position : size, deps.lag, (written, chunk) => through.holdForWriter(written, chunk));
    // The stored object's digest (the writer's hash, continued by a completion) is checked here.
    const committed = await writer.commit();
    flight.placed({ digest, size: committed.size, bytesFetched: committed.size });
    through.release();
    // Clients that fell behind their buffer continue from the stored blob where they were.
    const open = (start: number, end: number) => deps.store.openBlob(digest, { start, end });
    for (const tap of flight.taps) tap.committed(open, committed.size);
    flight.alsoLink.add(target.downstreamRepository);
    await Promise.all([...flight.alsoLink].map((repository) => deps.store.linkBlob(repository, digest)));
    return { digest, size: committed.size, bytesFetched: committed.size };
  } catch (caught) {
    // A writer that failed on its own (too many bytes, storage error) knows the cause; the error
    // we caught may only be its consequence ("cannot commit a blob writer that is aborted").
    const err = writer.errored ?? caught;
    flight.streaming = false;
    flight.written = undefined;
    flight.prefix.drop();
    body.destroy();
    await writer.abort().catch(() => undefined);
    through.release();
    // A client that was given the whole verified blob (or its whole range) keeps it: only the store failed.
    failTaps(err);
    throw annotateUpstreamError(err, target);
  }
}
