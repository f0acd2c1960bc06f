import { createHash } from 'node:crypto';
import { DigestMismatchError } from '@pullthrough/oci';
import { POOLED_BODY_READ_AHEAD_CHUNKS } from '@pullthrough/egress';
import { FILE_WRITER_HELD_BYTES } from '@pullthrough/storage';
import { GUARD_READ_AHEAD_CHUNKS } from '@pullthrough/upstream';
import { HeldFilesystemDriver } from '../test/held-filesystem-driver.js';
import { realUpstreamFetcher, type FetcherSetup } from '../test/real-upstream-fetcher.js';
import { readStream } from '../test/registry-fixture.js';

/**
 * The client never waits for the disk: a real docker-registry behind the counting proxy, a real
 * filesystem store whose writers take no byte while the disk is held (the fault), and the real
 * BlobFetcher. The store's writer may lag 1 MiB behind; past that the read waits for a store that
 * kept pace (at least half the receive rate), else (or once the waited-for store stalls) the rest
 * is fetched with one ranged GET after the body, and committed only if the whole digest matches.
 */
const MiB = 1024 * 1024;
const SIZE = 12 * MiB;
const LAG = MiB;
const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const upstream = realUpstreamFetcher('disk-lag');

type Setup = FetcherSetup<HeldFilesystemDriver> & { disk: HeldFilesystemDriver };

/** A fresh blob upstream, a fresh store whose disk can be held, and a fetcher (its own upstream pool and breakers). */
async function setUp(writeLagBytes = LAG, policy: { writeLagStallMs?: number; writeLagMinStoreShare?: number } = {}): Promise<Setup> {
  const s = await upstream.setUp(SIZE, { writeLagBytes, writeLagTotalBytes: 4 * writeLagBytes, ...policy }, { driver: (dir) => new HeldFilesystemDriver(dir), beforeClose: (disk) => disk.release() });
  return { ...s, disk: s.driver };
}

/** Let the disk go: the leader ends with the whole blob, and the store holds it whole and verified. */
async function releaseAndExpectStored(s: Setup, leader: { done: Promise<unknown> }): Promise<void> {
  s.disk.release();
  await expect(leader.done).resolves.toMatchObject({ size: SIZE });
  expect(await s.store.statBlob(s.digest)).toEqual({ size: SIZE });
  const stored = await readStream(await s.store.openBlob(s.digest, { start: 0, end: SIZE - 1 }));
  expect(sha(stored.bytes)).toBe(s.digest);
}

/**
 * Slabs a completion may have out at once before the first goes back: what the file writer holds before its
 * caller waits (its chunks are given back once written), and the body's read-ahead while the loop waits for the
 * writer: the pooled body's chunks, the guard stream's, one in the guard's writable side and one being read
 * (22 today), rounded up by two as the hand-written 24 before it was.
 */
const COMPLETION_SLABS_IN_FLIGHT = FILE_WRITER_HELD_BYTES / (64 * 1024) + POOLED_BODY_READ_AHEAD_CHUNKS + GUARD_READ_AHEAD_CHUNKS + 1 + 1 + 2;

/**
 * The completion GET's `bytes` came through the upstream reader's slabs and went back to its pool: at most
 * `kept` more slabs are out than when the client had read the blob (the socket's current slab), and no
 * more new slabs were made than can be out at once (COMPLETION_SLABS_IN_FLIGHT): the rest were read into
 * again. (Without giving them back, every chunk takes a new slab: about 175 for 11 MiB.) How many of those are
 * out at once depends on how fast the disk writes against the socket: under load close to the bound.
 */
function expectCompletionSlabsReused(s: Setup, atRead: { made: number; held: number }, bytes: number, kept: number): void {
  const now = s.pool.blobReadSlabs()!;
  expect(now.held - atRead.held).toBeLessThanOrEqual(kept);
  expect(bytes / (64 * 1024)).toBeGreaterThan(COMPLETION_SLABS_IN_FLIGHT + kept + 32);
  expect(now.made - atRead.made).toBeLessThanOrEqual(COMPLETION_SLABS_IN_FLIGHT + kept);
}

const blobGets = () => upstream.proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET');

