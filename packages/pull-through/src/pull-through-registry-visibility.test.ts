import { BlobUnknownError, digestOf, ManifestInvalidError, MediaType, type Digest, type Reference } from '@pullthrough/oci';
import { readStream, RULE_NAME, startRegistry, type RegistryFixture } from '../test/registry-fixture.js';
import { blobBytes, type PushedImage } from '../test/tiny-upstream.js';

// Per-repository blob visibility: a blob stored for one repository is served to another only when
// that repository's upstream has it (a HEAD confirms it; no second download).

const LAYER_SIZE = 1024 * 1024 + 7;
const latest: Reference = { kind: 'tag', tag: 'latest' };
let f: RegistryFixture;
let layer: PushedImage['layers'][number];

/** Pull `up/foo:latest` and its layer, so the layer is stored and linked to `up/foo` only. */
beforeEach(async () => {
  f = await startRegistry();
  layer = f.upstream.pushImage('foo', ['latest'], 'visibility', [LAYER_SIZE]).layers[0]!;
  await f.registry.getManifest('up/foo', latest);
  const first = await f.registry.openBlob('up/foo', layer.digest);
  expect((await readStream(first.stream)).bytes.equals(layer.bytes)).toBe(true);
  await first.done;
  f.upstream.clearRequests();
});

afterEach(async () => {
  await f.close();
});

const blobPath = (repository: string, digest: Digest) => `/v2/${repository}/blobs/${digest}`;

