import { BlobUnknownError, ManifestUnknownError, MediaType, NameUnknownError, digestOf, type Digest } from '@pullthrough/oci';
import { readStream, startRegistry, type RegistryFixture } from '../test/registry-fixture.js';
import type { PushedImage } from '../test/tiny-upstream.js';

let f: RegistryFixture;
let image: PushedImage;

beforeEach(async () => {
  f = await startRegistry();
  // The upstream has this content, but no rule maps `other/foo` (or `upx/foo`) to it.
  image = f.upstream.pushImage('foo', ['latest'], 'unmatched');
});

afterEach(async () => {
  await f.close();
});

describe('PullThroughRegistry without a matching rule', () => {
  it.each(['other/foo', 'upx/foo', 'foo'])('answers unknown for %s and never contacts the upstream', async (repository) => {
    const digest = image.digest;
    const layer = image.layers[0]!.digest;
    await expect(f.registry.getManifest(repository, { kind: 'tag', tag: 'latest' })).rejects.toBeInstanceOf(ManifestUnknownError);
    await expect(f.registry.getManifest(repository, { kind: 'digest', digest })).rejects.toBeInstanceOf(ManifestUnknownError);
    await expect(f.registry.openBlob(repository, layer)).rejects.toBeInstanceOf(BlobUnknownError);
    await expect(f.registry.openBlob(repository, layer, { start: 0 })).rejects.toBeInstanceOf(BlobUnknownError);
    await expect(f.registry.statBlob(repository, layer)).rejects.toBeInstanceOf(BlobUnknownError);
    await expect(f.registry.listTags(repository)).rejects.toBeInstanceOf(NameUnknownError);
    expect(f.upstream.requests).toEqual([]);
    expect(f.hydration.jobs).toEqual([]);
  });

  it('serves a plain local repository as local, without the upstream', async () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }));
    const digest = digestOf(bytes);
    await f.store.putManifest('local/app', { digest, mediaType: MediaType.OciIndex, bytes });
    await f.store.putTag('local/app', 'v1', digest, new Date(0));

    await expect(f.registry.getManifest('local/app', { kind: 'tag', tag: 'v1' })).resolves.toMatchObject({ cache: 'local', digest });
    await expect(f.registry.getManifest('local/app', { kind: 'digest', digest })).resolves.toMatchObject({ cache: 'local', digest });
    await expect(f.registry.listTags('local/app')).resolves.toEqual({ tags: ['v1'], cache: 'local' });
    expect(f.upstream.requests).toEqual([]);
  });

  it('does not serve a blob by digest from a repository it is not linked to', async () => {
    await f.registry.getManifest('up/foo', { kind: 'tag', tag: 'latest' });
    const config = image.config.digest;
    const miss = await f.registry.openBlob('up/foo', config);
    await readStream(miss.stream);
    await miss.done; // the commit settles after the client has every (verified) byte
    expect(await f.store.statBlob(config)).toBeDefined();
    f.upstream.clearRequests();

    await expect(f.registry.openBlob('other/foo', config)).rejects.toBeInstanceOf(BlobUnknownError);
    expect(f.upstream.requests).toEqual([]);
  });
});

describe('PullThroughRegistry listings', () => {
  it('lists the local tags of a cached repository whose upstream has no tags/list; unknown when neither has the repository', async () => {
    await f.registry.getManifest('up/foo', { kind: 'tag', tag: 'latest' });
    await expect(f.registry.listTags('up/foo')).resolves.toEqual({ tags: ['latest'], cache: 'miss' });
    await expect(f.registry.listTags('up/bar')).rejects.toBeInstanceOf(NameUnknownError);
    await expect(f.registry.listRepositories()).resolves.toEqual(['up/foo']);
  });

  it('lists referrers recorded on import, filtered by artifact type', async () => {
    const sbomType = 'application/vnd.example.sbom+json';
    const referrer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: sbomType,
        config: { mediaType: MediaType.OciEmpty, digest: digestOf(Buffer.from('{}')), size: 2 },
        layers: [],
        subject: { mediaType: MediaType.OciManifest, digest: image.digest, size: image.bytes.length },
      }),
    );
    const referrerDigest: Digest = digestOf(referrer);
    f.upstream.serveManifest('foo', referrerDigest, referrer);
    await f.registry.getManifest('up/foo', { kind: 'digest', digest: referrerDigest });

    const all = (await f.registry.listReferrers('up/foo', image.digest)).manifests;
    expect(all).toEqual([expect.objectContaining({ digest: referrerDigest, artifactType: sbomType, size: referrer.length })]);
    expect((await f.registry.listReferrers('up/foo', image.digest, sbomType)).manifests).toHaveLength(1);
    expect((await f.registry.listReferrers('up/foo', image.digest, 'application/other')).manifests).toEqual([]);
  });
});
