import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { createServer, get, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilesystemDriver } from '@pullthrough/storage';
import { ClientBuffers } from './client-buffers.js';
import { LiveTap, type StoredBlobOpener } from './live-tap.js';

// Clients that fell behind a fetch resume from the stored blob in the store's pooled blocks, shared
// with each other when they resume in step: real files (FilesystemDriver), real HTTP responses.

const KiB = 1024;
const CHUNK = 16 * KiB;
const blob = randomBytes(1024 * KiB + 99);
let dir: string;
let driver: FilesystemDriver;
let server: Server;
let url: string;
/** The tap each request is sent from, in arrival order. */
const taps: LiveTap[] = [];
let buffers: ClientBuffers;

beforeAll(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), 'pullthrough-tap-stored-'));
  // 64 KiB reads: a resumed client's rest is many blocks.
  driver = new FilesystemDriver(dir, { reads: { budget: 1024 * KiB, min: 64 * KiB, max: 64 * KiB } });
  const writer = await driver.createWriter();
  await writer.write(blob);
  await writer.commit('blobs/b');
  server = createServer((_req, res) => {
    const tap = new LiveTap(0, blob.length - 1, true, buffers, 5000);
    taps.push(tap);
    tap.sendTo(res).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await fsp.rm(dir, { recursive: true, force: true });
});

const opener: StoredBlobOpener = async (start, end) => (await driver.createReadStream('blobs/b', { start, end }))!;

function fetchBody(): { body: Promise<Buffer>; abort: () => void } {
  let abort!: () => void;
  const body = new Promise<Buffer>((resolve, reject) => {
    const req = get(url, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', reject);
    });
    req.on('error', reject);
    abort = () => req.destroy();
  });
  return { body, abort };
}

async function tapsFor(n: number): Promise<void> {
  while (taps.length < n) await new Promise((r) => setImmediate(r));
}

/** Offer the blob up to `to` to every tap: over its 64 KiB buffer, each falls behind. */
function offerAll(to = blob.length): void {
  for (let offset = 0; offset < to; offset += CHUNK) for (const tap of taps) tap.offer(blob.subarray(offset, Math.min(to, offset + CHUNK)), offset);
}

describe('LiveTap resuming from a stored file', () => {
  beforeEach(() => {
    taps.length = 0;
    buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 4096 * KiB });
  });

  it('clients that fell behind together resume together: exact bytes, blocks shared, none left held', async () => {
    const before = driver.sharedReads.shared;
    const clients = Array.from({ length: 4 }, () => fetchBody());
    await tapsFor(4);
    offerAll();
    expect(taps.every((t) => t.behind)).toBe(true);
    for (const tap of taps) tap.complete();
    for (const tap of taps) tap.committed(opener, blob.length);
    const bodies = await Promise.all(clients.map((c) => c.body));
    for (const body of bodies) expect(body.equals(blob)).toBe(true);
    // Four clients in step over 16 blocks: most of the three followers' blocks come from the first's reads.
    expect(driver.sharedReads.shared - before).toBeGreaterThan(10);
    expect(driver.sharedReads.held).toBe(0);
    expect(buffers.stats.bufferedBytes).toBe(0);
  });

  it('a client that goes away while resuming leaves the others whole and no block held', async () => {
    const clients = Array.from({ length: 3 }, () => fetchBody());
    await tapsFor(3);
    offerAll();
    for (const tap of taps) tap.complete();
    for (const tap of taps) tap.committed(opener, blob.length);
    clients[0]!.abort();
    await expect(clients[0]!.body).rejects.toThrow();
    const bodies = await Promise.all(clients.slice(1).map((c) => c.body));
    for (const body of bodies) expect(body.equals(blob)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(driver.sharedReads.held).toBe(0);
  });
});