describe('a blob stored for another repository', () => {
  it('is not linked because another upstream repository\'s manifest lists it: pulling that manifest links nothing, the blob still needs a confirmation the upstream refuses', async () => {
    // An upstream repository whose manifest lists a digest it does not hold (an attacker who learned it).
    f.upstream.restrictBlob(layer.digest, ['foo']);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: layer.digest, size: LAYER_SIZE },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: LAYER_SIZE }],
      }),
    );
    f.upstream.serveManifest('evil', 'v1', manifest);
    await f.registry.getManifest('up/evil', { kind: 'tag', tag: 'v1' });
    expect(await f.store.isBlobLinked('up/evil', layer.digest)).toBe(false);
    await expect(f.registry.openBlob('up/evil', layer.digest)).rejects.toBeInstanceOf(BlobUnknownError);
    await expect(f.registry.openBlob('up/evil', layer.digest, { start: 0 })).rejects.toBeInstanceOf(BlobUnknownError);
    expect(await f.store.isBlobLinked('up/evil', layer.digest)).toBe(false);
    expect(f.upstream.requests.filter((r) => r.path.includes('/blobs/')).map((r) => r.method)).toEqual(['HEAD', 'HEAD']);
  });

  it('is unknown to a repository whose upstream does not have it (GET, ranged GET, HEAD): one upstream HEAD each, nothing linked', async () => {
    f.upstream.restrictBlob(layer.digest, ['foo']);
    await expect(f.registry.openBlob('up/bar', layer.digest)).rejects.toBeInstanceOf(BlobUnknownError);
    await expect(f.registry.openBlob('up/bar', layer.digest, { start: 0 })).rejects.toBeInstanceOf(BlobUnknownError);
    await expect(f.registry.statBlob('up/bar', layer.digest)).rejects.toBeInstanceOf(BlobUnknownError);
    expect(await f.store.isBlobLinked('up/bar', layer.digest)).toBe(false);
    const head = { method: 'HEAD', path: blobPath('bar', layer.digest) };
    expect(f.upstream.requests).toEqual([head, head, head]);
  });

  it('the refusal names the rule and the upstream, never the repository that has the blob', async () => {
    f.upstream.restrictBlob(layer.digest, ['foo']);
    const err = (await f.registry.openBlob('up/bar', layer.digest).catch((e: unknown) => e)) as BlobUnknownError;
    expect(err).toBeInstanceOf(BlobUnknownError);
    // Exactly what a digest the cache does not hold answers (no oracle for what is stored).
    expect(err.message).toBe(`blob ${layer.digest} not found upstream`);
    expect(err.detail).toEqual({ rule: RULE_NAME, upstream: `${f.upstream.host}/bar` });
    expect(JSON.stringify(err.detail)).not.toContain('foo');
  });

  it('is unknown to a local repository (no rule), with no upstream request', async () => {
    await expect(f.registry.openBlob('local/thing', layer.digest)).rejects.toBeInstanceOf(BlobUnknownError);
    await expect(f.registry.openBlob('local/thing', layer.digest, { start: 0 })).rejects.toBeInstanceOf(BlobUnknownError);
    await expect(f.registry.statBlob('local/thing', layer.digest)).rejects.toBeInstanceOf(BlobUnknownError);
    expect(await f.store.isBlobLinked('local/thing', layer.digest)).toBe(false);
    expect(f.upstream.requests).toEqual([]);
  });

  it.each([
    ['GET', undefined],
    ['ranged GET', { start: 5, end: 9 }],
  ])('a %s confirmed by the repository upstream HEAD is served locally without a second download, and linked', async (_what, range) => {
    const blob = await f.registry.openBlob('up/bar', layer.digest, range);
    expect(blob.cache).toBe('revalidated');
    expect(blob.done).toBeUndefined();
    const expected = range ? layer.bytes.subarray(range.start, range.end + 1) : layer.bytes;
    expect((await readStream(blob.stream)).bytes.equals(expected)).toBe(true);
    expect(f.upstream.requests).toEqual([{ method: 'HEAD', path: blobPath('bar', layer.digest) }]);
    expect(await f.store.isBlobLinked('up/bar', layer.digest)).toBe(true);

    f.upstream.clearRequests();
    const again = await f.registry.openBlob('up/bar', layer.digest);
    expect(again.cache).toBe('hit');
    expect((await readStream(again.stream)).bytes.equals(layer.bytes)).toBe(true);
    expect(f.upstream.requests).toEqual([]);
  });

  it('a HEAD confirmed by the upstream answers the stored size and links it; the next HEAD is local', async () => {
    await expect(f.registry.statBlob('up/bar', layer.digest)).resolves.toEqual({ size: LAYER_SIZE, cache: 'revalidated' });
    expect(f.upstream.requests).toEqual([{ method: 'HEAD', path: blobPath('bar', layer.digest) }]);
    expect(await f.store.isBlobLinked('up/bar', layer.digest)).toBe(true);
    f.upstream.clearRequests();
    await expect(f.registry.statBlob('up/bar', layer.digest)).resolves.toEqual({ size: LAYER_SIZE, cache: 'hit' });
    expect(f.upstream.requests).toEqual([]);
  });

  it('is not confirmed when the upstream HEAD gives another size', async () => {
    f.upstream.blobFault = 'head-size';
    const err = (await f.registry.openBlob('up/bar', layer.digest).catch((e: unknown) => e)) as BlobUnknownError;
    expect(err).toBeInstanceOf(BlobUnknownError);
    expect((err.detail as { reason: string }).reason).toBe(`upstream size ${LAYER_SIZE + 1} differs from ${LAYER_SIZE}`);
    expect(await f.store.isBlobLinked('up/bar', layer.digest)).toBe(false);
  });

  it('concurrent requests of one repository share one upstream HEAD', async () => {
    const reads = await Promise.all(
      Array.from({ length: 6 }, async () => (await readStream((await f.registry.openBlob('up/bar', layer.digest)).stream)).bytes),
    );
    for (const bytes of reads) expect(bytes.equals(layer.bytes)).toBe(true);
    expect(f.upstream.requests).toEqual([{ method: 'HEAD', path: blobPath('bar', layer.digest) }]);
  });
});

