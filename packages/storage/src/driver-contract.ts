/// <reference types="jest" />
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RangeInvalidError } from '@pullthrough/oci';
import type { ObjectWriter, StorageDriver } from './storage-driver.js';
import { StoragePathError } from './storage-path.js';
import { sendStream } from './file-read-stream.js';

export interface DriverUnderTest {
  driver: StorageDriver;
  cleanup(): Promise<void>;
}

async function readAll(stream: Readable | undefined): Promise<Buffer> {
  if (!stream) throw new Error('expected a stream, got undefined');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function writeObject(driver: StorageDriver, path: string, data: Buffer, toldPath?: string): Promise<void> {
  const writer = await driver.createWriter(toldPath === undefined ? {} : { path: toldPath });
  await pipeline(Readable.from([data]), writer);
  await writer.commit(path);
}

const BAD_PATHS = ['../x', 'a//b', '/abs', 'a/../b', 'a/./b', '.', '..', 'a/', '', 'a\\b', 'a\0b', '_uploads/x'];

/**
 * The behaviour every StorageDriver must have (distribution's driver testsuites). Call it from a
 * driver's test file; `makeDriver` gives each test a fresh, empty driver and its cleanup.
 */
export function runDriverContract(name: string, makeDriver: () => Promise<DriverUnderTest>): void {
  describe(`storage driver contract: ${name}`, () => {
    let driver: StorageDriver;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ driver, cleanup } = await makeDriver());
    });
    afterEach(async () => {
      await cleanup();
    });

    describe('content', () => {
      test('putContent then getContent round-trips, and overwrites', async () => {
        await driver.putContent('a/b/c', Buffer.from('one'));
        expect((await driver.getContent('a/b/c'))?.toString()).toBe('one');
        await driver.putContent('a/b/c', Buffer.from('two'));
        expect((await driver.getContent('a/b/c'))?.toString()).toBe('two');
      });

      test('putContent with `after`: visible only once it settles; when it rejects, nothing is written and its error is thrown', async () => {
        let release!: () => void;
        const first = new Promise<void>((resolve) => (release = resolve));
        const put = driver.putContent('after/ok', Buffer.from('second'), { after: first });
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await driver.getContent('after/ok')).toBeUndefined();
        release();
        await put;
        expect((await driver.getContent('after/ok'))?.toString()).toBe('second');

        const failed = Promise.reject(new Error('the first object failed'));
        await expect(driver.putContent('after/refused', Buffer.from('x'), { after: failed })).rejects.toThrow('the first object failed');
        expect(await driver.getContent('after/refused')).toBeUndefined();
        expect(await driver.list('after')).toEqual(['ok']);
      });

      test('createContent writes only where nothing is: of 6 at once exactly one wins, and every reader then sees its object', async () => {
        expect(await driver.createContent('once/key', Buffer.from('first'))).toBe(true);
        expect(await driver.createContent('once/key', Buffer.from('second'))).toBe(false);
        expect((await driver.getContent('once/key'))?.toString()).toBe('first');

        const values = Array.from({ length: 6 }, (_, i) => `racer-${i}`);
        const won = await Promise.all(values.map((v) => driver.createContent('race/key', Buffer.from(v), { private: true })));
        expect(won.filter(Boolean)).toHaveLength(1);
        expect((await driver.getContent('race/key'))?.toString()).toBe(values[won.indexOf(true)]);
        // Nothing else was left behind (no temporary objects beside it).
        expect(await driver.list('race')).toEqual(['key']);
        await expect(driver.createContent('../x', Buffer.from('x'))).rejects.toThrow(StoragePathError);
      });

      test('empty objects exist', async () => {
        await driver.putContent('empty', Buffer.alloc(0));
        expect(await driver.getContent('empty')).toEqual(Buffer.alloc(0));
        expect((await driver.stat('empty'))?.size).toBe(0);
      });

      test('missing objects and prefixes read as undefined', async () => {
        await driver.putContent('dir/file', Buffer.from('x'));
        expect(await driver.getContent('nope')).toBeUndefined();
        expect(await driver.getContent('dir')).toBeUndefined();
        expect(await driver.getContent('dir/file/deeper')).toBeUndefined();
      });

      test('stat reports size and modification time, undefined for missing and prefixes', async () => {
        const before = Date.now() - 2000;
        await driver.putContent('s/obj', Buffer.from('hello'));
        const info = await driver.stat('s/obj');
        expect(info?.size).toBe(5);
        expect(Object.prototype.toString.call(info?.modifiedAt)).toBe('[object Date]');
        expect(info!.modifiedAt.getTime()).toBeGreaterThan(before);
        expect(info!.modifiedAt.getTime()).toBeLessThan(Date.now() + 2000);
        expect(await driver.stat('s')).toBeUndefined();
        expect(await driver.stat('s/missing')).toBeUndefined();
      });
    });

    describe('read streams', () => {
      const data = Buffer.from('0123456789abcdef');

      test('whole object, ranges (end inclusive, clamped), and missing', async () => {
        await driver.putContent('r/obj', data);
        expect(await readAll(await driver.createReadStream('r/obj'))).toEqual(data);
        expect((await readAll(await driver.createReadStream('r/obj', { start: 2, end: 5 }))).toString()).toBe('2345');
        expect((await readAll(await driver.createReadStream('r/obj', { start: 15, end: 15 }))).toString()).toBe('f');
        expect((await readAll(await driver.createReadStream('r/obj', { start: 10, end: 1000 }))).toString()).toBe('abcdef');
        expect(await driver.createReadStream('r/missing')).toBeUndefined();
        expect(await driver.createReadStream('r')).toBeUndefined();
      });

      test('unsatisfiable ranges throw RangeInvalidError', async () => {
        await driver.putContent('r/obj', data);
        await expect(driver.createReadStream('r/obj', { start: 16, end: 20 })).rejects.toThrow(RangeInvalidError);
        await expect(driver.createReadStream('r/obj', { start: 5, end: 4 })).rejects.toThrow(RangeInvalidError);
        await expect(driver.createReadStream('r/obj', { start: -1, end: 4 })).rejects.toThrow(RangeInvalidError);
      });

      test('sendStream (how the frontend answers) delivers an object and a range intact, and ends the destination', async () => {
        const big = randomBytes(3 * 1024 * 1024 + 7);
        await writeObject(driver, 'send/obj', big);
        for (const range of [undefined, { start: 1000, end: 2 * 1024 * 1024 }]) {
          const chunks: Buffer[] = [];
          const sink = new Writable({
            write(chunk: Buffer, _enc, cb) {
              chunks.push(Buffer.from(chunk)); // the sender may reuse its buffer once cb has run
              setImmediate(cb);
            },
          });
          const stream = await driver.createReadStream('send/obj', range);
          if (!stream) throw new Error('object missing');
          await sendStream(stream, sink);
          expect(sink.writableFinished).toBe(true);
          expect(Buffer.concat(chunks).equals(range ? big.subarray(range.start, range.end + 1) : big)).toBe(true);
        }
      });

      test('a multi-megabyte object streams back intact', async () => {
        const big = randomBytes(5 * 1024 * 1024 + 123);
        await writeObject(driver, 'big/obj', big);
        const back = await readAll(await driver.createReadStream('big/obj'));
        expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
        const tail = await readAll(await driver.createReadStream('big/obj', { start: big.length - 10, end: big.length + 10 }));
        expect(tail).toEqual(big.subarray(big.length - 10));
      });
    });

    describe('writers', () => {
      test('commit makes the object visible; bytesWritten counts', async () => {
        const writer = await driver.createWriter();
        writer.write(Buffer.from('hello '));
        writer.write(Buffer.from('world'));
        await writer.commit('w/obj');
        expect(writer.bytesWritten).toBe(11);
        expect((await driver.getContent('w/obj'))?.toString()).toBe('hello world');
      });

      test('an uncommitted writer is invisible', async () => {
        const writer = await driver.createWriter();
        await pipeline(Readable.from([Buffer.from('pending')]), writer);
        expect(await driver.list('')).toEqual([]);
        expect(await driver.stat('w/obj')).toBeUndefined();
        await writer.commit('w/obj');
        expect(await driver.list('')).toEqual(['w']);
      });

      test('abort drops the object, and commit after abort rejects', async () => {
        const writer = await driver.createWriter();
        writer.write(Buffer.from('partial'));
        await writer.abort();
        await writer.abort();
        await expect(writer.commit('w/obj')).rejects.toThrow();
        expect(await driver.stat('w/obj')).toBeUndefined();
        expect(await driver.list('')).toEqual([]);
      });

      test('commit onto an existing object keeps the existing one', async () => {
        await writeObject(driver, 'w/obj', Buffer.from('first'));
        await writeObject(driver, 'w/obj', Buffer.from('second'));
        expect((await driver.getContent('w/obj'))?.toString()).toBe('first');
        expect(await driver.list('w')).toEqual(['obj']);
      });

      test('concurrent writers of the same target all succeed with one intact object', async () => {
        const data = randomBytes(256 * 1024);
        const writers: ObjectWriter[] = await Promise.all(Array.from({ length: 8 }, () => driver.createWriter()));
        await Promise.all(writers.map((w) => pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), w)));
        await Promise.all(writers.map((w) => w.commit('same/target')));
        expect((await driver.getContent('same/target'))?.equals(data)).toBe(true);
        expect(await driver.list('')).toEqual(['same']);
        expect(await driver.list('same')).toEqual(['target']);
      });

      test('a writer tells of each chunk once it no longer needs its memory: overwriting it then leaves the object intact', async () => {
        const writer = await driver.createWriter({ path: 'done/obj' });
        if (!writer.onChunkDone) throw new Error('every driver here says when a written chunk is done (ObjectWriter.onChunkDone)');
        // 4 MiB of small chunks (gathered, copied or written together), a large one alone, small ones again.
        const sizes = [...Array.from({ length: 64 }, () => 64 * 1024), 5 * 1024 * 1024 + 7, ...Array.from({ length: 10 }, () => 64 * 1024 + 1)];
        const chunks: Buffer[] = sizes.map((size) => randomBytes(size));
        const expected = Buffer.concat(chunks);
        const done: Buffer[] = [];
        writer.onChunkDone((chunk) => {
          done.push(chunk);
          chunk.fill(0xee); // as a reused slab would be read into
        });
        await pipeline(Readable.from(chunks), writer);
        await writer.commit('done/obj');
        // Every chunk told once, and only when its bytes were no longer needed: the object is the bytes written.
        expect(done).toHaveLength(chunks.length);
        expect(new Set(done).size).toBe(chunks.length);
        expect(done.every((chunk) => chunks.includes(chunk))).toBe(true);
        const back = await readAll(await driver.createReadStream('done/obj'));
        expect(back.equals(expected)).toBe(true);
      });

      test('a chunk-done hook that throws (a holder\'s bug) fails the writer: its commit rejects and nothing is visible', async () => {
        const writer = await driver.createWriter({ path: 'done/failing' });
        writer.onChunkDone!(() => {
          throw new Error('released twice');
        });
        await expect(pipeline(Readable.from(Array.from({ length: 80 }, () => randomBytes(64 * 1024))), writer)).rejects.toThrow('released twice');
        await expect(writer.commit('done/failing')).rejects.toThrow();
        expect(await driver.stat('done/failing')).toBeUndefined();
      });

      test('a second commit of the same writer rejects', async () => {
        const writer = await driver.createWriter();
        await writer.commit('w/one');
        await expect(writer.commit('w/two')).rejects.toThrow();
        expect(await driver.stat('w/two')).toBeUndefined();
      });

      test('stale uploads can be purged; fresh ones are kept', async () => {
        const writer = await driver.createWriter();
        await pipeline(Readable.from([Buffer.from('abandoned')]), writer);
        expect(await driver.purgeUploads(60 * 60 * 1000)).toBe(0);
        expect(await driver.purgeUploads(0)).toBeGreaterThanOrEqual(1);
        await expect(writer.commit('w/obj')).rejects.toThrow();
        expect(await driver.stat('w/obj')).toBeUndefined();
      });
    });

    describe('writers told their path (CreateWriterOptions.path)', () => {
      test('nothing is visible until commit; a multi-block object commits intact', async () => {
        const data = randomBytes(9 * 1024 * 1024 + 3);
        const writer = await driver.createWriter({ path: 'told/obj' });
        await pipeline(Readable.from([data.subarray(0, 5_000_000), data.subarray(5_000_000)]), writer);
        expect(await driver.stat('told/obj')).toBeUndefined();
        expect(await driver.list('')).toEqual([]);
        await writer.commit('told/obj');
        expect(writer.bytesWritten).toBe(data.length);
        const back = await readAll(await driver.createReadStream('told/obj'));
        expect(back.equals(data)).toBe(true);
      });

      test('commit to another path rejects and leaves nothing', async () => {
        const writer = await driver.createWriter({ path: 'told/one' });
        writer.write(Buffer.from('x'));
        await expect(writer.commit('told/two')).rejects.toThrow();
        expect(await driver.stat('told/one')).toBeUndefined();
        expect(await driver.stat('told/two')).toBeUndefined();
        expect(await driver.list('')).toEqual([]);
      });

      test('abort leaves nothing; a later writer of the same path commits', async () => {
        const dropped = await driver.createWriter({ path: 'told/obj' });
        await pipeline(Readable.from([randomBytes(5 * 1024 * 1024)]), dropped);
        await dropped.abort();
        await expect(dropped.commit('told/obj')).rejects.toThrow();
        expect(await driver.stat('told/obj')).toBeUndefined();
        expect(await driver.list('')).toEqual([]);
        await writeObject(driver, 'told/obj', Buffer.from('kept'), 'told/obj');
        expect((await driver.getContent('told/obj'))?.toString()).toBe('kept');
      });

      test('concurrent writers of the same path all succeed; an existing object is kept', async () => {
        const data = randomBytes(5 * 1024 * 1024);
        const writers = await Promise.all(Array.from({ length: 6 }, () => driver.createWriter({ path: 'told/same' })));
        await Promise.all(writers.map((w) => pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), w)));
        await Promise.all(writers.map((w) => w.commit('told/same')));
        expect((await driver.getContent('told/same'))?.equals(data)).toBe(true);
        await writeObject(driver, 'told/same', Buffer.from('other'), 'told/same');
        expect((await driver.getContent('told/same'))?.equals(data)).toBe(true);
        expect(await driver.list('told')).toEqual(['same']);
      });
    });

    describe('list and delete', () => {
      test('list returns sorted direct children, [] when missing', async () => {
        for (const p of ['d/b', 'd/a', 'd/c/x', 'd/B', 'd/a.b', 'e']) await driver.putContent(p, Buffer.from(p));
        expect(await driver.list('d')).toEqual(['B', 'a', 'a.b', 'b', 'c']);
        expect(await driver.list('')).toEqual(['d', 'e']);
        expect(await driver.list('d/c')).toEqual(['x']);
        expect(await driver.list('missing')).toEqual([]);
        expect(await driver.list('e')).toEqual([]);
      });

      test('walk yields every object under a prefix at any depth, with size and time; never uploads in progress', async () => {
        const before = Date.now() - 2000;
        for (const p of ['w/a', 'w/b/c', 'w/b/d/e', 'wx/no', 'other']) await driver.putContent(p, Buffer.from(p));
        const open = await driver.createWriter({ path: 'w/staged' });
        open.write(Buffer.from('not committed'));
        const walked = [];
        for await (const entry of driver.walk('w')) walked.push(entry);
        walked.sort((a, b) => (a.path < b.path ? -1 : 1));
        expect(walked.map((e) => [e.path, e.size])).toEqual([
          ['w/a', 3],
          ['w/b/c', 5],
          ['w/b/d/e', 7],
        ]);
        for (const e of walked) expect(e.modifiedAt.getTime()).toBeGreaterThan(before);
        const missing = [];
        for await (const entry of driver.walk('missing/prefix')) missing.push(entry);
        expect(missing).toEqual([]);
        await open.abort();
        await expect((async () => {
          for await (const _ of driver.walk('a//b')) void _;
        })()).rejects.toThrow(StoragePathError);
      });

      test('delete removes objects and whole prefixes; missing is fine; emptied prefixes vanish', async () => {
        for (const p of ['x/1', 'x/y/2', 'x/y/z/3', 'keep/1']) await driver.putContent(p, Buffer.from(p));
        await driver.delete('x/1');
        expect(await driver.stat('x/1')).toBeUndefined();
        await driver.delete('x/y');
        expect(await driver.stat('x/y/z/3')).toBeUndefined();
        expect(await driver.list('x')).toEqual([]);
        expect(await driver.list('')).toEqual(['keep']);
        await driver.delete('x/never');
        await driver.delete('never/was');
        await driver.putContent('x/y/again', Buffer.from('ok'));
        expect((await driver.getContent('x/y/again'))?.toString()).toBe('ok');
      });
    });

    describe('bad paths are rejected', () => {
      test.each(BAD_PATHS)('%j', async (bad) => {
        await expect(driver.putContent(bad, Buffer.from('x'))).rejects.toThrow(StoragePathError);
        await expect(driver.getContent(bad)).rejects.toThrow(StoragePathError);
        await expect(driver.stat(bad)).rejects.toThrow(StoragePathError);
        await expect(driver.createReadStream(bad)).rejects.toThrow(StoragePathError);
        await expect(driver.delete(bad)).rejects.toThrow(StoragePathError);
        if (bad !== '') await expect(driver.list(bad)).rejects.toThrow(StoragePathError);
        const writer = await driver.createWriter();
        await expect(writer.commit(bad)).rejects.toThrow(StoragePathError);
        expect(await driver.list('')).toEqual([]);
      });
    });
  });
}
