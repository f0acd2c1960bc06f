import { createHash } from 'node:crypto';
import type { Descriptor } from '@pullthrough/oci';
import { waitUntil } from '@pullthrough/test-support';
import { realUpstreamFetcher, type FetcherSetup } from '../test/real-upstream-fetcher.js';
import { readStream } from '../test/registry-fixture.js';
import type { BlobFetcherOptions } from './blob-flight.js';
import type { FilesystemDriver } from '@pullthrough/storage';

/**
 * Layers read ahead of the client (BlobFetcherOptions.readAheadLayers): a real docker-registry behind
 * the counting proxy, a real filesystem store. A request for a layer of a manifest just fetched starts
 * the fetches of the next ones before the client asks for them, each once; one larger than the kept
 * prefix holds at it (not stored, at most the prefix in memory) until a client taps it or the hold ends.
 */
const MiB = 1024 * 1024;
const SIZES = [64 * 1024, 3 * MiB, 3 * MiB, 96 * 1024, 3 * MiB];
const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const upstream = realUpstreamFetcher('read-ahead');

interface Layers extends FetcherSetup<FilesystemDriver> {
  layers: Array<Descriptor & { bytes: Buffer }>;
}

/** A fresh fetcher and five layers upstream (the setup's own blob is the first). */
async function setUp(options: BlobFetcherOptions): Promise<Layers> {
  const s = await upstream.setUp(SIZES[0]!, options);
  const more = await upstream.pushBlobs(SIZES.slice(1));
  const layers = [{ digest: s.digest, bytes: s.blob }, ...more].map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: b.digest, size: b.bytes.length, bytes: b.bytes }));
  upstream.proxy.reset();
  return { ...s, layers };
}

const stored = async (s: Layers, i: number) => (await s.store.statBlob(s.layers[i]!.digest)) !== undefined;
const gets = (s: Layers) => s.layers.map((l) => upstream.blobGets(l.digest));

/** The client asked for layer 0 of a manifest just fetched: `count` layers are read ahead, then held at their prefix a while. */
async function heldAhead(s: Layers, count: number): Promise<void> {
  s.fetcher.expectMisses(s.target, s.layers);
  s.fetcher.readAheadAfter(s.target, s.layers[0]!.digest);
  await waitUntil(async () => upstream.blobGets() === count, { what: `${count} layers read ahead`, timeoutMs: 10_000, intervalMs: 10 });
  // Held at the prefix, with the rest of each layer queued in its socket meanwhile.
  await new Promise((r) => setTimeout(r, 300));
}

