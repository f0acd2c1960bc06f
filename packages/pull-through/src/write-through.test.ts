import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '@pullthrough/oci';
import { FilesystemDriver, RegistryStore, type BlobWriter } from '@pullthrough/storage';
import { HeldFilesystemDriver } from '../test/held-filesystem-driver.js';
import { WriteLag } from './write-lag.js';
import { WriteThrough } from './write-through.js';

/**
 * The lag wait's judgement, on real filesystem BlobWriters: the store's pace is its rate against the
 * upstream's (the time the read waited for the store is not the upstream's); and the per-process
 * total: one miss whose disk is held holds it, one whose store keeps pace finds it used up and waits
 * for room, bounded by the stall limit.
 */
const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 64 * KiB;
const STALL_MS = 300;

let dir: string;
let heldDisk: HeldFilesystemDriver;
let held: RegistryStore;
let free: RegistryStore;
const writers: BlobWriter[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'write-through-total-'));
  heldDisk = new HeldFilesystemDriver(join(dir, 'held'));
  held = new RegistryStore(heldDisk);
  free = new RegistryStore(new FilesystemDriver(join(dir, 'free')));
});
afterEach(async () => {
  heldDisk.release();
  for (const writer of writers.splice(0)) await writer.abort().catch(() => undefined);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writerOn(store: RegistryStore): Promise<BlobWriter> {
  const digest = `sha256:${createHash('sha256').update(randomBytes(32)).digest('hex')}` as Digest;
  const writer = await store.createBlobWriter({ digest, size: 16 * MiB });
  writer.on('error', () => undefined);
  writers.push(writer);
  return writer;
}

async function until(check: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 20_000; !check(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > deadline) throw new Error('timed out');
  }
}

/**
 * Miss A (held disk) queues 1 MiB, all its lag; miss B's free store takes 1 MiB as it comes; then B's
 * next chunks come at once and find the total (1.25 MiB) used up: B's store took 1 of the ~1.25 MiB
 * received, so B waits. Returns B, its take() having asked to wait.
 */
async function totalUsedUpByAHeldMiss(lag: WriteLag): Promise<WriteThrough> {
  heldDisk.hold();
  const a = new WriteThrough(await writerOn(held), lag, () => true);
  for (let i = 0; i < MiB / CHUNK; i++) expect(a.take(randomBytes(CHUNK))).toBe(false);
  expect(lag.stats.queuedBytes).toBe(MiB);
  const b = new WriteThrough(await writerOn(free), lag, () => true);
  for (let i = 0; i < MiB / CHUNK; i++) {
    expect(b.take(randomBytes(CHUNK))).toBe(false);
    await until(() => lag.stats.queuedBytes === MiB);
  }
  let chunks = 0;
  while (!b.take(randomBytes(CHUNK))) chunks++;
  // Four chunks fit in the total's last 256 KiB; the fifth finds it used up.
  expect(chunks).toBe(4);
  expect(lag.stats).toMatchObject({ waits: 1, overflows: 0 });
  return b;
}

describe('a live miss whose store keeps pace finds the write-lag total used up', () => {
  it('waits until the other misses\' stores make room, then reads on without an overflow', async () => {
    const lag = new WriteLag({ perMissBytes: MiB, totalBytes: MiB + 256 * KiB, stallMs: STALL_MS });
    const b = await totalUsedUpByAHeldMiss(lag);
    const waited = b.room();
    let done = false;
    void waited.then(() => (done = true));
    // B's own store drains its queue, but the total stays used up by A while A's disk is held.
    await until(() => lag.stats.queuedBytes <= MiB);
    await new Promise((r) => setTimeout(r, STALL_MS / 3));
    expect(done).toBe(false);
    heldDisk.release();
    await waited;
    expect(b.overflowAt).toBeUndefined();
    expect(lag.stats).toMatchObject({ waits: 1, overflows: 0 });
  });

  it('overflows when no store makes room for the stall limit, from where its read waited', async () => {
    const lag = new WriteLag({ perMissBytes: MiB, totalBytes: MiB + 256 * KiB, stallMs: STALL_MS });
    const b = await totalUsedUpByAHeldMiss(lag);
    const started = Date.now();
    await b.room();
    expect(Date.now() - started).toBeGreaterThanOrEqual(STALL_MS - 20);
    // B was fed 1 MiB and five more chunks: its writer ends there, the rest would come with a ranged GET.
    expect(b.overflowAt).toBe(MiB + 5 * CHUNK);
    expect(lag.stats).toMatchObject({ waits: 1, overflows: 1 });
    expect(b.take(randomBytes(CHUNK))).toBe(false);
    expect(lag.stats.overflows).toBe(1);
  });
});

describe('the store\'s pace', () => {
  it('is its rate against the upstream\'s: bytes the read got only by waiting for the store do not make it keep pace', async () => {
    const lag = new WriteLag({ perMissBytes: MiB, totalBytes: 4 * MiB, stallMs: 5000 });
    let live = false;
    const through = new WriteThrough(await writerOn(held), lag, () => live);
    const chunk = randomBytes(CHUNK);
    // No live client: the read waits for the store, held for 300 ms at first, then at disk speed.
    heldDisk.hold();
    setTimeout(() => heldDisk.release(), 300);
    let received = 0;
    for (; received < 6 * MiB; received += CHUNK) if (through.take(chunk)) await through.room();
    // A client reads live now, and the disk stops: the upstream's next bytes come at once.
    heldDisk.hold();
    live = true;
    // By bytes the store has kept pace (well over half of what was received)...
    expect((received - lag.stats.queuedBytes) / received).toBeGreaterThan(0.5);
    while (through.overflowAt === undefined) {
      expect(through.take(chunk)).toBe(false);
      received += CHUNK;
    }
    // ...but by rate it took 6 MiB in 300 ms and more while the upstream sent them in a few ms of its own time: an overflow, no wait.
    expect(lag.stats).toMatchObject({ waits: 0, overflows: 1 });
    expect(through.overflowAt).toBeGreaterThanOrEqual(6 * MiB);
  });
});
