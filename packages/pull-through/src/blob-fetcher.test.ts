import { DigestMismatchError, type Reference } from '@pullthrough/oci';
import { readStream, startRegistry, type RegistryFixture } from '../test/registry-fixture.js';
import type { PushedImage } from '../test/tiny-upstream.js';

// Larger than a live client's stream buffer (64 KiB), smaller than its memory buffer (8 MiB).
const LAYER_SIZE = 3 * 1024 * 1024;
const latest: Reference = { kind: 'tag', tag: 'latest' };
let f: RegistryFixture;
let layer: PushedImage['layers'][number];

async function setUp(clientStallTimeoutMs?: number): Promise<void> {
  f = await startRegistry(clientStallTimeoutMs === undefined ? {} : { clientStallTimeoutMs });
  layer = f.upstream.pushImage('foo', ['latest'], 'fetcher', [LAYER_SIZE]).layers[0]!;
  await f.registry.getManifest('up/foo', latest);
  f.upstream.clearRequests();
}

afterEach(async () => {
  await f.close();
});

describe('BlobFetcher', () => {
  it('survives an upstream body that fails before it is read: the fetch fails cleanly, nothing is stored, the process lives on', async () => {
    await setUp();
    f.upstream.blobFault = 'reset-after-headers';
    for (let i = 0; i < 4; i++) {
      const outcome = await f.registry.openBlob('up/foo', layer.digest).then(
        async (blob) => {
          const read = await readStream(blob.stream);
          await blob.done?.catch(() => undefined);
          return read.error ?? new Error('a broken body must not end normally');
        },
        (err: unknown) => err,
      );
      expect(outcome).toBeInstanceOf(Error);
      expect((outcome as Error).message).not.toBe('a broken body must not end normally');
      expect(await f.store.statBlob(layer.digest)).toBeUndefined();
    }
    // (Recovery after such failures, once the breaker lets calls through again, is covered by the registry tests.)
    expect(f.registry.blobs.isInFlight(layer.digest)).toBe(false);
  });

  it('a leading client that stops reading holds nobody: the joiner and the commit finish first, then it alone is cut off', async () => {
    await setUp(200);
    const stalled = await f.registry.openBlob('up/foo', layer.digest);
    const joiner = await f.registry.openBlob('up/foo', layer.digest);
    const read = await readStream(joiner.stream);
    expect(read.error).toBeUndefined();
    expect(read.bytes.equals(layer.bytes)).toBe(true);
    // Committed while the leader has not taken a byte past its stream's small buffer.
    await expect(stalled.done).resolves.toMatchObject({ size: LAYER_SIZE });
    expect(await f.store.statBlob(layer.digest)).toEqual({ size: LAYER_SIZE });
    expect(f.registry.blobs.clientBufferStats.stalled).toBe(0);

    // Only once it has taken nothing for the stall timeout is the leader cut off.
    while (f.registry.blobs.clientBufferStats.stalled === 0) await new Promise((r) => setTimeout(r, 20));
    const late = await readStream(stalled.stream);
    expect(late.error?.message).toMatch(/client stalled/);
    expect(late.bytes.length).toBeLessThan(LAYER_SIZE);
    expect(f.registry.blobs.clientBufferStats.bufferedBytes).toBe(0);
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
  });

  it('keeps writing through when the leading client goes away mid-blob', async () => {
    await setUp();
    const leader = await f.registry.openBlob('up/foo', layer.digest);
    await new Promise<void>((resolve) => leader.stream.once('data', () => resolve()));
    leader.stream.destroy();
    await expect(leader.done).resolves.toMatchObject({ size: LAYER_SIZE });
    expect(await f.store.statBlob(layer.digest)).toEqual({ size: LAYER_SIZE });
    const hit = await f.registry.openBlob('up/foo', layer.digest);
    expect(hit.cache).toBe('hit');
    expect((await readStream(hit.stream)).bytes.equals(layer.bytes)).toBe(true);
  });

  it('rejects (never hangs or crashes) when a chunked upstream body outgrows the expected size, and recovers', async () => {
    await setUp();
    const target = f.upstreams.resolve('up/foo')!;
    f.upstream.blobFault = 'oversize';
    await expect(f.registry.blobs.ensure(target, layer.digest, LAYER_SIZE)).rejects.toBeInstanceOf(DigestMismatchError);
    expect(f.registry.blobs.isInFlight(layer.digest)).toBe(false);
    expect(await f.store.statBlob(layer.digest)).toBeUndefined();

    f.upstream.blobFault = 'none';
    await expect(f.registry.blobs.ensure(target, layer.digest, LAYER_SIZE)).resolves.toMatchObject({ size: LAYER_SIZE, bytesFetched: LAYER_SIZE });
    expect(await f.store.statBlob(layer.digest)).toEqual({ size: LAYER_SIZE });
  });

  it('rejects a chunked upstream body with extra bytes on a streamed open, and commits nothing', async () => {
    await setUp();
    f.upstream.blobFault = 'oversize';
    const blob = await f.registry.openBlob('up/foo', layer.digest);
    expect(blob.size).toBeUndefined();
    const read = await readStream(blob.stream);
    expect(read.error).toBeInstanceOf(DigestMismatchError);
    expect(read.bytes.length).toBeLessThan(LAYER_SIZE + 64 * 1024);
    await expect(blob.done).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await f.store.statBlob(layer.digest)).toBeUndefined();
  });
});