describe('layers read ahead of the client', () => {
  it('a request for a layer fetches the next ones; a large one holds at its kept prefix, unstored, until a client taps it and gets every byte (one upstream GET)', async () => {
    const s = await setUp({ readAheadLayers: 2, readAheadHoldMs: 60_000, prefixBytes: 1 * MiB });
    s.fetcher.expectMisses(s.target, s.layers);
    // Nothing with the manifest alone.
    await new Promise((r) => setTimeout(r, 200));
    expect(upstream.blobGets()).toBe(0);
    // The client asks for layer 0: layers 1 and 2 are fetched ahead, not 3.
    s.fetcher.readAheadAfter(s.target, s.layers[0]!.digest);
    await waitUntil(async () => upstream.blobGets() === 2, { what: 'two layers read ahead', timeoutMs: 10_000, intervalMs: 10 });
    expect(gets(s)).toEqual([0, 1, 1, 0, 0]);
    // Both are larger than the prefix: each waits at it, unstored, holding at most the prefix.
    await new Promise((r) => setTimeout(r, 300));
    expect(await stored(s, 1)).toBe(false);
    expect(await stored(s, 2)).toBe(false);
    expect(s.fetcher.isRunning(s.target, s.layers[1]!.digest)).toBe(true);
    expect(s.fetcher.clientBufferStats.bufferedBytes).toBeLessThanOrEqual(2 * MiB);

    // The client asks for layer 1: layer 3 is read ahead (the window beyond it), and it taps the held fetch.
    s.fetcher.readAheadAfter(s.target, s.layers[1]!.digest);
    const live = await s.fetcher.stream(s.target, s.layers[1]!.digest);
    expect(live).toBeDefined();
    const got = await readStream(live!.stream);
    expect(got.error).toBeUndefined();
    expect(sha(got.bytes)).toBe(s.layers[1]!.digest);
    await expect(live!.done).resolves.toMatchObject({ size: SIZES[1] });
    expect(await stored(s, 1)).toBe(true);
    await waitUntil(async () => upstream.blobGets() === 3, { what: 'layer 3 read ahead', timeoutMs: 10_000, intervalMs: 10 });
    expect(gets(s)).toEqual([0, 1, 1, 1, 0]);

    // Layer 2 still holds; its client reads it from the kept prefix on: every byte, no second GET.
    expect(await stored(s, 2)).toBe(false);
    const next = await s.fetcher.stream(s.target, s.layers[2]!.digest);
    expect(sha((await readStream(next!.stream)).bytes)).toBe(s.layers[2]!.digest);
    await next!.done;
    expect(gets(s)).toEqual([0, 1, 1, 1, 0]);
    await waitUntil(() => stored(s, 3), { what: 'layer 3 stored', timeoutMs: 10_000 });
    expect(s.fetcher.clientBufferStats.bufferedBytes).toBe(0);
    expect(s.fetcher.readAheadStats).toEqual({ started: 3, unasked: 0 });
  });

  it('clients that tap a held layer right after its first client all start at byte 0 from the kept prefix: none waits for the commit', async () => {
    const s = await setUp({ readAheadLayers: 1, readAheadHoldMs: 60_000, prefixBytes: 1 * MiB });
    await heldAhead(s, 1);
    expect(await stored(s, 1)).toBe(false);
    const digest = s.layers[1]!.digest;
    const first = await s.fetcher.stream(s.target, digest);
    // The herd's next client, a turn of the event loop later: the chunk the prefix could not take, and the
    // socket's backlog, would have gone by already without the gathering.
    await new Promise((r) => setImmediate(r));
    const second = await s.fetcher.stream(s.target, digest);
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    const [a, b] = await Promise.all([readStream(first!.stream), readStream(second!.stream)]);
    expect(sha(a.bytes)).toBe(digest);
    expect(sha(b.bytes)).toBe(digest);
    await expect(second!.done).resolves.toMatchObject({ size: SIZES[1] });
    expect(s.fetcher.coalesced).toMatchObject({ tapped: 2, joined: 0, readBack: 0 });
    expect(gets(s)).toEqual([0, 1, 0, 0, 0]);
  });

  it('with no client within the hold, the fetch goes on for the store alone: stored, the kept bytes given back', async () => {
    const s = await setUp({ readAheadLayers: 3, readAheadHoldMs: 200, prefixBytes: 1 * MiB });
    s.fetcher.expectMisses(s.target, s.layers);
    s.fetcher.readAheadAfter(s.target, s.layers[0]!.digest);
    await waitUntil(async () => (await stored(s, 1)) && (await stored(s, 2)), { what: 'the held layers stored after the hold', timeoutMs: 15_000 });
    await s.fetcher.settle();
    expect(gets(s)).toEqual([0, 1, 1, 1, 0]);
    expect(s.fetcher.clientBufferStats.bufferedBytes).toBe(0);
    // Layers 1 and 2 waited out their hold; layer 3 (under the prefix) never had to wait.
    expect(s.fetcher.readAheadStats).toEqual({ started: 3, unasked: 2 });
    // A client now finds it stored (a hit for the caller: no fetch runs).
    expect(s.fetcher.isRunning(s.target, s.layers[1]!.digest)).toBe(false);
  });

  it('with no hold (readAheadHoldMs 0, a frontend without peer streaming) a layer read ahead is fetched and stored whole at once', async () => {
    const s = await setUp({ readAheadLayers: 2, readAheadHoldMs: 0, prefixBytes: 1 * MiB });
    s.fetcher.expectMisses(s.target, s.layers);
    s.fetcher.readAheadAfter(s.target, s.layers[0]!.digest);
    await waitUntil(async () => (await stored(s, 1)) && (await stored(s, 2)), { what: 'layers 1 and 2 stored', timeoutMs: 10_000 });
    expect(gets(s)).toEqual([0, 1, 1, 0, 0]);
    expect(s.fetcher.readAheadStats).toEqual({ started: 2, unasked: 0 });
    expect(s.fetcher.clientBufferStats.bufferedBytes).toBe(0);
  });

  it('a caller that waits for the commit (a HEAD, an ensure) lets a held fetch go on at once; so does settle()', async () => {
    const s = await setUp({ readAheadLayers: 3, readAheadHoldMs: 600_000, prefixBytes: 1 * MiB });
    await heldAhead(s, 3);
    expect(await stored(s, 1)).toBe(false);
    const joined = s.fetcher.join(s.target, s.layers[1]!.digest);
    expect(joined).toBeDefined();
    await expect(joined).resolves.toMatchObject({ size: SIZES[1] });
    expect(await stored(s, 1)).toBe(true);
    // Layer 2 still holds; a clean shutdown does not wait the hold out.
    expect(await stored(s, 2)).toBe(false);
    await s.fetcher.settle();
    expect(await stored(s, 2)).toBe(true);
    expect(gets(s)).toEqual([0, 1, 1, 1, 0]);
  });

  it('a layer stored already is not fetched again ahead; nothing is read ahead by default', async () => {
    const s = await setUp({ readAheadLayers: 2, readAheadHoldMs: 200 });
    await s.fetcher.ensure(s.target, s.layers[1]!.digest);
    upstream.proxy.reset();
    s.fetcher.expectMisses(s.target, s.layers);
    s.fetcher.readAheadAfter(s.target, s.layers[0]!.digest);
    await waitUntil(() => stored(s, 2), { what: 'layer 2 read ahead', timeoutMs: 15_000 });
    await s.fetcher.settle();
    expect(gets(s)).toEqual([0, 0, 1, 0, 0]);

    const off = await setUp({});
    off.fetcher.expectMisses(off.target, off.layers);
    off.fetcher.readAheadAfter(off.target, off.layers[0]!.digest);
    await new Promise((r) => setTimeout(r, 300));
    expect(upstream.blobGets()).toBe(0);
  });
});
