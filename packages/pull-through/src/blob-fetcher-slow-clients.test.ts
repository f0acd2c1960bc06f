import type { Reference } from '@pullthrough/oci';
import { readStream, startRegistry, type RegistryFixture } from '../test/registry-fixture.js';
import type { PushedImage } from '../test/tiny-upstream.js';

// Many times a client's 256 KiB buffer: a client that does not read falls behind.
const LAYER_SIZE = 3 * 1024 * 1024;
const latest: Reference = { kind: 'tag', tag: 'latest' };
let f: RegistryFixture;
let layer: PushedImage['layers'][number];

beforeEach(async () => {
  f = await startRegistry({ clientBufferBytes: 256 * 1024, clientBuffersTotalBytes: 4 * 1024 * 1024 });
  layer = f.upstream.pushImage('foo', ['latest'], 'slow-clients', [LAYER_SIZE]).layers[0]!;
  await f.registry.getManifest('up/foo', latest);
  f.upstream.clearRequests();
});

afterEach(async () => {
  await f.close();
});

describe('a client of a shared fetch that falls behind its buffer', () => {
  it('holds neither the fetch nor the other clients, and gets the whole blob from the stored copy afterwards', async () => {
    const slow = await f.registry.openBlob('up/foo', layer.digest);
    const fast = await f.registry.openBlob('up/foo', layer.digest);
    expect(fast.cache).toBe('miss');
    const read = await readStream(fast.stream);
    expect(read.bytes.equals(layer.bytes)).toBe(true);
    // Committed although the slow client has not read a byte yet.
    await expect(slow.done).resolves.toMatchObject({ size: LAYER_SIZE });
    expect(await f.store.statBlob(layer.digest)).toEqual({ size: LAYER_SIZE });
    expect(f.registry.blobs.clientBufferStats.fellBehind).toBeGreaterThanOrEqual(1);

    const late = await readStream(slow.stream);
    expect(late.error).toBeUndefined();
    expect(late.bytes.equals(layer.bytes)).toBe(true);
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
    expect(f.registry.blobs.clientBufferStats.bufferedBytes).toBe(0);
  });

  it('is cut (never a complete-looking body) when the fetch fails after it fell behind; nothing is stored', async () => {
    f.upstream.blobFault = 'truncate';
    const slow = await f.registry.openBlob('up/foo', layer.digest);
    await expect(slow.done).rejects.toThrow();
    expect(f.registry.blobs.clientBufferStats.fellBehind).toBe(1);
    const read = await readStream(slow.stream);
    expect(read.error).toBeInstanceOf(Error);
    expect(read.bytes.length).toBeLessThan(LAYER_SIZE);
    expect(await f.store.statBlob(layer.digest)).toBeUndefined();
    expect(f.registry.blobs.clientBufferStats.bufferedBytes).toBe(0);
  });
});
