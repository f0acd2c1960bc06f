import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobUnknownError, DigestMismatchError, RangeInvalidError, UpstreamUnavailableError, type Reference } from '@pullthrough/oci';
import { readStream, startRegistry, type RegistryFixture } from '../test/registry-fixture.js';
import type { PushedImage } from '../test/tiny-upstream.js';

const LAYER_SIZE = 2 * 1024 * 1024 + 123;
const latest: Reference = { kind: 'tag', tag: 'latest' };
let f: RegistryFixture;
let image: PushedImage;
let layer: PushedImage['layers'][number];

beforeEach(async () => {
  f = await startRegistry();
  image = f.upstream.pushImage('foo', ['latest'], 'blobs', [LAYER_SIZE]);
  layer = image.layers[0]!;
  // Like a client: the manifest first (links its blobs), then the blobs.
  await f.registry.getManifest('up/foo', latest);
  f.upstream.clearRequests();
});

afterEach(async () => {
  await f.close();
});

describe('PullThroughRegistry.openBlob', () => {
  it('streams a miss from the upstream, commits it, and serves the next open locally', async () => {
    const miss = await f.registry.openBlob('up/foo', layer.digest);
    expect(miss).toMatchObject({ cache: 'miss', size: LAYER_SIZE });
    const read = await readStream(miss.stream);
    expect(read.error).toBeUndefined();
    expect(read.bytes.equals(layer.bytes)).toBe(true);
    await expect(miss.done).resolves.toMatchObject({ digest: layer.digest, size: LAYER_SIZE });
    expect(await f.store.statBlob(layer.digest)).toEqual({ size: LAYER_SIZE });
    expect(f.upstream.requests).toEqual([{ method: 'GET', path: `/v2/foo/blobs/${layer.digest}` }]);

    f.upstream.clearRequests();
    const hit = await f.registry.openBlob('up/foo', layer.digest);
    expect(hit.cache).toBe('hit');
    expect(hit.done).toBeUndefined();
    expect((await readStream(hit.stream)).bytes.equals(layer.bytes)).toBe(true);
    await expect(f.registry.statBlob('up/foo', layer.digest)).resolves.toEqual({ size: LAYER_SIZE, cache: 'hit' });
    expect(f.upstream.requests).toEqual([]);
  });

  it('a verified miss reaches the end of its client stream before the commit; an open meanwhile joins the fetch; settle() waits for the commit', async () => {
    const order: string[] = [];
    const miss = await f.registry.openBlob('up/foo', layer.digest);
    void miss.done?.then(() => order.push('committed'));
    miss.stream.once('end', () => order.push('client has every byte'));
    const read = await readStream(miss.stream);
    expect(read.bytes.equals(layer.bytes)).toBe(true);
    // Right after the client's last byte: a second open never goes upstream again.
    const second = await f.registry.openBlob('up/foo', layer.digest);
    expect((await readStream(second.stream)).bytes.equals(layer.bytes)).toBe(true);
    await f.registry.blobs.settle();
    expect(order).toEqual(['client has every byte', 'committed']);
    expect(f.registry.blobs.isInFlight(layer.digest)).toBe(false);
    expect(await f.store.statBlob(layer.digest)).toEqual({ size: LAYER_SIZE });
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
  });

  it('a client that joins a fetch after its body is in reads the blob once it is in place, not after the repositories are linked', async () => {
    // The repository links of the fetch wait (as they do behind a busy store) until the test lets them go.
    let letLink!: () => void;
    const linking = new Promise<void>((resolve) => (letLink = resolve));
    const link = f.store.linkBlob.bind(f.store);
    const links = jest.spyOn(f.store, 'linkBlob').mockImplementation(async (...args) => {
      await linking;
      return link(...args);
    });
    const miss = await f.registry.openBlob('up/foo', layer.digest);
    expect((await readStream(miss.stream)).bytes.equals(layer.bytes)).toBe(true);
    // The blob is in place once the store holds it; its link to up/foo is still waiting.
    for (let i = 0; i < 200 && !(await f.store.statBlob(layer.digest)); i++) await new Promise((r) => setTimeout(r, 5));
    expect(await f.store.statBlob(layer.digest)).toEqual({ size: LAYER_SIZE });
    expect(f.registry.blobs.isInFlight(layer.digest)).toBe(true);
    const late = await f.registry.openBlob('up/foo', layer.digest);
    expect((await readStream(late.stream)).bytes.equals(layer.bytes)).toBe(true);
    expect(f.registry.blobs.isInFlight(layer.digest)).toBe(true);
    letLink();
    await expect(miss.done).resolves.toMatchObject({ digest: layer.digest, size: LAYER_SIZE });
    links.mockRestore();
    // The fetch linked it to the repository: the next open is a hit.
    const hit = await f.registry.openBlob('up/foo', layer.digest);
    expect(hit.cache).toBe('hit');
    expect((await readStream(hit.stream)).bytes.equals(layer.bytes)).toBe(true);
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
  });

  it('an open of a blob whose fetch runs here taps it at once, without waiting for a look at storage', async () => {
    f.upstream.blobTrickle = { bytes: 64 * 1024, everyMs: 10 };
    const first = await f.registry.openBlob('up/foo', layer.digest);
    expect(first.cache).toBe('miss');
    // Storage answers nothing now, as behind a busy store's queue of writes, until the test lets it.
    let letLook!: () => void;
    const looking = new Promise<void>((resolve) => (letLook = resolve));
    const stat = f.store.statBlob.bind(f.store);
    const linked = f.store.isBlobLinked.bind(f.store);
    const stats = jest.spyOn(f.store, 'statBlob').mockImplementation(async (...args) => (await looking, stat(...args)));
    const links = jest.spyOn(f.store, 'isBlobLinked').mockImplementation(async (...args) => (await looking, linked(...args)));
    const opening = f.registry.openBlob('up/foo', layer.digest);
    const opened = await Promise.race([opening, new Promise<undefined>((r) => setTimeout(() => r(undefined), 3_000))]);
    expect(opened).toBeDefined();
    expect(opened!.cache).toBe('miss');
    expect(f.registry.blobs.isInFlight(layer.digest)).toBe(true);
    expect(links).not.toHaveBeenCalled();
    letLook();
    const [a, b] = await Promise.all([readStream(first.stream), readStream(opened!.stream)]);
    expect(a.bytes.equals(layer.bytes)).toBe(true);
    expect(b.bytes.equals(layer.bytes)).toBe(true);
    await first.done;
    stats.mockRestore();
    links.mockRestore();
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
  });

  it('shares one upstream GET between 5 concurrent opens, and every caller gets the right bytes', async () => {
    // Each caller reads its stream as soon as it has it, like a route piping to its response.
    const callers = Array.from({ length: 5 }, async () => {
      const blob = await f.registry.openBlob('up/foo', layer.digest);
      return { blob, read: await readStream(blob.stream) };
    });
    const results = await Promise.all(callers);
    for (const { read } of results) {
      expect(read.error).toBeUndefined();
      expect(read.bytes.equals(layer.bytes)).toBe(true);
    }
    expect(results.map((r) => r.blob.cache)).toEqual(Array(5).fill('miss'));
    // One caller led the fetch; the others tapped it live (done: 0 bytes fetched) or read the committed copy (no done).
    const fetched = await Promise.all(results.map((r) => (r.blob.done as Promise<{ bytesFetched: number }> | undefined) ?? Promise.resolve({ bytesFetched: 0 })));
    expect(fetched.map((d) => d.bytesFetched).sort((a, b) => b - a)).toEqual([LAYER_SIZE, 0, 0, 0, 0]);
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
    expect(f.registry.blobs.isInFlight(layer.digest)).toBe(false);
  });

  it('never completes a corrupted blob, commits nothing, and succeeds once the upstream is fixed', async () => {
    f.upstream.blobFault = 'corrupt';
    const bad = await f.registry.openBlob('up/foo', layer.digest);
    const read = await readStream(bad.stream);
    expect(read.error).toBeInstanceOf(DigestMismatchError);
    expect(read.bytes.length).toBeLessThan(LAYER_SIZE);
    await expect(bad.done).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await f.store.statBlob(layer.digest)).toBeUndefined();
    expect(f.registry.blobs.isInFlight(layer.digest)).toBe(false);

    f.upstream.blobFault = 'none';
    const good = await f.registry.openBlob('up/foo', layer.digest);
    expect(good.cache).toBe('miss');
    expect((await readStream(good.stream)).bytes.equals(layer.bytes)).toBe(true);
    await good.done;
    expect(await f.store.statBlob(layer.digest)).toEqual({ size: LAYER_SIZE });
    expect(f.upstream.count('blobs', 'GET')).toBe(2);
    // The observer saw: the manifest miss (beforeEach), two blob misses, and one digest-mismatch failure.
    expect(f.observed.served).toEqual([
      ['test-rule', 'miss'],
      ['test-rule', 'miss'],
      ['test-rule', 'miss'],
    ]);
    expect(f.observed.failures.map(([rule, category]) => [rule, category])).toEqual([['test-rule', 'digest-mismatch']]);
  });

  it('fails every concurrent caller of a corrupted blob', async () => {
    f.upstream.blobFault = 'corrupt';
    const attempts = Array.from({ length: 3 }, async () => {
      const blob = await f.registry.openBlob('up/foo', layer.digest);
      const read = await readStream(blob.stream);
      if (read.error) throw read.error;
      return read.bytes;
    });
    const results = await Promise.allSettled(attempts);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(DigestMismatchError);
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
    expect(await f.store.statBlob(layer.digest)).toBeUndefined();
  });

  it('errors the stream when the upstream cuts the body short, and commits nothing', async () => {
    f.upstream.blobFault = 'truncate';
    const cut = await f.registry.openBlob('up/foo', layer.digest);
    expect(cut.size).toBe(LAYER_SIZE);
    const read = await readStream(cut.stream);
    expect(read.error).toBeInstanceOf(UpstreamUnavailableError);
    expect(read.bytes.length).toBeLessThan(LAYER_SIZE);
    await expect(cut.done).rejects.toBeInstanceOf(UpstreamUnavailableError);
    expect(await f.store.statBlob(layer.digest)).toBeUndefined();

    f.upstream.blobFault = 'none';
    const good = await f.registry.openBlob('up/foo', layer.digest);
    expect((await readStream(good.stream)).bytes.equals(layer.bytes)).toBe(true);
    await good.done;
    expect(await f.store.statBlob(layer.digest)).toEqual({ size: LAYER_SIZE });
  });

  it('fails an open with the upstream error when the upstream answers 503, committing nothing', async () => {
    f.upstream.unavailable = true;
    await expect(f.registry.openBlob('up/foo', layer.digest)).rejects.toBeInstanceOf(UpstreamUnavailableError);
    expect(await f.store.statBlob(layer.digest)).toBeUndefined();
    expect(f.registry.blobs.isInFlight(layer.digest)).toBe(false);
  });

  it('answers blob unknown for a blob the upstream does not have, leaving no temporary object behind', async () => {
    const missing = f.upstream.putBlob(Buffer.from('elsewhere'));
    f.upstream.forgetBlob(missing);
    // The store's object is opened while the upstream is asked: by the time the error is seen it is gone.
    await expect(f.registry.openBlob('up/foo', missing)).rejects.toBeInstanceOf(BlobUnknownError);
    expect(await readdir(join(f.dataDir, '_uploads')).catch(() => [])).toEqual([]);
    expect(await f.store.statBlob(missing)).toBeUndefined();
  });

  it.each([
    ['closed range', { start: 10, end: 19 }, 10, 19],
    ['open range', { start: LAYER_SIZE - 5 }, LAYER_SIZE - 5, LAYER_SIZE - 1],
    ['suffix larger than the blob', { suffix: LAYER_SIZE * 2 }, 0, LAYER_SIZE - 1],
  ])('serves a %s on a miss (streamed from the fetch that commits the whole blob) and on a hit', async (_why, range, start, end) => {
    const miss = await f.registry.openBlob('up/foo', layer.digest, range);
    expect(miss).toMatchObject({ cache: 'miss', size: LAYER_SIZE, range: { start, end } });
    expect((await readStream(miss.stream)).bytes.equals(layer.bytes.subarray(start, end + 1))).toBe(true);
    // The range streams as its bytes arrive; the one fetch goes on and commits the whole blob.
    await miss.done;
    expect(await f.store.statBlob(layer.digest)).toEqual({ size: LAYER_SIZE });

    const hit = await f.registry.openBlob('up/foo', layer.digest, range);
    expect(hit).toMatchObject({ cache: 'hit', range: { start, end } });
    expect((await readStream(hit.stream)).bytes.equals(layer.bytes.subarray(start, end + 1))).toBe(true);
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
  });

  it('rejects an unsatisfiable range with 416', async () => {
    await expect(f.registry.openBlob('up/foo', layer.digest, { start: LAYER_SIZE })).rejects.toBeInstanceOf(RangeInvalidError);
    // The size came with the upstream GET, which goes on: the blob is cached all the same.
    await f.registry.blobs.settle();
    expect(await f.store.statBlob(layer.digest)).toEqual({ size: LAYER_SIZE });
    expect(f.upstream.count('blobs', 'GET')).toBe(1);
  });
});

describe('PullThroughRegistry.statBlob', () => {
  it('asks the upstream with HEAD on a miss without fetching the bytes', async () => {
    await expect(f.registry.statBlob('up/foo', layer.digest)).resolves.toEqual({ size: LAYER_SIZE, cache: 'miss' });
    expect(f.upstream.requests).toEqual([{ method: 'HEAD', path: `/v2/foo/blobs/${layer.digest}` }]);
    expect(await f.store.statBlob(layer.digest)).toBeUndefined();
  });
});
