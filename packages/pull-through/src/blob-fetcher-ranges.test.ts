import { DigestMismatchError, type Reference } from '@pullthrough/oci';
import { readStream, startRegistry, type RegistryFixture } from '../test/registry-fixture.js';
import type { PushedImage } from '../test/tiny-upstream.js';

// Larger than a live client's stream buffer (64 KiB), smaller than its memory buffer (8 MiB).
const LAYER_SIZE = 3 * 1024 * 1024;
const latest: Reference = { kind: 'tag', tag: 'latest' };
let f: RegistryFixture;
let layer: PushedImage['layers'][number];

beforeEach(async () => {
  f = await startRegistry();
  layer = f.upstream.pushImage('foo', ['latest'], 'ranges', [LAYER_SIZE]).layers[0]!;
  await f.registry.getManifest('up/foo', latest);
  f.upstream.clearRequests();
});

afterEach(async () => {
  await f.close();
});

describe('ranges streamed from the live fetch', () => {
  it('a range that ends before the blob does ends as soon as its bytes are in, before the fetch commits', async () => {
    const blob = await f.registry.openBlob('up/foo', layer.digest, { start: 0, end: 99 });
    let committed = false;
    void blob.done?.then(() => (committed = true));
    const read = await readStream(blob.stream);
    expect(read.error).toBeUndefined();
    expect(read.bytes.equals(layer.bytes.subarray(0, 100))).toBe(true);
    expect(committed).toBe(false);
    await expect(blob.done).resolves.toMatchObject({ size: LAYER_SIZE });
    expect(await f.store.isBlobLinked('up/foo', layer.digest)).toBe(true);
  });

  it('a corrupt blob: an early range is delivered as it came, but nothing is stored and the mismatch surfaces', async () => {
    f.upstream.blobFault = 'corrupt';
    const blob = await f.registry.openBlob('up/foo', layer.digest, { start: 0, end: 99 });
    const read = await readStream(blob.stream);
    expect(read.error).toBeUndefined();
    expect(read.bytes.length).toBe(100);
    await expect(blob.done).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await f.store.statBlob(layer.digest)).toBeUndefined();
  });

  it('a corrupt blob: a range that reaches its end is cut short, never complete', async () => {
    f.upstream.blobFault = 'corrupt';
    const blob = await f.registry.openBlob('up/foo', layer.digest, { suffix: 2 * 1024 * 1024 });
    const read = await readStream(blob.stream);
    expect(read.error).toBeInstanceOf(DigestMismatchError);
    expect(read.bytes.length).toBeLessThan(2 * 1024 * 1024);
    await expect(blob.done).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await f.store.statBlob(layer.digest)).toBeUndefined();
  });

  it('a range whose bytes have not arrived yet taps the running fetch: one upstream GET, exact bytes', async () => {
    // The leader does not read yet (its bytes wait in its buffer); the tail taps the same fetch.
    const leader = await f.registry.openBlob('up/foo', layer.digest);
    const tail = await f.registry.openBlob('up/foo', layer.digest, { start: LAYER_SIZE - 1000 });
    expect(tail).toMatchObject({ cache: 'miss', size: LAYER_SIZE, range: { start: LAYER_SIZE - 1000, end: LAYER_SIZE - 1 } });
    const [whole, part] = await Promise.all([readStream(leader.stream), readStream(tail.stream)]);
    expect(whole.bytes.equals(layer.bytes)).toBe(true);
    expect(part.bytes.equals(layer.bytes.subarray(LAYER_SIZE - 1000))).toBe(true);
    await tail.done;
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
  });
});

describe('ranges joining a fetch', () => {
  it('a herd of cold ranges of one blob, asked at once, share one upstream GET and each get exact bytes', async () => {
    const ranges = [
      { start: 0, end: 9 },
      { start: LAYER_SIZE - 10 },
      { suffix: 1000 },
      { start: 1024 * 1024, end: 2 * 1024 * 1024 },
    ];
    const reads = await Promise.all(
      ranges.map(async (range) => {
        const blob = await f.registry.openBlob('up/foo', layer.digest, range);
        const read = await readStream(blob.stream);
        await blob.done;
        return { range: blob.range!, read };
      }),
    );
    for (const { range, read } of reads) {
      expect(read.error).toBeUndefined();
      expect(read.bytes.equals(layer.bytes.subarray(range.start, range.end + 1))).toBe(true);
    }
    expect(reads.map((r) => r.range)).toEqual([
      { start: 0, end: 9 },
      { start: LAYER_SIZE - 10, end: LAYER_SIZE - 1 },
      { start: LAYER_SIZE - 1000, end: LAYER_SIZE - 1 },
      { start: 1024 * 1024, end: 2 * 1024 * 1024 },
    ]);
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
  });

  it('a range whose bytes already went by waits for the commit and reads the local copy', async () => {
    const leader = await f.registry.openBlob('up/foo', layer.digest);
    const whole = await readStream(leader.stream);
    expect(whole.bytes.equals(layer.bytes)).toBe(true);
    // The leader has every byte; the commit may still be running: a range now cannot tap, it reads locally.
    const late = await f.registry.openBlob('up/foo', layer.digest, { start: 0, end: 9 });
    expect((await readStream(late.stream)).bytes.equals(layer.bytes.subarray(0, 10))).toBe(true);
    await leader.done;
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
  });
});
