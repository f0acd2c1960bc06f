import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { ClientBuffers } from './client-buffers.js';
import { LiveTap, type StoredBlobOpener } from './live-tap.js';
import { readStream } from '../test/registry-fixture.js';

const KiB = 1024;
const CHUNK = 16 * KiB;
const blob = randomBytes(1024 * KiB);

/**
 * A tap on the whole blob (or a range), sending to a sink nobody reads until the test does (as a route
 * sends to its response: an error that cut the tap destroys the sink, as the route destroys the response).
 */
function tapOn(buffers: ClientBuffers, range?: { start: number; end: number }, stallTimeoutMs = 0): LiveTap & { sink: PassThrough } {
  const sink = new PassThrough({ highWaterMark: 16 * KiB });
  sink.on('error', () => undefined);
  const end = range?.end ?? blob.length - 1;
  const tap = new LiveTap(range?.start ?? 0, end, end === blob.length - 1, buffers, stallTimeoutMs);
  tap.sendTo(sink).catch((err: Error) => sink.destroy(err));
  return Object.assign(tap, { sink });
}

/** Offer the blob's chunks from `from` up to `to` (exclusive), as the upstream loop does. */
function offer(taps: LiveTap[], from = 0, to = blob.length): void {
  for (let offset = from; offset < to; offset += CHUNK) for (const tap of taps) tap.offer(blob.subarray(offset, Math.min(to, offset + CHUNK)), offset);
}

