import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FilesystemDriver } from '@pullthrough/storage';
import { realUpstreamFetcher, type FetcherSetup } from '../test/real-upstream-fetcher.js';
import { readStream } from '../test/registry-fixture.js';
import type { BlobFetcherOptions, LiveBlob } from './blob-flight.js';

/**
 * Client waits through the real fetcher: a real docker-registry behind the counting proxy, whose link
 * is limited to 32 MiB/s, a real filesystem store, and clients with 256 KiB buffers that read the live
 * stream themselves (pausing, or stopping, as a starved client would). A full client that is the only
 * one and kept pace is waited for; one beside a client that keeps up, one that stops, and any with a
 * minimum share of 1 fall behind (the rest from the stored blob after the commit).
 */
const MiB = 1024 * 1024;
const SIZE = 16 * MiB;
const BUFFER = 256 * 1024;
const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const upstream = realUpstreamFetcher('client-wait', { bytesPerSecond: 32 * MiB });
type Setup = FetcherSetup<FilesystemDriver>;
/** A fresh blob upstream, a fresh store and fetcher with 256 KiB client buffers. */
const setUp = (options: BlobFetcherOptions = {}): Promise<Setup> => upstream.setUp(SIZE, { clientBufferBytes: BUFFER, clientBuffersTotalBytes: 16 * BUFFER, ...options });

/**
 * Reads a live stream, pausing `pauseMs` after every `every` bytes (a client briefly starved; only
 * while `pausing()` holds), or stopping for good at `stopAt` until `go()` is called.
 */
function client(stream: Readable, shape: { every?: number; pauseMs?: number; pausing?: () => boolean; stopAt?: number } = {}) {
  const chunks: Buffer[] = [];
  let got = 0;
  let go!: () => void;
  const resumed = new Promise<void>((resolve) => (go = resolve));
  const done = (async () => {
    let nextPause = shape.every ?? Infinity;
    let stopped = false;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        got += chunk.length;
        if (got >= nextPause) {
          nextPause += shape.every!;
          if (shape.pausing?.() ?? true) await sleep(shape.pauseMs!);
        }
        if (!stopped && shape.stopAt !== undefined && got >= shape.stopAt) {
          stopped = true;
          await resumed;
        }
      }
      return { bytes: Buffer.concat(chunks), error: undefined };
    } catch (err) {
      return { bytes: Buffer.concat(chunks), error: err as Error };
    }
  })();
  return { got: () => got, go, done };
}

const blobGets = () => upstream.blobGets();

async function lead(s: Setup): Promise<LiveBlob> {
  const live = (await s.fetcher.stream(s.target, s.digest))!;
  live.done.catch(() => undefined);
  return live;
}

/** Pauses of 30 ms every 4 MiB: each lets the link send about 1 MiB, far more than the client's buffer. */
const STARVED = { every: 4 * MiB, pauseMs: 30 };

describe('a full client that is the only one and kept pace', () => {
  it('is waited for: it never falls behind, gets every byte live, and the blob is fetched once', async () => {
    const s = await setUp();
    const live = await lead(s);
    const read = await client(live.stream, STARVED).done;
    expect(read.error).toBeUndefined();
    expect(sha(read.bytes)).toBe(s.digest);
    await expect(live.done).resolves.toMatchObject({ size: SIZE, bytesFetched: SIZE });
    const stats = s.fetcher.clientBufferStats;
    expect(stats.fellBehind).toBe(0);
    expect(stats.waits).toBeGreaterThan(0);
    expect(stats.bufferedBytes).toBe(0);
    expect(blobGets()).toBe(1);
    // The store kept up (the blob is smaller than its 32 MiB lag): only the client was waited for.
    expect(s.fetcher.writeLagStats).toMatchObject({ waits: 0, overflows: 0, queuedBytes: 0 });
  });

  it('falls behind at once with a minimum share of 1 (the behaviour before client waits), and still gets the whole blob from the stored copy', async () => {
    const s = await setUp({ clientWaitMinShare: 1 });
    const live = await lead(s);
    const read = await client(live.stream, STARVED).done;
    expect(read.error).toBeUndefined();
    expect(sha(read.bytes)).toBe(s.digest);
    expect(s.fetcher.clientBufferStats).toMatchObject({ fellBehind: 1, waits: 0, bufferedBytes: 0 });
    expect(blobGets()).toBe(1);
  });
});

