import { createHash, randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobUnknownError, DigestMismatchError, RangeInvalidError, digestOf, type Digest } from '@pullthrough/oci';
import { LINK_CONCURRENCY } from './blob-store.js';
import { FilesystemDriver } from './filesystem-driver.js';
import { RegistryStore } from './registry-store.js';

let root: string;
let store: RegistryStore;

beforeEach(async () => {
  root = await fsp.mkdtemp(join(tmpdir(), 'pullthrough-blobs-'));
  store = new RegistryStore(new FilesystemDriver(root));
});
afterEach(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fsp.readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function putBlob(data: Buffer): Promise<Digest> {
  const writer = await store.createBlobWriter({ digest: digestOf(data), size: data.length });
  await pipeline(Readable.from([data]), writer);
  return (await writer.commit()).digest;
}

describe('blobs', () => {
  test('hashState is a copy of the hash so far: it goes on elsewhere while the writer goes on with its own bytes', async () => {
    const data = randomBytes(3000);
    const digest = digestOf(data);
    const writer = await store.createBlobWriter({ digest, size: data.length });
    writer.write(data.subarray(0, 1000));
    const copy = writer.hashState();
    copy.update(data.subarray(1000));
    expect(`sha256:${copy.digest('hex')}`).toBe(digest);
    // The writer's own hash is still at byte 1000: the rest written later completes it.
    writer.write(data.subarray(1000));
    expect(await writer.commit()).toEqual({ digest, size: data.length });
  });

  test('write, stat, open, range, at the distribution layout', async () => {
    const data = Buffer.from('hello blob world');
    const digest = digestOf(data);
    const writer = await store.createBlobWriter({ digest });
    writer.write(data.subarray(0, 5));
    writer.write(data.subarray(5));
    expect(await writer.commit()).toEqual({ digest, size: data.length });
    expect(writer.bytesWritten).toBe(data.length);

    expect(await store.statBlob(digest)).toEqual({ size: data.length });
    expect(await readAll(await store.openBlob(digest))).toEqual(data);
    expect((await readAll(await store.openBlob(digest, { start: 6, end: 9 }))).toString()).toBe('blob');
    await expect(store.openBlob(digest, { start: 100, end: 200 })).rejects.toThrow(RangeInvalidError);

    const hex = digest.slice('sha256:'.length);
    expect(await filesUnder(root)).toEqual([`blobs/sha256/${hex.slice(0, 2)}/${hex}/data`]);
  });

  test('verify() knows right after the last write, before anything is flushed; commit agrees', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 5); // several MiB: chunks are still queued when verify runs
    const digest = digestOf(data);
    const good = await store.createBlobWriter({ digest, size: data.length });
    for (let i = 0; i < data.length; i += 64 * 1024) good.write(data.subarray(i, i + 64 * 1024));
    expect(good.verify()).toBe(digest);
    expect(await store.statBlob(digest)).toBeUndefined(); // verified, not yet committed
    expect(await good.commit()).toEqual({ digest, size: data.length });
    expect(await readAll(await store.openBlob(digest))).toEqual(data);

    const other = Buffer.from(data);
    other[12345] = other[12345]! ^ 1;
    const bad = await store.createBlobWriter({ digest: digestOf(Buffer.from('x')) });
    bad.end(other); // end(chunk) is hashed too
    expect(() => bad.verify()).toThrow(DigestMismatchError);
    await expect(bad.commit()).rejects.toThrow(DigestMismatchError);
    expect(await filesUnder(root)).toEqual([`blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`]);
  });

  test('nothing may be written after verify(): the writer fails and commits nothing', async () => {
    const data = Buffer.from('verified');
    const writer = await store.createBlobWriter({ digest: digestOf(data) });
    writer.on('error', () => undefined);
    writer.write(data);
    writer.verify();
    expect(writer.write(Buffer.from('more'))).toBe(false);
    expect(writer.destroyed).toBe(true);
    await expect(writer.commit()).rejects.toThrow();
    expect(await store.statBlob(digestOf(data))).toBeUndefined();
  });

  test('a write past the expected size fails the writer at once', async () => {
    const data = Buffer.from('exactly ten');
    const writer = await store.createBlobWriter({ digest: digestOf(data), size: 10 });
    writer.on('error', () => undefined);
    expect(writer.write(data)).toBe(false);
    expect(writer.destroyed).toBe(true);
    expect(writer.errored).toBeInstanceOf(DigestMismatchError);
  });

  test('a size learnt after the writer was opened (expectSize) is checked like one given at creation', async () => {
    const data = Buffer.from('twelve bytes');
    const right = await store.createBlobWriter({ digest: digestOf(data) });
    right.expectSize(data.length);
    expect(right.expected).toEqual({ digest: digestOf(data), size: data.length });
    await pipeline(Readable.from([data]), right);
    await expect(right.commit()).resolves.toEqual({ digest: digestOf(data), size: data.length });

    const short = await store.createBlobWriter({ digest: digestOf(data) });
    short.expectSize(13);
    await pipeline(Readable.from([data]), short);
    await expect(short.commit()).rejects.toThrow(DigestMismatchError);

    const long = await store.createBlobWriter({ digest: digestOf(data) });
    long.on('error', () => undefined);
    long.expectSize(5);
    expect(long.write(data)).toBe(false);
    expect(long.errored).toBeInstanceOf(DigestMismatchError);

    // Already past the size, or a different size than the one expected: the writer fails at once.
    const past = await store.createBlobWriter({ digest: digestOf(data) });
    past.on('error', () => undefined);
    past.write(data);
    past.expectSize(4);
    expect(past.errored).toBeInstanceOf(DigestMismatchError);
    const other = await store.createBlobWriter({ digest: digestOf(data), size: data.length });
    other.on('error', () => undefined);
    other.expectSize(data.length + 1);
    expect(other.errored).toBeInstanceOf(DigestMismatchError);
    expect(() => right.expectSize(-1)).toThrow(RangeError);
    await Promise.all([long.abort(), past.abort(), other.abort()]);
    expect(await filesUnder(root)).toEqual(expect.not.arrayContaining([expect.stringContaining('_uploads')]));
  });

  test('unknown blobs: stat undefined, open throws BlobUnknownError', async () => {
    const digest = digestOf(Buffer.from('never stored'));
    expect(await store.statBlob(digest)).toBeUndefined();
    await expect(store.openBlob(digest)).rejects.toThrow(BlobUnknownError);
  });

  test('a digest mismatch throws DigestMismatchError and leaves nothing', async () => {
    const expected = digestOf(Buffer.from('what we asked for'));
    const data = Buffer.from('what the upstream sent');
    const writer = await store.createBlobWriter({ digest: expected });
    await pipeline(Readable.from([data]), writer);
    const err: unknown = await writer.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).detail).toMatchObject({ expected, actual: digestOf(data) });
    expect(await store.statBlob(expected)).toBeUndefined();
    expect(await store.statBlob(digestOf(data))).toBeUndefined();
    expect(await filesUnder(root)).toEqual([]);
  });

  test('a size mismatch is a mismatch too, whether short or long', async () => {
    const data = Buffer.from('twelve bytes');
    const short = await store.createBlobWriter({ digest: digestOf(data), size: 13 });
    await pipeline(Readable.from([data]), short);
    await expect(short.commit()).rejects.toThrow(DigestMismatchError);

    const long = await store.createBlobWriter({ digest: digestOf(data), size: 5 });
    await expect(pipeline(Readable.from([data]), long)).rejects.toThrow(DigestMismatchError);
    await expect(long.commit()).rejects.toThrow();
    expect(await filesUnder(root)).toEqual([]);
  });

  test('abort leaves nothing, and commit afterwards rejects', async () => {
    const data = Buffer.from('abandon me');
    const writer = await store.createBlobWriter({ digest: digestOf(data) });
    writer.write(data);
    await writer.abort();
    await writer.abort();
    await expect(writer.commit()).rejects.toThrow();
    expect(await store.statBlob(digestOf(data))).toBeUndefined();
    expect(await filesUnder(root)).toEqual([]);
  });

  test('concurrent writers of the same blob all commit one intact blob', async () => {
    const data = randomBytes(300 * 1024);
    const digest = digestOf(data);
    const writers = await Promise.all(Array.from({ length: 6 }, () => store.createBlobWriter({ digest, size: data.length })));
    const results = await Promise.all(
      writers.map(async (w) => {
        await pipeline(Readable.from([data.subarray(0, 4096), data.subarray(4096)]), w);
        return w.commit();
      }),
    );
    for (const r of results) expect(r).toEqual({ digest, size: data.length });
    expect((await readAll(await store.openBlob(digest))).equals(data)).toBe(true);
    expect(await filesUnder(root)).toHaveLength(1);
  });

  test('a 20 MiB blob streams through with bounded buffering', async () => {
    const chunkSize = 256 * 1024;
    const chunks = 80;
    const bytes = (i: number): Buffer => Buffer.alloc(chunkSize, createHash('sha256').update(`chunk-${i}`).digest());
    const hash = createHash('sha256');
    for (let i = 0; i < chunks; i++) hash.update(bytes(i));
    const digest = `sha256:${hash.digest('hex')}` as Digest;

    const writer = await store.createBlobWriter({ digest, size: chunkSize * chunks });
    let maxBuffered = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for (let i = 0; i < chunks; i++) {
        maxBuffered = Math.max(maxBuffered, writer.writableLength);
        yield bytes(i);
      }
    }
    await pipeline(source(), writer);
    expect(await writer.commit()).toEqual({ digest, size: chunkSize * chunks });
    expect(maxBuffered).toBeLessThanOrEqual(2 * 1024 * 1024);

    const back = createHash('sha256');
    let size = 0;
    for await (const part of await store.openBlob(digest)) {
      back.update(part as Buffer);
      size += (part as Buffer).length;
    }
    expect(size).toBe(chunkSize * chunks);
    expect(`sha256:${back.digest('hex')}`).toBe(digest);
    const mid = await readAll(await store.openBlob(digest, { start: chunkSize * 40, end: chunkSize * 41 - 1 }));
    expect(mid.equals(bytes(40))).toBe(true);
  });
});

