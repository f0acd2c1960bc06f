/// <reference types="jest" />
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BlobUploadInvalidError, BlobUploadUnknownError, UploadRangeError } from '@pullthrough/oci';
import type { DriverUnderTest } from './driver-contract.js';
import type { StorageDriver } from './storage-driver.js';
import { StoragePathError } from './storage-path.js';

async function readAll(stream: Readable | undefined): Promise<Buffer> {
  if (!stream) throw new Error('expected a stream, got undefined');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield p;
}

async function* failingAfter(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
  throw new Error('client went away');
}

/** The resumable-upload half of the driver contract (see ResumableUploads); every driver runs it. */
export function runUploadContract(name: string, makeDriver: () => Promise<DriverUnderTest>): void {
  describe(`resumable uploads contract: ${name}`, () => {
    let driver: StorageDriver;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ driver, cleanup } = await makeDriver());
    });
    afterEach(async () => {
      await cleanup();
    });

    test('create, append in order, stat, read back; invisible to list', async () => {
      const id = await driver.createUpload({ repository: 'team/app' });
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(await driver.statUpload(id)).toMatchObject({ size: 0, metadata: { repository: 'team/app' } });
      const a = randomBytes(5 * 1024 * 1024 + 11);
      const b = Buffer.from('tail');
      expect(await driver.appendUpload(id, 0, chunks(a.subarray(0, 1000), a.subarray(1000)))).toBe(a.length);
      expect(await driver.appendUpload(id, a.length, chunks(Buffer.alloc(0)))).toBe(a.length);
      expect(await driver.appendUpload(id, a.length, chunks(b))).toBe(a.length + 4);
      const status = await driver.statUpload(id);
      expect(status?.size).toBe(a.length + 4);
      expect(status!.updatedAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect((await readAll(await driver.readUpload(id))).equals(Buffer.concat([a, b]))).toBe(true);
      expect(await driver.list('')).toEqual([]);
    });

    test('a chunk at the wrong offset is refused with the current size; the upload is unchanged', async () => {
      const id = await driver.createUpload({});
      await driver.appendUpload(id, 0, chunks(Buffer.from('abc')));
      await expect(driver.appendUpload(id, 0, chunks(Buffer.from('abc')))).rejects.toMatchObject({ constructor: UploadRangeError, size: 3 });
      await expect(driver.appendUpload(id, 5, chunks(Buffer.from('x')))).rejects.toMatchObject({ size: 3 });
      expect((await readAll(await driver.readUpload(id))).toString()).toBe('abc');
    });

    test('of two chunks racing for one offset exactly one is appended', async () => {
      const id = await driver.createUpload({});
      const results = await Promise.allSettled([0, 1, 2, 3].map((i) => driver.appendUpload(id, 0, chunks(Buffer.alloc(1000, 65 + i)))));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(UploadRangeError);
      const back = await readAll(await driver.readUpload(id));
      expect(back.length).toBe(1000);
      expect(new Set(back).size).toBe(1);
    });

    test('a chunk that fails midway leaves nothing of itself', async () => {
      const id = await driver.createUpload({});
      await driver.appendUpload(id, 0, chunks(Buffer.from('kept')));
      await expect(driver.appendUpload(id, 4, failingAfter(randomBytes(100_000)))).rejects.toThrow('client went away');
      expect((await driver.statUpload(id))?.size).toBe(4);
      expect(await driver.appendUpload(id, 4, chunks(Buffer.from('!')))).toBe(5);
    });

    test('commit moves exactly the content to its path (keeping an existing object) and ends the upload', async () => {
      for (const pieces of [[Buffer.from('one piece')], [Buffer.from('two '), Buffer.from('pieces')], []]) {
        const id = await driver.createUpload({});
        let size = 0;
        for (const p of pieces) size = await driver.appendUpload(id, size, chunks(p));
        const path = `c/${pieces.length}`;
        await driver.commitUpload(id, path, size);
        expect((await driver.getContent(path))?.equals(Buffer.concat(pieces))).toBe(true);
        expect(await driver.statUpload(id)).toBeUndefined();
      }
      const again = await driver.createUpload({});
      await driver.appendUpload(again, 0, chunks(Buffer.from('other')));
      await driver.commitUpload(again, 'c/1', 5);
      expect((await driver.getContent('c/1'))?.toString()).toBe('one piece');
    });

    test('commit with a size the upload does not have is refused and commits nothing', async () => {
      const id = await driver.createUpload({});
      await driver.appendUpload(id, 0, chunks(Buffer.from('abc')));
      await expect(driver.commitUpload(id, 'c/x', 2)).rejects.toThrow(BlobUploadInvalidError);
      expect(await driver.stat('c/x')).toBeUndefined();
      expect((await driver.statUpload(id))?.size).toBe(3);
    });

    test('delete ends an upload; unknown uploads are undefined or BLOB_UPLOAD_UNKNOWN; bad ids are refused', async () => {
      const id = await driver.createUpload({});
      await driver.deleteUpload(id);
      await driver.deleteUpload(id);
      expect(await driver.statUpload(id)).toBeUndefined();
      expect(await driver.readUpload(id)).toBeUndefined();
      await expect(driver.appendUpload(id, 0, chunks(Buffer.from('x')))).rejects.toThrow(BlobUploadUnknownError);
      await expect(driver.commitUpload(id, 'c/y', 0)).rejects.toThrow(BlobUploadUnknownError);
      for (const bad of ['../x', 'ABC', '', '00000000-0000-0000-0000-00000000000g']) await expect(driver.statUpload(bad)).rejects.toThrow(StoragePathError);
    });

    test('purgeUploads removes abandoned uploads and keeps fresh ones', async () => {
      const id = await driver.createUpload({});
      await driver.appendUpload(id, 0, chunks(Buffer.from('abandoned')));
      expect(await driver.purgeUploads(60 * 60 * 1000)).toBe(0);
      expect((await driver.statUpload(id))?.size).toBe(9);
      // "Older than 0 ms" needs the clock past the upload's last write (its mtime has sub-millisecond precision).
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await driver.purgeUploads(0)).toBeGreaterThanOrEqual(1);
      expect(await driver.statUpload(id)).toBeUndefined();
    });
  });
}
