import { DigestMismatchError, ManifestUnknownError, MediaType, digestOf, type Digest, type Reference } from '@pullthrough/oci';
import { waitUntil } from '@pullthrough/test-support';
import { RULE_NAME, readStream, startRegistry, type RegistryFixture } from '../test/registry-fixture.js';

const latest: Reference = { kind: 'tag', tag: 'latest' };
let f: RegistryFixture;

/** The image's config, fetched ahead of the client (prefetch), is stored and linked. */
const configLinked = (repository: string, digest: Digest) => waitUntil(() => f.store.isBlobLinked(repository, digest), { what: `config ${digest} linked to ${repository}`, timeoutMs: 10_000 });
const blobGets = () => f.upstream.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));

afterEach(async () => {
  await f.close();
});

describe('PullThroughRegistry.getManifest by tag', () => {
  it('stores manifest + tag on a miss, enqueues one hydration job, then serves the fresh tag locally', async () => {
    f = await startRegistry({ tagFreshnessSeconds: 300 });
    const image = f.upstream.pushImage('foo', ['latest'], 'miss');

    const first = await f.registry.getManifest('up/foo', latest, { requestId: 'req-1' });
    expect(first).toMatchObject({ cache: 'miss', digest: image.digest, mediaType: MediaType.OciManifest, size: image.bytes.length });
    expect(first.bytes.equals(image.bytes)).toBe(true);
    expect(f.upstream.count('manifests', 'GET')).toBe(1);
    // The one blob asked for is the image's config, fetched ahead of the client.
    await configLinked('up/foo', image.config.digest);
    expect(blobGets()).toEqual([{ method: 'GET', path: `/v2/foo/blobs/${image.config.digest}` }]);

    expect((await f.store.getTag('up/foo', 'latest'))?.digest).toBe(image.digest);
    expect((await f.store.getManifest('up/foo', image.digest))?.bytes.equals(image.bytes)).toBe(true);
    // Listed blobs are not linked by the manifest: the upstream serves or confirms each one when it is asked for.
    expect(await f.store.isBlobLinked('up/foo', image.layers[0]!.digest)).toBe(false);
    expect(f.hydration.jobs).toEqual([
      expect.objectContaining({
        ruleName: RULE_NAME,
        digest: image.digest,
        tag: 'latest',
        downstreamRepository: 'up/foo',
        upstreamRegistry: f.upstream.host,
        upstreamRepository: 'foo',
        platforms: 'pulled',
        requestId: 'req-1',
      }),
    ]);

    f.upstream.clearRequests();
    const second = await f.registry.getManifest('up/foo', latest);
    expect(second.cache).toBe('hit');
    expect(second.digest).toBe(image.digest);
    expect(f.upstream.requests).toEqual([]);
    expect(f.hydration.jobs).toHaveLength(1);
  });

  it('a manifest the store fails to keep is not returned, and its tag (written meanwhile) never appears; the next pull stores both', async () => {
    f = await startRegistry({ tagFreshnessSeconds: 300 });
    const image = f.upstream.pushImage('foo', ['latest'], 'store-fails');
    const put = f.store.putManifest.bind(f.store);
    const puts = jest.spyOn(f.store, 'putManifest').mockImplementationOnce(async () => {
      // Slow enough for the tag's link to be written and flushed before the manifest fails.
      await new Promise((r) => setTimeout(r, 50));
      throw new Error('storage unavailable');
    });
    await expect(f.registry.getManifest('up/foo', latest)).rejects.toThrow('storage unavailable');
    expect(await f.store.getTag('up/foo', 'latest')).toBeUndefined();
    expect(await f.store.getManifest('up/foo', image.digest)).toBeUndefined();
    puts.mockImplementation(put);
    expect((await f.registry.getManifest('up/foo', latest)).cache).toBe('miss');
    expect((await f.store.getTag('up/foo', 'latest'))?.digest).toBe(image.digest);
    puts.mockRestore();
  });

  it('a tag write that fails at once does not end the import before the manifest is stored', async () => {
    f = await startRegistry({ tagFreshnessSeconds: 300 });
    const image = f.upstream.pushImage('foo', ['latest'], 'tag-fails');
    const put = f.store.putManifest.bind(f.store);
    const puts = jest.spyOn(f.store, 'putManifest').mockImplementationOnce(async (...args) => {
      await new Promise((r) => setTimeout(r, 100));
      return put(...args);
    });
    const tags = jest.spyOn(f.store, 'putTag').mockRejectedValueOnce(new Error('disk full'));
    await expect(f.registry.getManifest('up/foo', latest)).rejects.toThrow('disk full');
    // The manifest's store had finished when the error was answered.
    expect(await f.store.getManifest('up/foo', image.digest)).toBeDefined();
    expect(await f.store.getTag('up/foo', 'latest')).toBeUndefined();
    puts.mockRestore();
    tags.mockRestore();
  });

  it('revalidates a stale tag with one HEAD and refreshes it when the digest is unchanged', async () => {
    f = await startRegistry({ tagFreshnessSeconds: 0 });
    const image = f.upstream.pushImage('foo', ['latest'], 'same');
    await f.registry.getManifest('up/foo', latest);
    const before = (await f.store.getTag('up/foo', 'latest'))!.checkedAt;
    f.upstream.clearRequests();

    const again = await f.registry.getManifest('up/foo', latest);
    expect(again).toMatchObject({ cache: 'revalidated', digest: image.digest });
    expect(f.upstream.requests).toEqual([{ method: 'HEAD', path: '/v2/foo/manifests/latest' }]);
    expect((await f.store.getTag('up/foo', 'latest'))!.checkedAt.getTime()).toBeGreaterThanOrEqual(before.getTime());
    expect(f.hydration.jobs).toHaveLength(1);
  });

  it('fetches the new manifest when the upstream tag moved', async () => {
    f = await startRegistry({ tagFreshnessSeconds: 0 });
    const old = f.upstream.pushImage('foo', ['latest'], 'old');
    await f.registry.getManifest('up/foo', latest);
    await configLinked('up/foo', old.config.digest);
    const moved = f.upstream.pushImage('foo', ['latest'], 'new');
    f.upstream.clearRequests();

    const again = await f.registry.getManifest('up/foo', latest);
    expect(again).toMatchObject({ cache: 'miss', digest: moved.digest });
    await configLinked('up/foo', moved.config.digest);
    expect(f.upstream.requests).toEqual([
      { method: 'HEAD', path: '/v2/foo/manifests/latest' },
      { method: 'GET', path: '/v2/foo/manifests/latest' },
      { method: 'GET', path: `/v2/foo/blobs/${moved.config.digest}` },
    ]);
    expect((await f.store.getTag('up/foo', 'latest'))?.digest).toBe(moved.digest);
    expect(await f.store.getManifest('up/foo', old.digest)).toBeDefined();
    expect(f.hydration.jobs.map((j) => [j.digest, j.tag])).toEqual([
      [old.digest, 'latest'],
      [moved.digest, 'latest'],
    ]);
  });

  it('serves a stale tag with a reason when the upstream answers 503', async () => {
    f = await startRegistry({ tagFreshnessSeconds: 0 });
    const image = f.upstream.pushImage('foo', ['latest'], 'stale');
    await f.registry.getManifest('up/foo', latest);
    f.upstream.unavailable = true;
    f.upstream.clearRequests();

    const stale = await f.registry.getManifest('up/foo', latest);
    expect(stale).toMatchObject({ cache: 'stale', digest: image.digest });
    expect(stale.bytes.equals(image.bytes)).toBe(true);
    expect(stale.staleReason).toMatch(/upstream-unavailable/);
    expect(stale.staleReason).toMatch(/503/);
    expect(f.upstream.requests).toEqual([{ method: 'HEAD', path: '/v2/foo/manifests/latest' }]);
    expect(f.hydration.jobs).toHaveLength(1);
  });

  it('fails a tag miss with the upstream error when the upstream answers 503', async () => {
    f = await startRegistry();
    f.upstream.pushImage('foo', ['latest'], 'down');
    f.upstream.unavailable = true;
    await expect(f.registry.getManifest('up/foo', latest)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', detail: expect.objectContaining({ rule: RULE_NAME }) });
    expect(await f.store.getTag('up/foo', 'latest')).toBeUndefined();
    expect(f.hydration.jobs).toEqual([]);
  });

  it('answers manifest unknown when the tag is gone upstream at revalidation', async () => {
    f = await startRegistry({ tagFreshnessSeconds: 0 });
    f.upstream.pushImage('foo', ['latest'], 'gone');
    await f.registry.getManifest('up/foo', latest);
    f.upstream.forget('foo', 'latest');
    f.upstream.clearRequests();
    await expect(f.registry.getManifest('up/foo', latest)).rejects.toBeInstanceOf(ManifestUnknownError);
    expect(f.upstream.requests).toEqual([{ method: 'HEAD', path: '/v2/foo/manifests/latest' }]);
  });

  it('honours the injected clock for the freshness window (the import stamps checkedAt with it too)', async () => {
    let clock = Date.parse('2031-01-01T00:00:00Z');
    f = await startRegistry({ tagFreshnessSeconds: 60, now: () => clock });
    f.upstream.pushImage('foo', ['latest'], 'clock');
    await f.registry.getManifest('up/foo', latest);
    expect((await f.store.getTag('up/foo', 'latest'))!.checkedAt.getTime()).toBe(clock);

    clock += 59_000;
    expect((await f.registry.getManifest('up/foo', latest)).cache).toBe('hit');
    clock += 2_000;
    expect((await f.registry.getManifest('up/foo', latest)).cache).toBe('revalidated');
    expect((await f.store.getTag('up/foo', 'latest'))!.checkedAt.getTime()).toBe(clock);
  });
});

describe('PullThroughRegistry.getManifest by digest', () => {
  it('never asks the upstream for a digest that is local, even while it is down', async () => {
    f = await startRegistry({ tagFreshnessSeconds: 0 });
    const image = f.upstream.pushImage('foo', ['latest'], 'local');
    await f.registry.getManifest('up/foo', latest);
    f.upstream.unavailable = true;
    f.upstream.clearRequests();

    const byDigest = await f.registry.getManifest('up/foo', { kind: 'digest', digest: image.digest });
    expect(byDigest).toMatchObject({ cache: 'hit', digest: image.digest });
    expect(f.upstream.requests).toEqual([]);
    expect(f.hydration.jobs).toHaveLength(1);
  });

  it('imports a digest miss with a GET by digest and enqueues a job without a tag', async () => {
    f = await startRegistry();
    const image = f.upstream.pushImage('foo', [], 'by-digest');
    const res = await f.registry.getManifest('up/foo', { kind: 'digest', digest: image.digest });
    expect(res).toMatchObject({ cache: 'miss', digest: image.digest });
    await configLinked('up/foo', image.config.digest);
    expect(f.upstream.requests).toEqual([
      { method: 'GET', path: `/v2/foo/manifests/${image.digest}` },
      { method: 'GET', path: `/v2/foo/blobs/${image.config.digest}` },
    ]);
    expect(f.hydration.jobs).toHaveLength(1);
    expect(f.hydration.jobs[0]).not.toHaveProperty('tag');
  });

  it.each([
    ['by digest: the bytes are not the requested digest', true],
    ['by tag: the bytes are not the Docker-Content-Digest', false],
  ])('rejects a manifest whose bytes do not match (%s) and stores nothing', async (_why, byDigest) => {
    f = await startRegistry();
    const claimed = f.upstream.pushImage('foo', [], 'claimed');
    const other = f.upstream.pushImage('bar', [], 'other');
    f.upstream.serveManifest('foo', byDigest ? claimed.digest : 'latest', other.bytes, claimed.digest);
    const reference: Reference = byDigest ? { kind: 'digest', digest: claimed.digest } : latest;

    await expect(f.registry.getManifest('up/foo', reference)).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await f.store.getManifest('up/foo', claimed.digest)).toBeUndefined();
    expect(await f.store.getManifest('up/foo', digestOf(other.bytes))).toBeUndefined();
    expect(await f.store.statBlob(digestOf(other.bytes))).toBeUndefined();
    expect(await f.store.getTag('up/foo', 'latest')).toBeUndefined();
    expect(await f.store.isBlobLinked('up/foo', other.layers[0]!.digest)).toBe(false);
    expect(f.hydration.jobs).toEqual([]);
  });
});

