import { createHash } from 'node:crypto';
import { FilesystemDriver, type CreateWriterOptions, type ObjectWriter } from '@pullthrough/storage';
import { waitUntil } from '@pullthrough/test-support';
import { HeldFilesystemDriver } from '../test/held-filesystem-driver.js';
import { realUpstreamFetcher } from '../test/real-upstream-fetcher.js';
import { readStream } from '../test/registry-fixture.js';
import type { LiveBlob } from './blob-flight.js';

/**
 * A client that comes after a running fetch went past its kept first bytes reads its bytes back from
 * the store's temporary file while the fetch goes on, taking no live bytes until it is within half its
 * buffer of the fetch's position, then the live bytes: it does not wait for the whole blob and its commit
 * (while at least four client buffers of the blob are still to come). A real docker-registry behind the counting proxy
 * (its body held at a byte to fix the fetch's position), a real filesystem store, the real BlobFetcher.
 */
const MiB = 1024 * 1024;
const SIZE = 8 * MiB;
const HOLD_AT = 4 * MiB;
const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const upstream = realUpstreamFetcher('read-back');

/** A store like Azure Blob's: what a writer has staged cannot be read before its commit. */
class NoReadBackDriver extends FilesystemDriver {
  override async createWriter(options: CreateWriterOptions = {}): Promise<ObjectWriter> {
    const writer = await super.createWriter(options);
    Object.defineProperty(writer, 'writtenPrefix', { value: undefined });
    return writer;
  }
}

/** Counts the bytes a stream has delivered so far, and collects them. */
function collect(live: LiveBlob) {
  let got = 0;
  const read = readStream(live.stream);
  live.stream.on('data', (chunk: Buffer) => (got += chunk.length));
  return { got: () => got, read };
}

/** The upstream's body held after HOLD_AT bytes (thenReset: reset instead of the rest); the leader reads every byte it gets. */
async function leadToHold(s: Awaited<ReturnType<typeof upstream.setUp>>, thenReset = false) {
  let release!: () => void;
  const until = new Promise<void>((resolve) => (release = resolve));
  upstream.proxy.setFault((r) => (r.kind === 'blob' && r.method === 'GET' ? { kind: 'hold', atByte: HOLD_AT, until, thenReset } : null));
  const leader = (await s.fetcher.stream(s.target, s.digest))!;
  leader.done.catch(() => undefined);
  const lead = collect(leader);
  await waitUntil(async () => lead.got() >= HOLD_AT - 64 * 1024, { what: 'the leader at the held byte', timeoutMs: 10_000, intervalMs: 10 });
  return { leader, lead, release };
}

