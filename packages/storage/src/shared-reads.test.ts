import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { BufferPool } from '@pullthrough/egress';
import { FileReadStream, sendStream } from './file-read-stream.js';
import { FilesystemDriver } from './filesystem-driver.js';
import { bytesBetween, SharedReads } from './shared-reads.js';

const KiB = 1024;
const total = (parts: Buffer[]) => parts.reduce((n, part) => n + part.length, 0);
/** Pool options under which seeded idle 64 KiB buffers stay idle for the test's length (plain, as the process pool's slabs). */
const KEEP_IDLE = { idleMs: 60_000, releasableFrom: 128 * KiB };
/** `count` idle 64 KiB buffers in `pool`, as a fetch's slabs are left once it ended. */
function seedIdle(pool: BufferPool, count: number): void {
  const idle = Array.from({ length: count }, () => pool.acquire(64 * KiB));
  idle.forEach((slab) => pool.release(slab));
}
let dir: string;
let file: string;
const data = randomBytes(1024 * KiB + 333);

beforeAll(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), 'pullthrough-shared-'));
  file = join(dir, 'obj');
  await fsp.writeFile(file, data);
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

/**
 * A Writable that keeps copies of what it is given and flushes each write after `delayMs`; with `batches`,
 * it takes writes in batches (`writev`: corked writes arrive together) and records each batch's length.
 */
function collector(delayMs = 0, batches = false): Writable & { chunks: Buffer[]; batches: number[] } {
  const chunks: Buffer[] = [];
  const lengths: number[] = [];
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      setTimeout(cb, delayMs);
    },
    ...(batches
      ? {
          writev(batch: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void) {
            lengths.push(batch.length);
            for (const { chunk } of batch) chunks.push(Buffer.from(chunk));
            setTimeout(cb, delayMs);
          },
        }
      : {}),
  });
  return Object.assign(sink, { chunks, batches: lengths });
}

async function stream(reads: SharedReads, pool: BufferPool, chunkSize: number, start = 0, end = data.length - 1): Promise<FileReadStream> {
  return new FileReadStream(await fsp.open(file, 'r'), {
    start,
    end,
    chunkSize,
    pool,
    shared: { reads, file: 'obj', fileSize: data.length },
  });
}