/** The stored blob, recording where each read started and ended. */
function storedOpener(opened: Array<[number, number]>): StoredBlobOpener {
  return (start, end) => {
    opened.push([start, end]);
    return Promise.resolve(Readable.from([blob.subarray(start, end + 1)]));
  };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('LiveTap', () => {
  it('falls behind a full buffer without holding the offers, then continues from the stored blob at exactly the offset it reached', async () => {
    const buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 1024 * KiB });
    const tap = tapOn(buffers);
    offer([tap]);
    expect(tap.behind).toBe(true);
    expect(buffers.stats.fellBehind).toBe(1);
    // What waits for the client never exceeds its buffer.
    expect(buffers.stats.bufferedBytes).toBeLessThanOrEqual(64 * KiB);
    tap.complete();
    const opened: Array<[number, number]> = [];
    tap.committed(storedOpener(opened), blob.length);
    const read = await readStream(tap.sink);
    expect(read.error).toBeUndefined();
    expect(read.bytes.equals(blob)).toBe(true);
    // One read of the stored blob, from the first byte the client had not been given, to the end.
    expect(opened).toHaveLength(1);
    expect(opened[0]![1]).toBe(blob.length - 1);
    expect(opened[0]![0]).toBeGreaterThan(0);
    expect(opened[0]![0]).toBeLessThan(blob.length);
    expect(buffers.stats.bufferedBytes).toBe(0);
  });

  it('a range that falls behind continues from the store up to its own end only', async () => {
    const buffers = new ClientBuffers({ perClientBytes: 32 * KiB, totalBytes: 1024 * KiB });
    const range = { start: 100 * KiB + 7, end: 600 * KiB + 3 };
    const tap = tapOn(buffers, range);
    offer([tap]);
    expect(tap.behind).toBe(true);
    const opened: Array<[number, number]> = [];
    tap.committed(storedOpener(opened), blob.length);
    const read = await readStream(tap.sink);
    expect(read.bytes.equals(blob.subarray(range.start, range.end + 1))).toBe(true);
    expect(opened[0]![1]).toBe(range.end);
  });

  it('a tap that fell behind is cut when the fetch fails: never a complete-looking body', async () => {
    const buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 1024 * KiB });
    const tap = tapOn(buffers);
    offer([tap], 0, blob.length / 2);
    expect(tap.behind).toBe(true);
    tap.fail(new Error('upstream reset'));
    const read = await readStream(tap.sink);
    expect(read.error?.message).toBe('upstream reset');
    expect(read.bytes.length).toBeLessThan(blob.length);
    expect(buffers.stats.bufferedBytes).toBe(0);
  });

  it('a client that keeps up gets every byte live, but the last slice only once the digest is verified', async () => {
    const buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 1024 * KiB });
    const tap = tapOn(buffers);
    const got: Buffer[] = [];
    tap.sink.on('data', (c: Buffer) => got.push(c));
    for (let offset = 0; offset < blob.length; offset += CHUNK) {
      tap.offer(blob.subarray(offset, offset + CHUNK), offset);
      await settle();
    }
    expect(tap.behind).toBe(false);
    // Everything but the held last chunk.
    expect(Buffer.concat(got).equals(blob.subarray(0, blob.length - CHUNK))).toBe(true);
    tap.complete();
    await new Promise((r) => tap.sink.once('end', r));
    expect(Buffer.concat(got).equals(blob)).toBe(true);
    expect(buffers.stats).toEqual({ bufferedBytes: 0, fellBehind: 0, stalled: 0, waits: 0 });
  });

  it('the total across clients is bounded too: when it is used up, the next client falls behind and the first keeps its bytes', async () => {
    // Neither client reads: each would hold 3 chunks (one more sits in its stream), 96 KiB in all.
    const buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 80 * KiB });
    const first = tapOn(buffers);
    const second = tapOn(buffers);
    offer([first, second], 0, 4 * CHUNK);
    expect(buffers.stats.bufferedBytes).toBeLessThanOrEqual(80 * KiB);
    expect([first.behind, second.behind]).toEqual([false, true]);
  });

  it('a client that takes nothing for the stall timeout is cut off and its buffer freed; another tap is untouched', async () => {
    const buffers = new ClientBuffers({ perClientBytes: 256 * KiB, totalBytes: 1024 * KiB });
    const stalled = tapOn(buffers, undefined, 50);
    const reading = tapOn(buffers, { start: 0, end: 99 * KiB }, 50);
    const fine = readStream(reading.sink);
    offer([stalled, reading], 0, 128 * KiB);
    const cut = new Promise<Error>((resolve) => stalled.sink.once('error', resolve));
    expect((await cut).message).toMatch(/client stalled/);
    expect(buffers.stats.stalled).toBe(1);
    expect((await fine).bytes.equals(blob.subarray(0, 99 * KiB + 1))).toBe(true);
    expect(buffers.stats.bufferedBytes).toBe(0);
  });

  it('hands live slices to the client without a drain wait each, and counts them in its buffer until their writes complete', async () => {
    const buffers = new ClientBuffers({ perClientBytes: 256 * KiB, totalBytes: 1024 * KiB });
    // Nobody reads the sink yet: none of its writes completes, and it takes more than its 16 KiB high-water mark.
    const tap = tapOn(buffers);
    offer([tap], 0, 4 * CHUNK);
    await settle();
    // The verified tap holds its latest slice back; the three before it are with the client's destination.
    expect(tap.sink.writableLength).toBe(3 * CHUNK);
    expect(buffers.stats.bufferedBytes).toBe(4 * CHUNK);
    expect(tap.handed).toBe(0);
    // A client that does not take them keeps its buffer full: at its limit it falls behind, holding no more.
    offer([tap], 4 * CHUNK, 32 * CHUNK);
    expect(tap.behind).toBe(true);
    expect(buffers.stats.bufferedBytes).toBeLessThanOrEqual(256 * KiB);
    tap.complete();
    tap.committed(storedOpener([]), blob.length);
    const read = await readStream(tap.sink);
    expect(read.bytes.equals(blob)).toBe(true);
    expect(buffers.stats.bufferedBytes).toBe(0);
  });

  it("writes a client's slices of the chunks that came in one turn of the event loop together (one writev), and at once when they reach half its buffer", async () => {
    const buffers = new ClientBuffers({ perClientBytes: 256 * KiB, totalBytes: 1024 * KiB });
    const writes: number[][] = [];
    const sink = new Writable({
      highWaterMark: 1024 * KiB,
      write(chunk: Buffer, _encoding, done) {
        writes.push([chunk.length]);
        done();
      },
      writev(chunks, done) {
        writes.push(chunks.map((c) => (c.chunk as Buffer).length));
        done();
      },
    });
    const tap = new LiveTap(0, blob.length - 1, false, buffers, 0);
    const sent = tap.sendTo(sink);
    offer([tap], 0, 4 * CHUNK);
    // Nothing yet: the turn may bring more chunks.
    expect(writes).toEqual([]);
    await settle();
    expect(writes).toEqual([[CHUNK, CHUNK, CHUNK, CHUNK]]);
    // Half the buffer (128 KiB) queued in one turn: written then, without waiting for the turn's end.
    writes.length = 0;
    offer([tap], 4 * CHUNK, 12 * CHUNK);
    expect(writes).toEqual([Array(8).fill(CHUNK)]);
    // The rest a turn at a time, as it comes: every byte, none fell behind.
    for (let at = 12 * CHUNK; at < blob.length; at += 4 * CHUNK) {
      offer([tap], at, Math.min(blob.length, at + 4 * CHUNK));
      await settle();
    }
    tap.complete();
    await sent;
    expect(buffers.stats.fellBehind).toBe(0);
    // The first turn's 4 chunks were counted before `writes` was emptied.
    expect(writes.flat().reduce((a, b) => a + b, 0)).toBe(blob.length - 4 * CHUNK);
    expect(buffers.stats.bufferedBytes).toBe(0);
  });

  it('a client that goes away with live bytes still in flight settles its tap and frees its buffer', async () => {
    const buffers = new ClientBuffers({ perClientBytes: 256 * KiB, totalBytes: 1024 * KiB });
    const sink = new PassThrough({ highWaterMark: 16 * KiB });
    sink.on('error', () => undefined);
    const tap = new LiveTap(0, blob.length - 1, true, buffers, 0);
    const sent = tap.sendTo(sink);
    offer([tap], 0, 8 * CHUNK);
    expect(buffers.stats.bufferedBytes).toBe(8 * CHUNK);
    // Its writes never complete; no stall timeout is set to cut it either.
    sink.destroy();
    await expect(sent).rejects.toThrow(/went away/);
    expect(buffers.stats.bufferedBytes).toBe(0);
    // Later chunks are not taken.
    offer([tap], 8 * CHUNK, 9 * CHUNK);
    expect(buffers.stats.bufferedBytes).toBe(0);
  });

  it('a range that has all its bytes ends at once and keeps them when the fetch fails later', async () => {
    const buffers = new ClientBuffers({ perClientBytes: 256 * KiB, totalBytes: 1024 * KiB });
    const tap = tapOn(buffers, { start: 10, end: 20 * KiB });
    offer([tap], 0, 64 * KiB);
    tap.fail(new Error('digest mismatch'));
    const read = await readStream(tap.sink);
    expect(read.error).toBeUndefined();
    expect(read.bytes.equals(blob.subarray(10, 20 * KiB + 1))).toBe(true);
  });
});