describe('a full client that is the only one but did not keep pace', () => {
  it('falls behind (its rate is far below half the receive rate), then gets the rest from the stored blob', async () => {
    const s = await setUp();
    const live = await lead(s);
    // 64 KiB per 100 ms at most, about a fiftieth of the link, until it has fallen behind; then it reads freely.
    const read = await client(live.stream, { every: 64 * 1024, pauseMs: 100, pausing: () => s.fetcher.clientBufferStats.fellBehind === 0 }).done;
    expect(read.error).toBeUndefined();
    expect(sha(read.bytes)).toBe(s.digest);
    expect(s.fetcher.clientBufferStats).toMatchObject({ fellBehind: 1, bufferedBytes: 0 });
    expect(blobGets()).toBe(1);
  });
});

describe('a full client beside one that keeps up', () => {
  it('falls behind as before, even with a minimum share of 0: the other client and the commit do not wait for it', async () => {
    const s = await setUp({ clientWaitMinShare: 0 });
    const fast = await lead(s);
    const slow = (await s.fetcher.stream(s.target, s.digest))!;
    const slowReader = client(slow.stream, { stopAt: 0 });
    const read = await client(fast.stream).done;
    expect(sha(read.bytes)).toBe(s.digest);
    await expect(fast.done).resolves.toMatchObject({ size: SIZE });
    // Committed while the slow client has taken no more than its buffer and stream hold.
    expect(await s.store.statBlob(s.digest)).toEqual({ size: SIZE });
    expect(slowReader.got()).toBeLessThan(2 * BUFFER);
    // The slow client fell behind (a moment's stall of the fast one may have been waited for: not asserted).
    expect(s.fetcher.clientBufferStats.fellBehind).toBe(1);
    slowReader.go();
    const late = await slowReader.done;
    expect(late.error).toBeUndefined();
    expect(sha(late.bytes)).toBe(s.digest);
    expect(blobGets()).toBe(1);
  });
});

describe('a client waited for that stops reading', () => {
  it('falls behind after the wait stall limit; the fetch goes on and commits, and the client later gets the rest from the stored blob', async () => {
    const s = await setUp({ clientWaitStallMs: 300 });
    const live = await lead(s);
    const stopped = client(live.stream, { stopAt: 2 * MiB });
    await expect(live.done).resolves.toMatchObject({ size: SIZE, bytesFetched: SIZE });
    expect(stopped.got()).toBeLessThan(2 * MiB + 2 * BUFFER);
    expect(s.fetcher.clientBufferStats).toMatchObject({ fellBehind: 1, stalled: 0 });
    expect(s.fetcher.clientBufferStats.waits).toBeGreaterThan(0);
    stopped.go();
    const late = await stopped.done;
    expect(late.error).toBeUndefined();
    expect(sha(late.bytes)).toBe(s.digest);
    expect(blobGets()).toBe(1);
  });

  it('is cut off by the client stall timeout when that comes first; the fetch still commits', async () => {
    const s = await setUp({ clientStallTimeoutMs: 300, clientWaitStallMs: 10_000 });
    const started = Date.now();
    const live = await lead(s);
    const stopped = client(live.stream, { stopAt: 2 * MiB });
    await expect(live.done).resolves.toMatchObject({ size: SIZE, bytesFetched: SIZE });
    // The cut ended the wait: the read did not sit out the 10 s wait stall limit.
    expect(Date.now() - started).toBeLessThan(8000);
    expect(s.fetcher.clientBufferStats).toMatchObject({ fellBehind: 0, stalled: 1, bufferedBytes: 0 });
    expect(s.fetcher.clientBufferStats.waits).toBeGreaterThan(0);
    expect(await s.store.statBlob(s.digest)).toEqual({ size: SIZE });
    stopped.go();
    const cut = await stopped.done;
    expect(cut.error?.message).toMatch(/client stalled/);
    expect(cut.bytes.length).toBeLessThan(SIZE);
    // The stored copy is the blob.
    expect(sha((await readStream(await s.store.openBlob(s.digest, { start: 0, end: SIZE - 1 }))).bytes)).toBe(s.digest);
  });
});