describe('per-repository blob links', () => {
  test('a blob is visible to a repository only once linked', async () => {
    const digest = await putBlob(Buffer.from('layer'));
    expect(await store.isBlobLinked('library/node', digest)).toBe(false);
    await expect(store.openRepositoryBlob('library/node', digest)).rejects.toThrow(BlobUnknownError);
    expect(await store.statRepositoryBlob('library/node', digest)).toBeUndefined();

    await store.linkBlob('library/node', digest);
    expect(await store.isBlobLinked('library/node', digest)).toBe(true);
    expect(await store.statRepositoryBlob('library/node', digest)).toEqual({ size: 5 });
    expect((await readAll(await store.openRepositoryBlob('library/node', digest))).toString()).toBe('layer');

    expect(await store.isBlobLinked('library/other', digest)).toBe(false);
    await expect(store.openRepositoryBlob('library/other', digest)).rejects.toThrow(BlobUnknownError);
    const hex = digest.slice('sha256:'.length);
    expect(await filesUnder(join(root, 'repositories'))).toEqual([`library/node/_layers/sha256/${hex}/link`]);
  });

  test('a blob linked before it is stored is not served until its bytes are committed', async () => {
    const digest = digestOf(Buffer.from('later'));
    await store.linkBlob('library/node', digest);
    expect(await store.isBlobLinked('library/node', digest)).toBe(true);
    expect(await store.statRepositoryBlob('library/node', digest)).toBeUndefined();
    await expect(store.openRepositoryBlob('library/node', digest)).rejects.toThrow(BlobUnknownError);
    const writer = await store.createBlobWriter({ digest });
    writer.end(Buffer.from('later'));
    await writer.commit();
    expect(await store.statRepositoryBlob('library/node', digest)).toEqual({ size: 5 });
  });

  test('linkBlobs links each distinct digest once, never more than LINK_CONCURRENCY at a time', async () => {
    const digests = Array.from({ length: 40 }, (_, i) => digestOf(Buffer.from(`layer ${i}`)));
    const driver = store.driver;
    const write = driver.putContent.bind(driver);
    let open = 0;
    let peak = 0;
    const writes: string[] = [];
    // A counting wrapper around the real driver (the writes still happen).
    driver.putContent = async (path, content) => {
      writes.push(path);
      peak = Math.max(peak, ++open);
      try {
        await new Promise((r) => setTimeout(r, 2));
        return await write(path, content);
      } finally {
        open--;
      }
    };
    await store.linkBlobs('library/many', [...digests, ...digests.slice(0, 10)]);
    expect(writes).toHaveLength(40);
    expect(new Set(writes).size).toBe(40);
    expect(peak).toBe(LINK_CONCURRENCY);
    for (const digest of digests) expect(await store.isBlobLinked('library/many', digest)).toBe(true);
  });
});