describe('LiveTap client waits', () => {
  const always = () => true;

  /** Offer chunks until the tap asks the read to wait (or `to` is reached); returns where it stopped. */
  function offerUntilWait(tap: LiveTap, mayWait?: () => boolean, to = blob.length): number {
    for (let offset = 0; offset < to; offset += CHUNK) if (tap.offer(blob.subarray(offset, offset + CHUNK), offset, mayWait)) return offset + CHUNK;
    return to;
  }

  it('a full tap the read may wait for takes one chunk over its buffer; room() resolves once its client took it down to half, and it never falls behind', async () => {
    const buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 1024 * KiB });
    const tap = tapOn(buffers);
    const at = offerUntilWait(tap, always);
    expect(at).toBeLessThan(blob.length);
    expect(buffers.stats).toMatchObject({ waits: 1, fellBehind: 0 });
    expect(buffers.stats.bufferedBytes).toBeGreaterThan(64 * KiB);
    expect(buffers.stats.bufferedBytes).toBeLessThanOrEqual(64 * KiB + CHUNK);
    let resolved = false;
    const room = tap.room().then(() => (resolved = true));
    await settle();
    expect(resolved).toBe(false);
    // The client starts reading: the wait ends with the buffer at half or less.
    const read = readStream(tap.sink);
    await room;
    expect(buffers.stats.bufferedBytes).toBeLessThanOrEqual(32 * KiB);
    // The rest, as the read loop would: waiting whenever the tap asks.
    for (let offset = at; offset < blob.length; offset += CHUNK) {
      if (tap.offer(blob.subarray(offset, offset + CHUNK), offset, always)) await tap.room();
    }
    tap.complete();
    expect((await read).bytes.equals(blob)).toBe(true);
    expect(tap.behind).toBe(false);
    expect(buffers.stats.fellBehind).toBe(0);
  });

  it('the total is a hard bound: with it used up, a full tap the read may wait for falls behind', () => {
    const buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 96 * KiB });
    // Another client's bytes: 32 KiB of the total.
    expect(buffers.reserve(32 * KiB, 0)).toBe(true);
    const tap = tapOn(buffers);
    expect(offerUntilWait(tap, always)).toBe(blob.length);
    expect(tap.behind).toBe(true);
    expect(buffers.stats).toMatchObject({ waits: 0, fellBehind: 1 });
    expect(buffers.stats.bufferedBytes).toBeLessThanOrEqual(96 * KiB);
  });

  it('a tap waited for whose client takes nothing falls behind after the wait stall limit, and the wait ends', async () => {
    const buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 1024 * KiB, waitStallMs: 100 });
    const tap = tapOn(buffers);
    const at = offerUntilWait(tap, always);
    await tap.room();
    expect(tap.behind).toBe(true);
    expect(buffers.stats).toMatchObject({ waits: 1, fellBehind: 1 });
    // It gets the rest from the stored blob, from the byte it reached.
    offer([tap], at);
    const opened: Array<[number, number]> = [];
    tap.committed(storedOpener(opened), blob.length);
    expect((await readStream(tap.sink)).bytes.equals(blob)).toBe(true);
    expect(buffers.stats.bufferedBytes).toBe(0);
  });

  it('a client that trickles a little now and then holds a wait for at most twice the stall limit, then falls behind', async () => {
    // 256 KiB buffer, 200 ms stall limit: a client taking 4 KiB every 25 ms hands on a 16 KiB slice
    // about every 100 ms (never stalls) and would need about 900 ms to get down to half.
    const buffers = new ClientBuffers({ perClientBytes: 256 * KiB, totalBytes: 1024 * KiB, waitStallMs: 200 });
    const tap = tapOn(buffers);
    offerUntilWait(tap, always);
    const trickle = setInterval(() => tap.sink.read(4 * KiB), 25);
    const started = Date.now();
    try {
      await tap.room();
    } finally {
      clearInterval(trickle);
    }
    const waited = Date.now() - started;
    expect(tap.behind).toBe(true);
    expect(buffers.stats).toMatchObject({ waits: 1, fellBehind: 1 });
    expect(waited).toBeGreaterThanOrEqual(390);
    expect(waited).toBeLessThan(5_000);
  });

  it('a range that starts further on (or ended before) does not count as a client that keeps up: the full tap is waited for', () => {
    const buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 1024 * KiB });
    const full = tapOn(buffers);
    const ahead = tapOn(buffers, { start: 900 * KiB, end: 950 * KiB });
    const behindRange = tapOn(buffers, { start: 0, end: 8 * KiB - 1 });
    // behindRange got its bytes (and ended); ahead waits for bytes far on, its buffer empty.
    behindRange.offer(blob.subarray(0, CHUNK), 0);
    let asked = 0;
    for (let offset = 0; offset < 512 * KiB; offset += CHUNK) {
      const chunk = blob.subarray(offset, offset + CHUNK);
      const mayWait = () => (asked++, ![ahead, behindRange].some((t) => t.hasRoom(chunk.length, offset, chunk.length)));
      if (full.offer(chunk, offset, mayWait)) break;
      ahead.offer(chunk, offset);
    }
    expect(asked).toBe(1);
    expect(full.behind).toBe(false);
    expect(buffers.stats).toMatchObject({ waits: 1, fellBehind: 0 });
    // A tap whose range covers the chunk and has room does count.
    const alongside = tapOn(buffers);
    expect(alongside.hasRoom(CHUNK, 512 * KiB, CHUNK)).toBe(true);
    expect(ahead.hasRoom(CHUNK, 512 * KiB, CHUNK)).toBe(false);
  });

  it('without mayWait (or when it says no) a full tap falls behind as before', () => {
    const buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 1024 * KiB });
    const asked: number[] = [];
    const tap = tapOn(buffers);
    expect(offerUntilWait(tap, () => (asked.push(1), false))).toBe(blob.length);
    expect(asked).toHaveLength(1);
    expect(tap.behind).toBe(true);
    expect(buffers.stats).toMatchObject({ waits: 0, fellBehind: 1 });
  });
});
