import { createHash } from 'node:crypto';
import type { Descriptor } from '@pullthrough/oci';
import { startRedis, uniquePrefix, waitUntil, type RedisServer } from '@pullthrough/test-support';
import { connectedLeases } from '../test/connected-leases.js';
import { realUpstreamFetcher, type FetcherSetup } from '../test/real-upstream-fetcher.js';
import { BlobFetcher } from './blob-fetcher.js';
import type { FilesystemDriver } from '@pullthrough/storage';
import type { RedisBlobLeases } from './redis-blob-leases.js';

/**
 * A read-ahead held at its kept prefix on one replica, and a client of another replica that has no peer
 * stream to read (it waits for the commit): it says so through Redis (`<prefix>:blob-wanted`), and the
 * leader lets that fetch go on at once instead of after its hold. Two BlobFetchers on one filesystem
 * store, each with its own Redis leases; a real docker-registry behind the counting proxy; holds of ten
 * minutes, so a fetch that is stored within the test's time was let go by the notice.
 */
const MiB = 1024 * 1024;
const SIZES = [64 * 1024, 3 * MiB, 3 * MiB];
const HOLD_MS = 600_000;
const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const upstream = realUpstreamFetcher('read-ahead-replicas');
let redis: RedisServer;
const opened: RedisBlobLeases[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterEach(() => opened.splice(0).forEach((l) => l.close()));
afterAll(async () => {
  await redis?.stop();
});

interface Replicas extends FetcherSetup<FilesystemDriver> {
  layers: Array<Descriptor & { bytes: Buffer }>;
  /** The second replica: no peer streaming, so its clients wait for the leader's commit. */
  other: BlobFetcher;
}

async function setUp(otherReadsAhead: boolean): Promise<Replicas> {
  const prefix = uniquePrefix('read-ahead-replicas');
  const [a, b] = [await connectedLeases(redis.url, prefix, 15_000), await connectedLeases(redis.url, prefix, 15_000)];
  opened.push(a, b);
  const options = { readAheadLayers: 2, readAheadHoldMs: HOLD_MS, prefixBytes: 1 * MiB };
  const s = await upstream.setUp(SIZES[0]!, { ...options, leases: a });
  const more = await upstream.pushBlobs(SIZES.slice(1));
  const layers = [{ digest: s.digest, bytes: s.blob }, ...more].map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.bytes.length, bytes: l.bytes }));
  const other = new BlobFetcher(s.store, otherReadsAhead ? { ...options, leases: b } : { leases: b });
  upstream.proxy.reset();
  return { ...s, layers, other };
}

const stored = async (s: Replicas, i: number) => (await s.store.statBlob(s.layers[i]!.digest)) !== undefined;
const gets = (s: Replicas) => s.layers.map((l) => upstream.blobGets(l.digest));

/** Both replicas' layers 1 and 2 are read ahead by the first one, held there, unstored. */
async function heldOnFirst(s: Replicas): Promise<void> {
  s.fetcher.expectMisses(s.target, s.layers);
  s.fetcher.readAheadAfter(s.target, s.layers[0]!.digest);
  await waitUntil(async () => upstream.blobGets() === 2, { what: 'two layers read ahead', timeoutMs: 10_000, intervalMs: 10 });
  await new Promise((r) => setTimeout(r, 300));
  expect([await stored(s, 1), await stored(s, 2)]).toEqual([false, false]);
}

describe('a read-ahead wanted by another replica', () => {
  it("goes on at once when the other replica's client waits for its commit; the layer nobody wants stays held", async () => {
    const s = await setUp(false);
    await heldOnFirst(s);
    // The other replica's client: the lease is held, no peer stream to read, so nothing is streamed live.
    expect(await s.other.stream(s.target, s.layers[1]!.digest)).toBeUndefined();
    const fetched = await s.other.ensure(s.target, s.layers[1]!.digest);
    expect(fetched).toMatchObject({ size: SIZES[1], bytesFetched: 0 });
    expect(await stored(s, 1)).toBe(true);
    const bytes = await s.store.openBlob(s.layers[1]!.digest);
    const chunks: Buffer[] = [];
    for await (const chunk of bytes) chunks.push(chunk as Buffer);
    expect(sha(Buffer.concat(chunks))).toBe(s.layers[1]!.digest);
    // One upstream GET per layer; layer 2 (no client) still holds.
    expect(await stored(s, 2)).toBe(false);
    expect(gets(s)).toEqual([0, 1, 1]);
    expect(s.fetcher.readAheadStats).toEqual({ started: 2, unasked: 0 });
    await s.fetcher.settle();
    await s.other.settle();
  });

  it("a read-ahead on the other replica that follows the first one's lease says so only once its own client comes", async () => {
    const s = await setUp(true);
    await heldOnFirst(s);
    // The other replica's read-ahead of the same layers: the leases are held, it follows (no second GET) and says nothing yet.
    s.other.expectMisses(s.target, s.layers);
    s.other.readAheadAfter(s.target, s.layers[0]!.digest);
    await waitUntil(async () => s.other.isRunning(s.target, s.layers[2]!.digest), { what: 'the other replica follows', timeoutMs: 10_000, intervalMs: 10 });
    await new Promise((r) => setTimeout(r, 300));
    expect([await stored(s, 1), await stored(s, 2)]).toEqual([false, false]);
    // Its client joins its follow of layer 2: the first replica is told, and commits it.
    await expect(s.other.ensure(s.target, s.layers[2]!.digest)).resolves.toMatchObject({ size: SIZES[2] });
    expect(await stored(s, 2)).toBe(true);
    expect(await stored(s, 1)).toBe(false);
    expect(gets(s)).toEqual([0, 1, 1]);
    await s.fetcher.settle();
    await s.other.settle();
    expect(gets(s)).toEqual([0, 1, 1]);
  });
});