describe('SharedReads', () => {
  test('responses sending the same file in step send the same blocks, each gets its exact range, blocks go back to the pool', async () => {
    const pool = new BufferPool(4 * 1024 * KiB);
    const reads = new SharedReads(pool, 256 * KiB);
    const ranges: Array<[number, number, number]> = [
      [64 * KiB, 0, data.length - 1],
      [64 * KiB, 0, data.length - 1],
      [64 * KiB, 100, data.length - 1],
      [32 * KiB, 0, data.length - 1], // a smaller read size uses the larger blocks
      [64 * KiB, 5000, 700 * KiB], // a range: its first and last pieces are parts of blocks
    ];
    const sinks = ranges.map(() => collector(2));
    const streams = await Promise.all(ranges.map(([size, start, end]) => stream(reads, pool, size, start, end)));
    await Promise.all(streams.map((s, i) => sendStream(s, sinks[i]!)));
    ranges.forEach(([, start, end], i) => {
      expect(Buffer.concat(sinks[i]!.chunks).equals(data.subarray(start, end + 1))).toBe(true);
    });
    // 17 blocks of 64 KiB per whole-file response; four more responses in step take most of theirs from the first.
    expect(reads.shared).toBeGreaterThan(40);
    expect(reads.held).toBe(0);
    expect(pool.idleSize).toBeGreaterThan(0);
    expect(pool.idleSize % (64 * KiB)).toBe(0);
  });

  test('a response alone reads its own blocks; one that lags is never sent bytes of another offset', async () => {
    const pool = new BufferPool(1024 * KiB);
    const reads = new SharedReads(pool, 64 * KiB);
    const fast = collector(0);
    await sendStream(await stream(reads, pool, 64 * KiB), fast);
    expect(reads.shared).toBe(0);
    const slow = collector(5);
    const quick = collector(0);
    await Promise.all([
      sendStream(await stream(reads, pool, 64 * KiB), slow),
      sendStream(await stream(reads, pool, 64 * KiB, 64 * KiB), quick),
    ]);
    expect(Buffer.concat(slow.chunks).equals(data)).toBe(true);
    expect(Buffer.concat(quick.chunks).equals(data.subarray(64 * KiB))).toBe(true);
  });

  test('a response whose destination breaks fails alone: the other still gets every byte, nothing stays held', async () => {
    const pool = new BufferPool(4 * 1024 * KiB);
    const reads = new SharedReads(pool, 64 * KiB);
    const broken = new Writable({
      write(_chunk, _enc, cb) {
        setImmediate(() => broken.destroy());
        setTimeout(cb, 20);
      },
    });
    const whole = collector(1);
    const [failed, sent] = await Promise.allSettled([
      sendStream(await stream(reads, pool, 64 * KiB), broken),
      sendStream(await stream(reads, pool, 64 * KiB), whole),
    ]);
    expect(failed.status).toBe('rejected');
    expect(sent.status).toBe('fulfilled');
    expect(Buffer.concat(whole.chunks).equals(data)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(reads.held).toBe(0);
  });

  test('a block goes back to the pool when its last holder lets go, unless some write of it did not complete', async () => {
    const pool = new BufferPool(1024 * KiB);
    const reads = new SharedReads(pool, 64 * KiB);
    const fill = (parts: Buffer[]) => Promise.resolve(void parts.forEach((part) => part.fill(1)));
    const a = reads.take('f', 200 * KiB, 64 * KiB, 0, 64 * KiB, fill);
    const b = reads.take('f', 200 * KiB, 64 * KiB, 10, 20, fill);
    expect(reads.shared).toBe(1);
    expect(total(await b.bytes)).toBe(10);
    a.release(true);
    await (await a.bytes, new Promise((r) => setImmediate(r)));
    expect(pool.idleSize).toBe(0); // b still holds it
    b.release(true);
    b.release(true); // twice is harmless
    await new Promise((r) => setImmediate(r));
    expect(pool.idleSize).toBe(64 * KiB);
    const c = reads.take('f', 200 * KiB, 64 * KiB, 64 * KiB, 128 * KiB, fill);
    const d = reads.take('f', 200 * KiB, 64 * KiB, 64 * KiB, 128 * KiB, fill);
    expect(pool.idleSize).toBe(0); // c reuses the pooled buffer, d shares c's block
    await d.bytes;
    c.release(false);
    d.release(true);
    await new Promise((r) => setImmediate(r));
    expect(pool.idleSize).toBe(0);
    expect(reads.held).toBe(0);
  });

  test("a block is read into the pool's idle 64 KiB buffers when they can hold all of it, sent in order and corked, and they go back", async () => {
    const pool = new BufferPool(8 * 1024 * KiB, KEEP_IDLE);
    seedIdle(pool, 20);
    const reads = new SharedReads(pool, 1024 * KiB);
    const whole = collector(1, true);
    const range = collector(0);
    // Two responses in step (one of them a range starting and ending inside blocks), 256 KiB blocks.
    await Promise.all([sendStream(await stream(reads, pool, 256 * KiB), whole), sendStream(await stream(reads, pool, 256 * KiB, 5000, 700 * KiB), range)]);
    expect(Buffer.concat(whole.chunks).equals(data)).toBe(true);
    expect(Buffer.concat(range.chunks).equals(data.subarray(5000, 700 * KiB + 1))).toBe(true);
    expect(reads.inParts).toBeGreaterThanOrEqual(4);
    expect(reads.shared).toBeGreaterThan(0);
    expect(pool.made).toBe(20); // no memory beyond the idle slabs
    expect(Math.max(...whole.chunks.map((c) => c.length))).toBeLessThanOrEqual(64 * KiB);
    // A block's four parts reached the destination as one batch (corked), not write by write.
    expect(Math.max(...whole.batches)).toBe(4);
    expect(pool.idleBytesOf(64 * KiB)).toBe(20 * 64 * KiB);
    expect(reads.held).toBe(0);
  });

  test('with too few idle 64 KiB buffers for a block, it is read into one buffer of its own size', async () => {
    const pool = new BufferPool(8 * 1024 * KiB, KEEP_IDLE);
    seedIdle(pool, 2);
    const reads = new SharedReads(pool, 1024 * KiB);
    const sink = collector(0);
    await sendStream(await stream(reads, pool, 256 * KiB), sink);
    expect(Buffer.concat(sink.chunks).equals(data)).toBe(true);
    expect(reads.inParts).toBe(1); // only the file's last block: its 333 bytes take one part
    expect(pool.idleBytesOf(256 * KiB)).toBeGreaterThan(0);
    expect(pool.idleBytesOf(64 * KiB)).toBe(2 * 64 * KiB);
  });

  test('a block of more than 64 parts (8 MiB) is read into one buffer even with enough idle 64 KiB buffers', async () => {
    const pool = new BufferPool(32 * 1024 * KiB, KEEP_IDLE);
    seedIdle(pool, 200);
    const reads = new SharedReads(pool, 8192 * KiB);
    const fill = (parts: Buffer[]) => Promise.resolve(void parts.forEach((part) => part.fill(3)));
    const big = reads.take('f', 16384 * KiB, 8192 * KiB, 0, 8192 * KiB, fill);
    expect((await big.bytes).length).toBe(1);
    const four = reads.take('f', 16384 * KiB, 4096 * KiB, 8192 * KiB, 12288 * KiB, fill);
    expect((await four.bytes).length).toBe(64);
    expect(reads.inParts).toBe(1);
    big.release(true);
    four.release(true);
    await new Promise((r) => setImmediate(r));
    expect(pool.idleBytesOf(64 * KiB)).toBe(200 * 64 * KiB);
    expect(reads.held).toBe(0);
  });

  test('bytesBetween cuts a run of parts at any byte', () => {
    const parts = [Buffer.from('abc'), Buffer.from('defg'), Buffer.from('h')];
    const text = (views: Buffer[]) => Buffer.concat(views).toString();
    expect(text(bytesBetween(parts, 0, 8))).toBe('abcdefgh');
    expect(bytesBetween(parts, 0, 8)[1]).toBe(parts[1]); // whole parts are not copied or cut
    expect(text(bytesBetween(parts, 2, 5))).toBe('cde');
    expect(text(bytesBetween(parts, 3, 7))).toBe('defg');
    expect(text(bytesBetween(parts, 7, Number.POSITIVE_INFINITY))).toBe('h');
    expect(bytesBetween(parts, 8, Number.POSITIVE_INFINITY)).toEqual([]);
    expect(text(bytesBetween(parts, 0, 4))).toBe('abcd');
    expect(bytesBetween(parts, 0, 4)).toHaveLength(2);
    expect(text(bytesBetween(parts, 0, 100))).toBe('abcdefgh');
  });

  test('a failed read is not shared: the next response reads again', async () => {
    const pool = new BufferPool(1024 * KiB);
    const reads = new SharedReads(pool, 64 * KiB);
    let calls = 0;
    const failing = reads.take('f', 100, 64 * KiB, 0, 100, () => {
      calls++;
      return Promise.reject(new Error('EIO'));
    });
    await expect(failing.bytes).rejects.toThrow('EIO');
    failing.release(false);
    const ok = reads.take('f', 100, 64 * KiB, 0, 100, (parts) => {
      calls++;
      parts.forEach((part) => part.fill(7));
      return Promise.resolve();
    });
    expect(total(await ok.bytes)).toBe(100);
    ok.release(true);
    expect(calls).toBe(2);
    expect(reads.held).toBe(0);
  });

  test('over real HTTP through the filesystem driver: ten clients of one stored object share its reads', async () => {
    const driver = new FilesystemDriver(join(dir, 'store'));
    const writer = await driver.createWriter();
    await writer.write(data);
    await writer.commit('blobs/one');
    // The responses start together once all ten requests are in: on a loaded machine the clients' requests
    // can otherwise arrive one by one, each served whole before the next (nothing in flight to share; a
    // fresh-clone CI run once saw that).
    const waiting: ServerResponse[] = [];
    const server: Server = createServer((_req, res) => {
      waiting.push(res);
      if (waiting.length < 10) return;
      for (const out of waiting.splice(0)) void driver.createReadStream('blobs/one').then((s) => sendStream(s!, out));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    try {
      const bodies = await Promise.all(
        Array.from(
          { length: 10 },
          () =>
            new Promise<Buffer>((resolve, reject) => {
              request({ host: '127.0.0.1', port }, (res) => {
                const parts: Buffer[] = [];
                res.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts)));
              })
                .on('error', reject)
                .end();
            }),
        ),
      );
      for (const body of bodies) expect(body.equals(data)).toBe(true);
      expect(driver.sharedReads.shared).toBeGreaterThan(0);
      expect(driver.sharedReads.held).toBe(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test("over real HTTP: blocks read into idle 64 KiB buffers go out corked, every client's body exact", async () => {
    const pool = new BufferPool(32 * 1024 * KiB, KEEP_IDLE);
    seedIdle(pool, 256);
    // A herd's read sizes (at most 1 MiB).
    const driver = new FilesystemDriver(join(dir, 'store-parts'), { buffers: pool, reads: { budget: 2 * 1024 * KiB, min: 64 * KiB, max: 1024 * KiB } });
    const writer = await driver.createWriter();
    await writer.write(data);
    await writer.commit('blobs/parts');
    const server: Server = createServer((req, res) => {
      const [start, end] = (req.headers.range ?? '').replace('bytes=', '').split('-').map(Number);
      void driver.createReadStream('blobs/parts', req.headers.range ? { start: start!, end: end! } : undefined).then((s) => sendStream(s!, res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const get = (range?: [number, number]) =>
      new Promise<Buffer>((resolve, reject) => {
        request({ host: '127.0.0.1', port, headers: range ? { range: `bytes=${range[0]}-${range[1]}` } : {} }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts)));
        })
          .on('error', reject)
          .end();
      });
    try {
      const ranges: Array<[number, number] | undefined> = [undefined, undefined, [1, 300 * KiB], [99 * KiB, data.length - 1], undefined];
      const bodies = await Promise.all(ranges.map((range) => get(range)));
      bodies.forEach((body, i) => {
        const range = ranges[i];
        expect(body.equals(range ? data.subarray(range[0], range[1] + 1) : data)).toBe(true);
      });
      expect(driver.sharedReads.inParts).toBeGreaterThan(0);
      expect(driver.sharedReads.held).toBe(0);
      expect(pool.made).toBe(256); // no memory beyond the idle slabs
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