describe('concurrent misses', () => {
  let fresh: { digest: Digest; bytes: Buffer };
  beforeEach(() => {
    const bytes = blobBytes(LAYER_SIZE, 'concurrent');
    fresh = { digest: f.upstream.putBlob(bytes), bytes };
    f.upstream.blobDelayMs = 100;
  });

  it('under two repositories make one upstream GET each (never joining the other repository fetch); each is linked', async () => {
    const opens = ['up/foo', 'up/bar', 'up/foo', 'up/bar'].map(async (repository) => {
      const blob = await f.registry.openBlob(repository, fresh.digest);
      return (await readStream(blob.stream)).bytes;
    });
    for (const bytes of await Promise.all(opens)) expect(bytes.equals(fresh.bytes)).toBe(true);
    await f.registry.blobs.settle();
    expect(f.upstream.requests.filter((r) => r.method === 'GET').map((r) => r.path).sort()).toEqual([blobPath('bar', fresh.digest), blobPath('foo', fresh.digest)]);
    expect(await f.store.isBlobLinked('up/foo', fresh.digest)).toBe(true);
    expect(await f.store.isBlobLinked('up/bar', fresh.digest)).toBe(true);
  });

  it('of one repository (a herd of 20, ranged and not) make exactly one upstream GET', async () => {
    const opens = Array.from({ length: 20 }, async (_, i) => {
      const blob = await f.registry.openBlob('up/foo', fresh.digest, i % 2 ? { start: 0 } : undefined);
      return (await readStream(blob.stream)).bytes;
    });
    for (const bytes of await Promise.all(opens)) expect(bytes.equals(fresh.bytes)).toBe(true);
    expect(f.upstream.requests).toEqual([{ method: 'GET', path: blobPath('foo', fresh.digest) }]);
    // Live clients have every byte before the commit finishes.
    await f.registry.blobs.settle();
  });

  it('a ranged miss links the blob once', async () => {
    const links = jest.spyOn(f.store, 'linkBlob');
    const blob = await f.registry.openBlob('up/qux', fresh.digest, { start: 10, end: 19 });
    expect(blob).toMatchObject({ cache: 'miss', range: { start: 10, end: 19 } });
    expect((await readStream(blob.stream)).bytes.equals(fresh.bytes.subarray(10, 20))).toBe(true);
    // The range went out as it arrived; the fetch goes on to the end, then commits and links.
    await blob.done;
    expect(links.mock.calls).toEqual([['up/qux', fresh.digest]]);
    expect(f.upstream.requests).toEqual([{ method: 'GET', path: blobPath('qux', fresh.digest) }]);
  });
});

describe('the descriptor cap on upstream manifests', () => {
  it('refuses a manifest listing more than 4,096 layers, naming the rule, and stores and links nothing', async () => {
    const config = f.upstream.putBlob(Buffer.from('{}'));
    const many = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: config, size: 2 },
      layers: Array.from({ length: 4097 }, () => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: LAYER_SIZE })),
    };
    const bytes = Buffer.from(JSON.stringify(many));
    f.upstream.serveManifest('many', 'latest', bytes);
    const err = (await f.registry.getManifest('up/many', latest).catch((e: unknown) => e)) as ManifestInvalidError;
    expect(err).toBeInstanceOf(ManifestInvalidError);
    expect(err.message).toBe('manifest lists 4097 layers; at most 4096 are accepted');
    expect(err.detail).toMatchObject({ reason: 'too many layers', limit: 4096, rule: RULE_NAME, upstream: `${f.upstream.host}/many` });
    expect(await f.store.getTag('up/many', 'latest')).toBeUndefined();
    expect(await f.store.getManifest('up/many', digestOf(bytes))).toBeUndefined();
    expect(await f.store.statBlob(digestOf(bytes))).toBeUndefined();
    expect(await f.store.isBlobLinked('up/many', layer.digest)).toBe(false);
    expect(await f.store.isBlobLinked('up/many', config)).toBe(false);
    expect(f.hydration.jobs.filter((j) => j.downstreamRepository === 'up/many')).toEqual([]);
  });
});