/** A held disk: the leader reads the whole blob while the store has written nothing; a second client does not read at first (it falls behind its 8 MiB buffer). */
async function pullWithDiskHeld(s: Setup) {
  s.disk.hold();
  const leader = (await s.fetcher.stream(s.target, s.digest))!;
  const behind = (await s.fetcher.stream(s.target, s.digest))!;
  leader.done.catch(() => undefined);
  const read = await readStream(leader.stream);
  const storedWhenRead = await s.store.statBlob(s.digest);
  return { leader, behind, read, storedWhenRead };
}

describe('a blob miss with a slow store', () => {
  it('gives the live client the whole blob before the store has written it, then completes the store with one ranged GET and commits the right digest', async () => {
    const s = await setUp();
    const { leader, behind, read, storedWhenRead } = await pullWithDiskHeld(s);
    const slabsAtRead = s.pool.blobReadSlabs()!;
    // The client's copy ran at the upstream's pace: complete and verified while the disk took nothing.
    expect(read.error).toBeUndefined();
    expect(sha(read.bytes)).toBe(s.digest);
    expect(storedWhenRead).toBeUndefined();
    // The store took nothing of what was received: far below half the receive rate, no wait.
    expect(s.fetcher.writeLagStats).toMatchObject({ overflows: 1, waits: 0 });

    await releaseAndExpectStored(s, leader);

    const gets = blobGets();
    expect(gets).toHaveLength(2);
    expect(gets[0]!.range).toBeUndefined();
    const from = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    // The writer stopped within its lag (plus the 64 KiB the held disk's writer buffers itself): the rest, and only it, came again as a 206.
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(LAG + 64 * 1024);
    expect(gets[1]).toMatchObject({ status: 206, bytes: SIZE - from });
    expect(s.fetcher.writeLagStats).toMatchObject({ queuedBytes: 0, overflows: 1, completions: { ranged: 1, full: 0, failed: 0 }, completionBytes: SIZE - from });
    // The completion's chunks went back to the upstream reader's slab pool once the writer had them in the file
    // (the client's own stream here keeps the first GET's: not an HTTP response, see LentSlices): its slabs were
    // read into again instead of new ones made for most of it.
    expectCompletionSlabsReused(s, slabsAtRead, SIZE - from, 2);

    // The client that fell behind continues from the stored blob.
    const late = await readStream(behind.stream);
    expect(late.error).toBeUndefined();
    expect(sha(late.bytes)).toBe(s.digest);
  });

  it('completes from a whole 200 when the upstream ignores Range (its first bytes skipped), still verified', async () => {
    const s = await setUp();
    upstream.proxy.ignoreRange = true;
    const { leader, behind, read } = await pullWithDiskHeld(s);
    expect(sha(read.bytes)).toBe(s.digest);
    const slabsAtRead = s.pool.blobReadSlabs()!;
    await releaseAndExpectStored(s, leader);
    // Skipped chunks, written ones and the one cut by the skip (once its written part is in the file) go back to the pool.
    expectCompletionSlabsReused(s, slabsAtRead, SIZE, 2);
    const gets = blobGets();
    expect(gets).toHaveLength(2);
    expect(gets[1]).toMatchObject({ status: 200, bytes: SIZE });
    expect(gets[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(s.fetcher.writeLagStats).toMatchObject({ queuedBytes: 0, completions: { ranged: 0, full: 1, failed: 0 }, completionBytes: SIZE });
    expect(sha((await readStream(behind.stream)).bytes)).toBe(s.digest);
  });

  it('commits nothing when the completion is corrupt: the client with the verified blob keeps it, the one that fell behind is cut', async () => {
    const s = await setUp();
    upstream.proxy.setFault((r) => (r.range !== undefined ? { kind: 'corrupt' } : null));
    const { leader, behind, read } = await pullWithDiskHeld(s);
    expect(read.error).toBeUndefined();
    expect(sha(read.bytes)).toBe(s.digest);
    s.disk.release();
    await expect(leader.done).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await s.store.statBlob(s.digest)).toBeUndefined();
    const late = await readStream(behind.stream);
    expect(late.error).toBeInstanceOf(Error);
    expect(late.bytes.length).toBeLessThan(SIZE);
    // The completion GET itself went through (a 206); its bytes failed the digest check at the commit.
    expect(blobGets().map((r) => r.status)).toEqual([200, 206]);
    expect(s.fetcher.writeLagStats).toMatchObject({ queuedBytes: 0, overflows: 1, completions: { ranged: 1, full: 0, failed: 0 } });
  });

  it('commits nothing when the completion answers 206 with another range', async () => {
    const s = await setUp();
    const body = 'x'.repeat(10);
    upstream.proxy.setFault((r) => (r.range !== undefined ? { status: 206, headers: { 'Content-Range': `bytes 0-9/${SIZE}`, 'Content-Length': '10' }, body } : null));
    const { leader, behind, read } = await pullWithDiskHeld(s);
    expect(sha(read.bytes)).toBe(s.digest);
    s.disk.release();
    await expect(leader.done).rejects.toThrow(/Content-Range "bytes 0-9/);
    expect(await s.store.statBlob(s.digest)).toBeUndefined();
    expect((await readStream(behind.stream)).error).toBeInstanceOf(Error);
    expect(s.fetcher.writeLagStats).toMatchObject({ queuedBytes: 0, completions: { ranged: 0, full: 0, failed: 1 } });
  });

  it('drops the body once no client reads live after an overflow, and completes the store from where its writer stopped', async () => {
    const s = await setUp();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    upstream.proxy.setFault((r) => (r.range === undefined && r.kind === 'blob' ? { kind: 'hold', atByte: 4 * MiB, until: released } : null));
    s.disk.hold();
    const leader = (await s.fetcher.stream(s.target, s.digest))!;
    leader.done.catch(() => undefined);
    // The client reads what the upstream sent (past the writer's lag), then goes away.
    let got = 0;
    for await (const chunk of leader.stream as AsyncIterable<Buffer>) {
      got += chunk.length;
      if (got >= 3 * MiB) break;
    }
    expect(s.fetcher.writeLagStats.overflows).toBe(1);
    release();
    await releaseAndExpectStored(s, leader);
    const gets = blobGets();
    expect(gets).toHaveLength(2);
    const from = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    expect(from).toBeLessThanOrEqual(LAG + 64 * 1024);
    expect(gets[1]).toMatchObject({ status: 206, bytes: SIZE - from });
  });
});

describe('a blob miss without a lag overflow', () => {
  it('is fetched once, as before, when the store keeps up within its lag', async () => {
    const s = await setUp(SIZE);
    const live = (await s.fetcher.stream(s.target, s.digest))!;
    expect(sha((await readStream(live.stream)).bytes)).toBe(s.digest);
    await expect(live.done).resolves.toMatchObject({ size: SIZE });
    expect(blobGets().map((r) => r.range)).toEqual([undefined]);
    expect(s.fetcher.writeLagStats).toMatchObject({ queuedBytes: 0, overflows: 0, waits: 0, completions: { ranged: 0, full: 0, failed: 0 } });
  });

  it('waits for a slow store when no client reads live (a background import): one GET, no overflow', async () => {
    const s = await setUp();
    s.disk.hold();
    const imported = s.fetcher.ensure(s.target, s.digest);
    // The read waits for the held disk: no more than the writer's own buffer (1 MiB) and a chunk wait for it.
    await new Promise((r) => setTimeout(r, 500));
    const waiting = s.fetcher.writeLagStats.queuedBytes;
    expect(waiting).toBeGreaterThan(0);
    expect(waiting).toBeLessThanOrEqual(2 * MiB);
    s.disk.release();
    await expect(imported).resolves.toMatchObject({ size: SIZE, bytesFetched: SIZE });
    expect(blobGets().map((r) => r.range)).toEqual([undefined]);
    expect(s.fetcher.writeLagStats).toMatchObject({ queuedBytes: 0, overflows: 0 });
  });
});

/** Reads a live client's stream, counting what it has got so far. */
function reading(stream: NodeJS.ReadableStream) {
  const chunks: Buffer[] = [];
  let got = 0;
  const done = (async () => {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      got += chunk.length;
    }
    return Buffer.concat(chunks);
  })();
  done.catch(() => undefined);
  return { got: () => got, done };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 20_000; !check(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

/**
 * A store that kept pace, then stops: the upstream sends FIRST bytes and pauses while the free disk
 * takes them all; then the disk is held and the rest of the body comes at once, filling the 4 MiB lag
 * (WAIT_LAG) at about 11 MiB with 7 MiB stored and no wait so far (the store's rate 0.64 of the
 * receive rate: the read waits). Sizes
 * chosen so that the lag cannot fill in another window: before the hold (4 MiB queued out of at most
 * 7 MiB received would need a disk below 0.43 of the loopback rate), nor after the wait (down to
 * 2 MiB queued, 1 MiB left to receive).
 */
const FIRST = 7 * MiB;
const WAIT_LAG = 4 * MiB;
async function keepPaceThenHoldDisk(s: Setup) {
  let resume!: () => void;
  const paused = new Promise<void>((resolve) => (resume = resolve));
  upstream.proxy.setFault((r) => (r.range === undefined && r.kind === 'blob' ? { kind: 'hold', atByte: FIRST, until: paused } : null));
  const leader = (await s.fetcher.stream(s.target, s.digest))!;
  leader.done.catch(() => undefined);
  const client = reading(leader.stream);
  // (The last few KiB of them may still be on the way in the HTTP stack.)
  await until(() => client.got() >= FIRST - 256 * 1024 && s.fetcher.writeLagStats.queuedBytes === 0, 'the store to take the first bytes');
  s.disk.hold();
  resume();
  await until(() => s.fetcher.writeLagStats.waits > 0 || s.fetcher.writeLagStats.overflows > 0, 'the lag to fill');
  return { leader, client };
}

describe('a blob miss whose store keeps pace', () => {
  it('waits for the store when the lag is full instead of overflowing: one GET, the client gets the verified blob', async () => {
    const s = await setUp(WAIT_LAG);
    const { leader, client } = await keepPaceThenHoldDisk(s);
    // The store took 7 of the 11 MiB received in the same time when the lag was full (0.64 >= 0.5): the read waits.
    expect(s.fetcher.writeLagStats).toMatchObject({ waits: 1, overflows: 0 });
    await new Promise((r) => setTimeout(r, 300));
    // The client is held with the upstream read: no more than the first bytes, the lag and a chunk or two.
    expect(client.got()).toBeLessThanOrEqual(FIRST + WAIT_LAG + 256 * 1024);
    expect(s.fetcher.writeLagStats.overflows).toBe(0);
    s.disk.release();
    expect(sha(await client.done)).toBe(s.digest);
    await releaseAndExpectStored(s, leader);
    expect(blobGets().map((r) => r.range)).toEqual([undefined]);
    expect(s.fetcher.writeLagStats).toMatchObject({ queuedBytes: 0, overflows: 0, completions: { ranged: 0, full: 0, failed: 0 }, completionBytes: 0 });
    expect(s.fetcher.writeLagStats.waits).toBe(1);
  });

  it('overflows after all once the waited-for store takes nothing for the stall limit; one ranged GET completes it', async () => {
    const s = await setUp(WAIT_LAG, { writeLagStallMs: 500 });
    const { leader, client } = await keepPaceThenHoldDisk(s);
    expect(s.fetcher.writeLagStats).toMatchObject({ waits: 1, overflows: 0 });
    // The disk stays held: after 500 ms without progress the miss overflows and the client reads on at the upstream's pace.
    expect(sha(await client.done)).toBe(s.digest);
    expect(await s.store.statBlob(s.digest)).toBeUndefined();
    expect(s.fetcher.writeLagStats).toMatchObject({ waits: 1, overflows: 1 });
    await releaseAndExpectStored(s, leader);
    const gets = blobGets();
    expect(gets).toHaveLength(2);
    expect(gets[0]!.range).toBeUndefined();
    // The writer was fed up to where the read waited: past the first bytes and the lag, from there one 206.
    const from = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    expect(from).toBeGreaterThanOrEqual(FIRST + WAIT_LAG - 256 * 1024);
    expect(from).toBeLessThan(SIZE);
    expect(gets[1]).toMatchObject({ status: 206, bytes: SIZE - from });
    expect(s.fetcher.writeLagStats).toMatchObject({ queuedBytes: 0, completions: { ranged: 1, full: 0, failed: 0 }, completionBytes: SIZE - from });
  });

  it('overflows as soon as the lag is full with a minimum store share of 1 (never wait), even for a store that kept pace', async () => {
    const s = await setUp(WAIT_LAG, { writeLagMinStoreShare: 1 });
    const { leader, client } = await keepPaceThenHoldDisk(s);
    expect(s.fetcher.writeLagStats).toMatchObject({ waits: 0, overflows: 1 });
    expect(sha(await client.done)).toBe(s.digest);
    await releaseAndExpectStored(s, leader);
    const gets = blobGets();
    expect(gets).toHaveLength(2);
    expect(gets[1]).toMatchObject({ status: 206 });
  });
});