describe('an image manifest miss fetches its config ahead of the client', () => {
  it("the client's config request joins that fetch while it runs: one upstream GET, the bytes verified, the blob linked", async () => {
    f = await startRegistry();
    const image = f.upstream.pushImage('foo', ['latest'], 'prefetch-join');
    // Blob answers wait: the client asks for the config while its prefetch is still on its way.
    f.upstream.blobDelayMs = 300;
    await f.registry.getManifest('up/foo', latest);
    await waitUntil(async () => f.registry.blobs.isInFlight(image.config.digest), { what: 'the config prefetch to start', timeoutMs: 5_000, intervalMs: 5 });
    const config = await f.registry.openBlob('up/foo', image.config.digest);
    expect(config.cache).toBe('miss');
    const read = await readStream(config.stream);
    expect(read.error).toBeUndefined();
    expect(read.bytes.equals(image.config.bytes)).toBe(true);
    await configLinked('up/foo', image.config.digest);
    expect(blobGets()).toEqual([{ method: 'GET', path: `/v2/foo/blobs/${image.config.digest}` }]);
    // A layer is not fetched ahead.
    expect(await f.store.statBlob(image.layers[0]!.digest)).toBeUndefined();
  });

  it('not for an index, nor for a config already stored for another repository (left to the client: its upstream must confirm it), nor for one over 1 MiB', async () => {
    f = await startRegistry();
    // A config stored for another repository: the prefetch does not link it here, and makes no request.
    const shared = f.upstream.pushImage('other', ['shared'], 'stored-config');
    expect(f.upstream.pushImage('foo', ['shared'], 'stored-config').config.digest).toBe(shared.config.digest);
    await f.registry.getManifest('up/other', { kind: 'tag', tag: 'shared' });
    await configLinked('up/other', shared.config.digest);
    f.upstream.clearRequests();
    await f.registry.getManifest('up/foo', { kind: 'tag', tag: 'shared' });
    // An index: nothing to fetch ahead.
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ mediaType: MediaType.OciManifest, digest: shared.digest, size: shared.bytes.length }] }));
    f.upstream.serveManifest('foo', 'multi', index, digestOf(index), MediaType.OciIndex);
    await f.registry.getManifest('up/foo', { kind: 'tag', tag: 'multi' });
    // A config over 1 MiB (unusual) waits for the client.
    const bigConfig = Buffer.alloc(1024 * 1024 + 1, 0x20);
    const bigDigest = f.upstream.putBlob(bigConfig);
    const big = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: bigDigest, size: bigConfig.length }, layers: [] }));
    f.upstream.serveManifest('foo', 'big', big);
    await f.registry.getManifest('up/foo', { kind: 'tag', tag: 'big' });
    // Give a prefetch time to show itself (it would start within milliseconds of the manifest).
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(f.upstream.requests.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    expect(await f.store.isBlobLinked('up/foo', shared.config.digest)).toBe(false);
    expect(await f.store.statBlob(bigDigest)).toBeUndefined();
  });
});
