import { createHash } from 'node:crypto';
import type { FilesystemDriver } from '@pullthrough/storage';
import { realUpstreamFetcher, type FetcherSetup } from '../test/real-upstream-fetcher.js';
import { readStream } from '../test/registry-fixture.js';
import { ClientBuffers } from './client-buffers.js';
import type { BlobFetcherOptions, LiveBlob } from './blob-flight.js';

/**
 * The kept prefix of a running blob fetch (ClientBuffers.prefixBytes): a real docker-registry behind
 * the counting proxy, its link limited to 16 MiB/s so the fetch is still running when the next client
 * comes, and a real filesystem store. A client that arrives while every byte received so far is
 * kept taps the fetch from byte 0; one that arrives after the fetch passed the prefix size reads the
 * bytes before the fetch's position back from the store's temporary file, then live (more in
 * blob-fetcher-read-back.test.ts); either way the blob is fetched once.
 */
const MiB = 1024 * 1024;
const SIZE = 8 * MiB;
const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const upstream = realUpstreamFetcher('prefix', { bytesPerSecond: 16 * MiB });
type Setup = FetcherSetup<FilesystemDriver>;
const setUp = (options: BlobFetcherOptions) => upstream.setUp(SIZE, options);
const blobGets = () => upstream.blobGets();

/** Starts the fetch with a leading client that reads everything; resolves once it has read `bytes`. */
async function leadUntil(s: Setup, bytes: number): Promise<{ live: LiveBlob; read: Promise<{ bytes: Buffer; error?: Error }> }> {
  const live = (await s.fetcher.stream(s.target, s.digest))!;
  live.done.catch(() => undefined);
  let got = 0;
  const reached = new Promise<void>((resolve) => {
    live.stream.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= bytes) resolve();
    });
  });
  const read = readStream(live.stream);
  await reached;
  return { live, read };
}

describe('the kept prefix of a running blob fetch', () => {
  it('a client that comes while the fetch is inside the prefix taps it from byte 0 and gets the whole blob, fetched once', async () => {
    const s = await setUp({ prefixBytes: 4 * MiB });
    const { live, read } = await leadUntil(s, 1 * MiB);
    const joiner = await s.fetcher.stream(s.target, s.digest);
    expect(joiner).toBeDefined();
    const [lead, joined] = await Promise.all([read, readStream(joiner!.stream)]);
    expect(sha(lead.bytes)).toBe(s.digest);
    expect(joined.error).toBeUndefined();
    expect(sha(joined.bytes)).toBe(s.digest);
    await expect(live.done).resolves.toMatchObject({ size: SIZE, bytesFetched: SIZE });
    expect(blobGets()).toBe(1);
    expect(s.fetcher.clientBufferStats.bufferedBytes).toBe(0);
  });

  it('a client that comes after the fetch passed the prefix reads its first bytes back from the store (not from memory) and gets the whole blob, fetched once; the prefix memory is given back', async () => {
    const s = await setUp({ prefixBytes: 1 * MiB, clientBufferBytes: 1 * MiB });
    const { live, read } = await leadUntil(s, 2 * MiB);
    // The fetch is still running (16 MiB/s, 8 MiB): only the prefix is gone.
    expect(s.fetcher.clientBufferStats.bufferedBytes).toBeLessThan(2 * MiB);
    const late = await s.fetcher.stream(s.target, s.digest);
    expect(late).toBeDefined();
    expect(s.fetcher.coalesced).toMatchObject({ tapped: 1, readBack: 1 });
    const [lead, joined] = await Promise.all([read, readStream(late!.stream)]);
    expect(sha(lead.bytes)).toBe(s.digest);
    expect(joined.error).toBeUndefined();
    expect(sha(joined.bytes)).toBe(s.digest);
    await expect(live.done).resolves.toMatchObject({ size: SIZE });
    expect(blobGets()).toBe(1);
    expect(s.fetcher.clientBufferStats.bufferedBytes).toBe(0);
  });

  it('prefixBytes 0 keeps nothing: a client that comes after the first bytes reads them back from the store', async () => {
    const s = await setUp({ prefixBytes: 0, clientBufferBytes: 1 * MiB });
    const { live, read } = await leadUntil(s, 64 * 1024);
    const late = await s.fetcher.stream(s.target, s.digest);
    expect(s.fetcher.coalesced).toMatchObject({ tapped: 1, readBack: 1 });
    const [lead, joined] = await Promise.all([read, readStream(late!.stream)]);
    expect([sha(lead.bytes), sha(joined.bytes)]).toEqual([s.digest, s.digest]);
    await expect(live.done).resolves.toMatchObject({ size: SIZE });
    expect(blobGets()).toBe(1);
  });

  it('a prefix larger than a client buffer is cut to one buffer; a negative one is refused', () => {
    expect(new ClientBuffers({ perClientBytes: 1 * MiB, totalBytes: 4 * MiB, prefixBytes: 4 * MiB }).prefixBytes).toBe(1 * MiB);
    expect(new ClientBuffers({ perClientBytes: 1 * MiB, totalBytes: 4 * MiB }).prefixBytes).toBe(1 * MiB);
    expect(new ClientBuffers({ perClientBytes: 8 * MiB, totalBytes: 16 * MiB }).prefixBytes).toBe(2 * MiB);
    expect(() => new ClientBuffers({ perClientBytes: 1 * MiB, totalBytes: 4 * MiB, prefixBytes: -1 })).toThrow(/prefixBytes \(-1\) >= 0/);
  });
});
