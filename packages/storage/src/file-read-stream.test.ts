import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { BufferPool } from '@pullthrough/egress';
import { blockSizeFor, FileReadStream, sendStream } from './file-read-stream.js';

let dir: string;
let file: string;
const data = randomBytes(300 * 1024 + 17);

beforeAll(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), 'pullthrough-read-'));
  file = join(dir, 'obj');
  await fsp.writeFile(file, data);
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

async function open(start: number, end: number, pool: BufferPool, onClose?: () => void): Promise<FileReadStream> {
  return new FileReadStream(await fsp.open(file, 'r'), { start, end, chunkSize: 64 * 1024, pool, ...(onClose ? { onClose } : {}) });
}

/** A Writable that collects what it is given, flushing each write after a turn of the event loop. */
function collector(): Writable & { chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk)); // a copy: the source may reuse its buffer after cb
      setImmediate(cb);
    },
  });
  return Object.assign(sink, { chunks });
}

describe('FileReadStream', () => {
  test('a read size that changes while it is sent: blocks follow it, each aligned to its size, every byte in order', async () => {
    const pool = new BufferPool(4 * 1024 * 1024);
    const sizes = [256 * 1024, 64 * 1024, 64 * 1024, 256 * 1024, 256 * 1024];
    let asked = 0;
    const readSize = () => sizes[Math.min(asked++, sizes.length - 1)]!;
    const big = randomBytes(700 * 1024 + 3);
    const bigFile = join(dir, 'big');
    await fsp.writeFile(bigFile, big);
    const stream = new FileReadStream(await fsp.open(bigFile, 'r'), { start: 5, end: big.length - 1, chunkSize: 256 * 1024, readSize, pool });
    const sink = collector();
    await sendStream(stream, sink);
    expect(Buffer.concat(sink.chunks).equals(big.subarray(5))).toBe(true);
    // A 256 KiB block from byte 5; two of 64 KiB; at 384 KiB the size is 256 KiB again, but 384 KiB is aligned
    // only to 128 KiB: a 128 KiB block (not [256, 512) KiB read again from its start); at 512 KiB, 256 KiB
    // blocks again; the file ends in [512, 768) KiB.
    expect(sink.chunks.map((c) => c.length)).toEqual([256 * 1024 - 5, 64 * 1024, 64 * 1024, 128 * 1024, big.length - 512 * 1024]);
    expect(asked).toBe(5);
    expect(pool.idleBytesOf(128 * 1024)).toBe(128 * 1024);
  });

  test('read as a Readable: the whole range, in fresh buffers; closes the file once', async () => {
    let closes = 0;
    const stream = await open(10, data.length - 1, new BufferPool(0), () => closes++);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(data.subarray(10))).toBe(true);
    expect(new Set(chunks.map((c) => c.buffer)).size).toBe(chunks.length);
    await new Promise((r) => setImmediate(r));
    expect(closes).toBe(1);
  });

  test('writeTo sends every byte of a range through two pooled buffers, ends the destination and returns them to the pool', async () => {
    const pool = new BufferPool(1024 * 1024);
    let closes = 0;
    const stream = await open(100, 200_000, pool, () => closes++);
    const sink = collector();
    await sendStream(stream, sink);
    expect(Buffer.concat(sink.chunks).equals(data.subarray(100, 200_001))).toBe(true);
    expect(sink.writableFinished).toBe(true);
    expect(pool.idleSize).toBe(2 * 64 * 1024);
    expect(closes).toBe(1);
    // The next response reuses them: nothing new is allocated while the pool has buffers.
    const again = await open(0, data.length - 1, pool);
    const second = collector();
    await again.writeTo(second);
    expect(Buffer.concat(second.chunks).equals(data)).toBe(true);
    expect(pool.idleSize).toBe(2 * 64 * 1024);
  });

  test('an object smaller than one read, or empty, is sent whole and adds nothing to the pool', async () => {
    const pool = new BufferPool(1024 * 1024);
    const small = collector();
    await (await open(5, 1004, pool)).writeTo(small);
    expect(Buffer.concat(small.chunks).equals(data.subarray(5, 1005))).toBe(true);
    const empty = collector();
    await (await open(0, -1, pool)).writeTo(empty);
    expect(empty.chunks).toEqual([]);
    expect(empty.writableFinished).toBe(true);
    expect(pool.idleSize).toBe(0);
  });

  test('a destination that closes early rejects writeTo, closes the file and keeps the blocks it had not flushed out of the pool', async () => {
    const pool = new BufferPool(1024 * 1024);
    let closes = 0;
    const stream = await open(0, data.length - 1, pool, () => closes++);
    const sink = new Writable({
      write(_chunk, _enc, cb) {
        setImmediate(() => sink.destroy());
        setTimeout(cb, 50);
      },
    });
    await expect(stream.writeTo(sink)).rejects.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(closes).toBe(1);
    expect(pool.idleSize).toBe(0);
    // The first write calls back later: its block stays out of the pool all the same.
    await new Promise((r) => setTimeout(r, 100));
    expect(pool.idleSize).toBe(0);
  });

  test('a file shorter than the range is an error, not a short success', async () => {
    const stream = await open(0, data.length + 1000, new BufferPool(0));
    await expect(stream.writeTo(collector())).rejects.toThrow(/ended 1001 bytes before/);
  });

  test('writeTo refuses a stream already read as a Readable; other streams go through pipeline', async () => {
    const stream = await open(0, 10, new BufferPool(0));
    stream.read();
    await new Promise((r) => stream.once('readable', r));
    await expect(stream.writeTo(collector())).rejects.toThrow(/already being read/);
    stream.destroy();
    const sink = collector();
    await sendStream(Readable.from([Buffer.from('ab'), Buffer.from('c')]), sink);
    expect(Buffer.concat(sink.chunks).toString()).toBe('abc');
  });

  test('over real HTTP: a response gets the exact bytes with buffers reused across responses', async () => {
    const pool = new BufferPool(1024 * 1024);
    const server: Server = createServer((_req, res) => {
      void open(0, data.length - 1, pool).then((s) => s.writeTo(res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    try {
      for (let i = 0; i < 3; i++) {
        const body = await new Promise<Buffer>((resolve, reject) => {
          request({ host: '127.0.0.1', port }, (res) => {
            const out = new PassThrough();
            const parts: Buffer[] = [];
            res.pipe(out).on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts)));
          })
            .on('error', reject)
            .end();
        });
        expect(body.equals(data)).toBe(true);
      }
      expect(pool.idleSize).toBe(2 * 64 * 1024);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

test('a client that hangs up the moment it has every byte still makes a successful send (the response ends before the file closes)', async () => {
  const pool = new BufferPool(1024 * 1024);
  const outcomes: Array<Promise<string>> = [];
  const server: Server = createServer((_req, res) => {
    res.setHeader('content-length', String(data.length));
    outcomes.push(open(0, data.length - 1, pool).then((s) => s.writeTo(res)).then(() => 'sent', (err: Error) => err.message));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  try {
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve, reject) => {
        request({ host: '127.0.0.1', port, agent: false }, (res) => {
          let got = 0;
          res.on('data', (c: Buffer) => {
            got += c.length;
            if (got === data.length) {
              res.socket.destroy();
              resolve();
            }
          });
        })
          .on('error', reject)
          .end();
      });
    }
    expect(await Promise.all(outcomes)).toEqual(Array(20).fill('sent'));
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('block sizes: the read size for a range of at least one read, the power of two at or above a smaller one, none under 64 KiB', () => {
  const KiB = 1024;
  const MiB = 1024 * KiB;
  expect(blockSizeFor(512 * MiB, 4 * MiB)).toBe(4 * MiB);
  expect(blockSizeFor(4 * MiB + 1, 4 * MiB)).toBe(4 * MiB);
  expect(blockSizeFor(2 * MiB + 1, 4 * MiB)).toBe(4 * MiB);
  expect(blockSizeFor(2 * MiB, 4 * MiB)).toBe(2 * MiB);
  expect(blockSizeFor(1536 * KiB, 4 * MiB)).toBe(2 * MiB);
  expect(blockSizeFor(70 * KiB, 4 * MiB)).toBe(128 * KiB);
  expect(blockSizeFor(64 * KiB, 4 * MiB)).toBe(64 * KiB);
  expect(blockSizeFor(64 * KiB - 1, 4 * MiB)).toBe(0);
  expect(blockSizeFor(1000, 4 * MiB)).toBe(0);
  // A read size under 64 KiB (a crowd of streams): blocks of it from one read up.
  expect(blockSizeFor(40 * KiB, 32 * KiB)).toBe(32 * KiB);
  expect(blockSizeFor(20 * KiB, 32 * KiB)).toBe(0);
});

test('a range smaller than one read but over 64 KiB goes in a pooled block sized to it, exact bytes', async () => {
  const pool = new BufferPool(4 * 1024 * 1024);
  const start = 100_000;
  const stream = new FileReadStream(await fsp.open(file, 'r'), { start, end: start + 100 * 1024 - 1, chunkSize: 1024 * 1024, pool });
  const sink = collector();
  await stream.writeTo(sink);
  expect(Buffer.concat(sink.chunks).equals(data.subarray(start, start + 100 * 1024))).toBe(true);
  // Aligned 128 KiB blocks: the range's part of [0, 128 KiB), then the rest from the next one.
  expect(sink.chunks.map((c) => c.length)).toEqual([128 * 1024 - start, start + 100 * 1024 - 128 * 1024]);
  expect(pool.idleSize).toBe(2 * 128 * 1024);
});

describe('BufferPool', () => {
  test('reuses released buffers by size and keeps at most maxIdleBytes idle', () => {
    const pool = new BufferPool(100);
    const a = pool.acquire(60);
    const b = pool.acquire(60);
    pool.release(a);
    pool.release(b); // over the bound: dropped
    expect(pool.idleSize).toBe(60);
    expect(pool.acquire(60)).toBe(a);
    expect(pool.acquire(30)).not.toBe(a);
    expect(pool.idleSize).toBe(0);
  });
});