describe('a client after the kept first bytes', () => {
  it('reads what the store has written while the upstream body is held, then the rest live: the whole blob verified, one upstream GET', async () => {
    const s = await upstream.setUp(SIZE, { prefixBytes: MiB, clientBufferBytes: MiB });
    const { leader, lead, release } = await leadToHold(s);
    const late = await s.fetcher.stream(s.target, s.digest);
    expect(late).toBeDefined();
    const joined = collect(late!);
    // The writer writes a MiB at a time: the late client has the first 3 MiB while the upstream holds the rest.
    await waitUntil(async () => joined.got() >= 3 * MiB, { what: 'the late client reading the written part back', timeoutMs: 10_000, intervalMs: 10 });
    expect(await s.store.statBlob(s.digest)).toBeUndefined();
    release();
    const [a, b] = await Promise.all([lead.read, joined.read]);
    expect([a.error, b.error]).toEqual([undefined, undefined]);
    expect([sha(a.bytes), sha(b.bytes)]).toEqual([s.digest, s.digest]);
    await expect(leader.done).resolves.toMatchObject({ size: SIZE, bytesFetched: SIZE });
    expect(upstream.blobGets(s.digest)).toBe(1);
    expect(s.fetcher.coalesced).toMatchObject({ tapped: 1, readBack: 1 });
    expect(s.fetcher.clientBufferStats.bufferedBytes).toBe(0);
  });

  it('a range that starts in the written part and ends after the position: its bytes exactly', async () => {
    const s = await upstream.setUp(SIZE, { prefixBytes: MiB, clientBufferBytes: MiB });
    const { lead, release } = await leadToHold(s);
    const range = { start: MiB + 123, end: 6 * MiB + 7 };
    const late = await s.fetcher.streamRange(s.target, s.digest, range);
    expect(late?.range).toEqual(range);
    const joined = collect(late!);
    release();
    const got = await joined.read;
    expect(got.error).toBeUndefined();
    expect(sha(got.bytes)).toBe(sha(s.blob.subarray(range.start, range.end + 1)));
    expect(sha((await lead.read).bytes)).toBe(s.digest);
    expect(upstream.blobGets(s.digest)).toBe(1);
  });

  it('is cut, never given a short body that looks whole, when the upstream fails after it joined', async () => {
    const s = await upstream.setUp(SIZE, { prefixBytes: MiB, clientBufferBytes: MiB });
    const { leader, lead, release } = await leadToHold(s, true);
    const late = await s.fetcher.stream(s.target, s.digest);
    const joined = collect(late!);
    await waitUntil(async () => joined.got() >= 2 * MiB, { what: 'the late client reading the written part back', timeoutMs: 10_000, intervalMs: 10 });
    release();
    const [a, b] = await Promise.all([lead.read, joined.read]);
    expect([a.error, b.error]).toEqual([expect.any(Error), expect.any(Error)]);
    expect(b.bytes.length).toBeLessThan(SIZE);
    await expect(leader.done).rejects.toThrow();
    expect(await s.store.statBlob(s.digest)).toBeUndefined();
  });

  it('waits for a held disk: nothing is read back before it is written; the fetch ends while it chases, and it goes on from the stored blob: every byte verified, one GET', async () => {
    const s = await upstream.setUp(SIZE, { prefixBytes: MiB, clientBufferBytes: MiB, writeLagBytes: 16 * MiB, writeLagTotalBytes: 32 * MiB }, { driver: (dir) => new HeldFilesystemDriver(dir), beforeClose: (disk) => disk.release() });
    s.driver.hold();
    const { leader, lead, release } = await leadToHold(s);
    const late = await s.fetcher.stream(s.target, s.digest);
    const joined = collect(late!);
    await new Promise((r) => setTimeout(r, 300));
    expect(joined.got()).toBe(0);
    // The whole body arrives (the store's writer holds it in its lag) while the late client waits for the disk.
    release();
    const a = await lead.read;
    expect(sha(a.bytes)).toBe(s.digest);
    expect(joined.got()).toBe(0);
    s.driver.release();
    const b = await joined.read;
    expect(b.error).toBeUndefined();
    expect(sha(b.bytes)).toBe(s.digest);
    await expect(leader.done).resolves.toMatchObject({ size: SIZE });
    expect(upstream.blobGets(s.digest)).toBe(1);
    expect(s.fetcher.clientBufferStats.bufferedBytes).toBe(0);
  });

  it('far behind the fetch with a small buffer (512 KiB, 4 MiB behind), it reads back until within half its buffer, then live: every byte, none fell behind', async () => {
    const s = await upstream.setUp(SIZE, { prefixBytes: 256 * 1024, clientBufferBytes: 512 * 1024 });
    const { lead, release } = await leadToHold(s);
    const late = await s.fetcher.stream(s.target, s.digest);
    const joined = collect(late!);
    await waitUntil(async () => joined.got() >= 3 * MiB, { what: 'the late client reading back', timeoutMs: 10_000, intervalMs: 10 });
    release();
    const [a, b] = await Promise.all([lead.read, joined.read]);
    expect([sha(a.bytes), sha(b.bytes)]).toEqual([s.digest, s.digest]);
    expect(upstream.blobGets(s.digest)).toBe(1);
    expect(s.fetcher.clientBufferStats).toMatchObject({ fellBehind: 0, bufferedBytes: 0 });
  });

  it('not once the store was left behind (a write lag overflow: its rest comes from a later GET, checked only at the commit): the caller waits for the commit', async () => {
    const s = await upstream.setUp(SIZE, { prefixBytes: MiB, clientBufferBytes: MiB, writeLagBytes: MiB, writeLagTotalBytes: 4 * MiB, writeLagStallMs: 100 }, { driver: (dir) => new HeldFilesystemDriver(dir), beforeClose: (disk) => disk.release() });
    s.driver.hold();
    const { leader, lead, release } = await leadToHold(s);
    await waitUntil(async () => s.fetcher.writeLagStats.overflows === 1, { what: 'the write lag overflow', timeoutMs: 10_000, intervalMs: 10 });
    expect(await s.fetcher.stream(s.target, s.digest)).toBeUndefined();
    s.driver.release();
    release();
    expect(sha((await lead.read).bytes)).toBe(s.digest);
    await expect(leader.done).resolves.toMatchObject({ size: SIZE });
    expect(s.fetcher.coalesced).toMatchObject({ tapped: 0, readBack: 0 });
  });

  // Fewer than four client buffers of the blob still to come (4 MiB to come, 8 MiB needed): cheaper for
  // memory to wait, and a short wait. A store like Azure Blob's: its staged blocks cannot be read before the commit.
  it.each([
    ['fewer than four client buffers of the blob still to come', { clientBufferBytes: 2 * MiB }, {}],
    ['a store that cannot read a blob before its commit (as Azure Blob)', { clientBufferBytes: MiB }, { driver: (dir: string) => new NoReadBackDriver(dir) }],
  ])('with %s: no read-back, the caller waits for the commit', async (_what, buffers, store) => {
    const s = await upstream.setUp(SIZE, { prefixBytes: MiB, ...buffers }, store);
    const { leader, lead, release } = await leadToHold(s);
    expect(await s.fetcher.stream(s.target, s.digest)).toBeUndefined();
    release();
    expect(sha((await lead.read).bytes)).toBe(s.digest);
    await expect(leader.done).resolves.toMatchObject({ size: SIZE });
    expect(s.fetcher.coalesced).toMatchObject({ tapped: 0, readBack: 0 });
  });
});
