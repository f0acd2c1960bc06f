import { acceptsMediaType, blobDescriptors, digestOf, ManifestInvalidError, MAX_MANIFEST_DESCRIPTORS, MediaType, parseManifest } from './index.js';

const d = (c: string) => digestOf(Buffer.from(c));

describe('parseManifest', () => {
  test('image manifest', () => {
    const doc = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: d('c'), size: 1 }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('l'), size: 2 }] };
    const m = parseManifest(Buffer.from(JSON.stringify(doc)));
    expect(m.isIndex).toBe(false);
    expect(blobDescriptors(m).map((x) => x.digest)).toEqual([d('c'), d('l')]);
  });
  test('index without mediaType is inferred from shape', () => {
    const doc = { schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, digest: d('m'), size: 3, platform: { os: 'linux', architecture: 'arm64' } }] };
    const m = parseManifest(Buffer.from(JSON.stringify(doc)));
    expect(m.isIndex).toBe(true);
    expect(m.manifests[0]!.platform?.architecture).toBe('arm64');
  });
  test.each([
    ['not json', '{'],
    ['schema 1', JSON.stringify({ schemaVersion: 1, mediaType: MediaType.OciManifest })],
    ['bad digest', JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: 'x', digest: 'sha256:1', size: 1 }, layers: [] })],
    ['unknown type', JSON.stringify({ schemaVersion: 2, mediaType: 'text/plain' })],
  ])('%s is rejected', (_n, body) => {
    expect(() => parseManifest(Buffer.from(body))).toThrow(ManifestInvalidError);
  });
});

describe('the descriptor cap', () => {
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('l'), size: 2 };
  const image = (layers: number) =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: d('c'), size: 1 }, layers: Array(layers).fill(layer) }));
  const index = (children: number) =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: Array(children).fill({ mediaType: MediaType.OciManifest, digest: d('m'), size: 3 }) }));

  test('is 4096 layers or child manifests', () => {
    expect(MAX_MANIFEST_DESCRIPTORS).toBe(4096);
  });

  test.each([
    ['an image with', image, 'layers'],
    ['an index with', index, 'manifests'],
  ])('%s exactly the cap is accepted; one more is refused, saying how many and the limit', (_what, build, list) => {
    const atCap = parseManifest(build(MAX_MANIFEST_DESCRIPTORS));
    expect(list === 'layers' ? atCap.layers.length : atCap.manifests.length).toBe(MAX_MANIFEST_DESCRIPTORS);
    let caught: unknown;
    try {
      parseManifest(build(MAX_MANIFEST_DESCRIPTORS + 1));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ManifestInvalidError);
    expect((caught as ManifestInvalidError).message).toBe(`manifest lists 4097 ${list}; at most 4096 are accepted`);
    expect((caught as ManifestInvalidError).detail).toEqual({ reason: `too many ${list}`, count: 4097, limit: 4096 });
  });
});

describe('acceptsMediaType', () => {
  test('no header or wildcard accepts', () => {
    expect(acceptsMediaType(undefined, MediaType.OciIndex)).toBe(true);
    expect(acceptsMediaType('*/*', MediaType.OciIndex)).toBe(true);
  });
  test('explicit list', () => {
    expect(acceptsMediaType(`${MediaType.DockerManifest}, ${MediaType.OciManifest};q=0.5`, MediaType.OciManifest)).toBe(true);
    expect(acceptsMediaType(MediaType.DockerManifest, MediaType.OciIndex)).toBe(false);
  });
});
