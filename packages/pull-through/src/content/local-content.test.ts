import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestOf, MediaType, RegistryError, toWireError, wireErrorBody, type Digest, type Reference } from '@pullthrough/oci';
import { startRegistry, type RegistryFixture } from '../../test/registry-fixture.js';
import { blobBytes, type PushedImage } from '../../test/tiny-upstream.js';
import { LocalContent } from './local-content.js';
import { PullThroughContent } from './pull-through-content.js';
import type { RepositoryContent } from './repository-content.js';

// A repository no rule maps is LocalContent: storage only. The tiny upstream holds an image under
// the same repository names and records every request, so any upstream contact would show.

let f: RegistryFixture;
let image: PushedImage;

beforeAll(async () => {
  f = await startRegistry();
  image = f.upstream.pushImage('app', ['v1'], 'local-content');
});

afterAll(async () => {
  await f.close();
});

beforeEach(() => f.upstream.clearRequests());

/** Collects what a body writes, like a response. */
class Sink extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk);
    callback();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

async function storeBlob(repository: string, bytes: Buffer): Promise<Digest> {
  const writer = await f.store.createBlobWriter({ digest: digestOf(bytes), size: bytes.length });
  await pipeline(Readable.from([bytes]), writer);
  const { digest } = await writer.commit();
  await f.store.linkBlob(repository, digest);
  return digest;
}

/** The error a call rejects with, as the client would see it on the wire. */
async function wire(call: Promise<unknown>): Promise<{ status: number; body: unknown }> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  const mapped = toWireError(err);
  return { status: mapped.status, body: wireErrorBody(mapped) };
}

describe('LocalContent (a repository no rule maps)', () => {
  it('is what contentFor picks without a rule, and a PullThroughContent with one', () => {
    expect(f.registry.contentFor('app')).toBeInstanceOf(LocalContent);
    expect(f.registry.contentFor('team/app')).toBeInstanceOf(LocalContent);
    expect(f.registry.contentFor('up/app')).toBeInstanceOf(PullThroughContent);
    expect(f.registry.contentFor('up/app').repository).toBe('up/app');
  });

  it('answers 404s in OCI format for everything it does not hold, and never contacts the upstream (which has it)', async () => {
    const content: RepositoryContent = f.registry.contentFor('app', { client: 'someone' });
    const layer = image.layers[0]!.digest;
    const tag: Reference = { kind: 'tag', tag: 'v1' };
    expect(await wire(content.getManifest(tag))).toEqual({
      status: 404,
      body: { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { repository: 'app', tag: 'v1' } }] },
    });
    expect(await wire(content.getManifest({ kind: 'digest', digest: image.digest }))).toEqual({
      status: 404,
      body: { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { repository: 'app', digest: image.digest } }] },
    });
    const blobUnknown = { status: 404, body: { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry', detail: { repository: 'app', digest: layer } }] } };
    expect(await wire(content.openBlob(layer))).toEqual(blobUnknown);
    expect(await wire(content.openBlob(layer, { start: 0, end: 9 }))).toEqual(blobUnknown);
    expect(await wire(content.statBlob(layer))).toEqual(blobUnknown);
    expect(await content.blobLocation(layer)).toBeUndefined();
    expect(await wire(content.listTags())).toEqual({
      status: 404,
      body: { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry', detail: { name: 'app' } }] },
    });
    expect(await content.listReferrers(image.digest)).toEqual({ manifests: [], cache: 'local' });
    expect(f.upstream.requests).toEqual([]);
    expect(f.hydration.jobs.filter((j) => j.downstreamRepository === 'app')).toEqual([]);
  });

  it('serves what storage holds for it (manifests by tag and digest, blobs whole and ranged, tags, referrers) as local', async () => {
    const repository = 'local/served';
    const bytes = blobBytes(100_000, 'local-served');
    const digest = await storeBlob(repository, bytes);
    const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }));
    const manifestDigest = digestOf(manifestBytes);
    await f.store.putManifest(repository, { digest: manifestDigest, mediaType: MediaType.OciIndex, bytes: manifestBytes });
    await f.store.putTag(repository, 'v2', manifestDigest, new Date(0));
    await f.store.putTag(repository, 'v1', manifestDigest, new Date(0));
    const referrer = { mediaType: MediaType.OciManifest, digest: digestOf(Buffer.from('sig')), size: 3, artifactType: 'application/example' };
    await f.store.addReferrer(repository, manifestDigest, referrer);
    const content = f.registry.contentFor(repository);

    // A tag checked long ago is still served: a local repository has no upstream to revalidate with.
    const byTag = await content.getManifest({ kind: 'tag', tag: 'v1' });
    expect({ digest: byTag.digest, cache: byTag.cache, bytes: byTag.bytes.equals(manifestBytes) }).toEqual({ digest: manifestDigest, cache: 'local', bytes: true });
    expect((await content.getManifest({ kind: 'digest', digest: manifestDigest })).cache).toBe('local');
    expect(await content.statBlob(digest)).toEqual({ size: bytes.length, cache: 'local' });

    const whole = await content.openBlob(digest);
    expect({ size: whole.size, cache: whole.cache, range: whole.range }).toEqual({ size: bytes.length, cache: 'local', range: undefined });
    const wholeSink = new Sink();
    await whole.sendTo(wholeSink);
    expect(wholeSink.bytes.equals(bytes)).toBe(true);
    expect(wholeSink.writableFinished).toBe(true);

    const part = await content.openBlob(digest, { start: 10, end: 19 });
    expect(part.range).toEqual({ start: 10, end: 19 });
    const partSink = new Sink();
    await part.sendTo(partSink);
    expect(partSink.bytes.equals(bytes.subarray(10, 20))).toBe(true);

    await expect(content.openBlob(digest, { start: bytes.length })).rejects.toMatchObject({ code: 'RANGE_INVALID', size: bytes.length });
    expect(await content.listTags()).toEqual({ tags: ['v1', 'v2'], cache: 'local' });
    expect(await content.listReferrers(manifestDigest)).toEqual({ manifests: [referrer], cache: 'local' });
    expect(await content.listReferrers(manifestDigest, 'application/other')).toEqual({ manifests: [], cache: 'local' });
    expect(f.upstream.requests).toEqual([]);
  });

  it('does not serve a blob stored for another repository (no reads by digest guessing)', async () => {
    const bytes = blobBytes(4096, 'other-repository');
    const digest = await storeBlob('local/owner', bytes);
    const content = f.registry.contentFor('local/guesser');
    expect(await wire(content.openBlob(digest))).toMatchObject({ status: 404, body: { errors: [{ code: 'BLOB_UNKNOWN' }] } });
    expect(await wire(content.statBlob(digest))).toMatchObject({ status: 404, body: { errors: [{ code: 'BLOB_UNKNOWN' }] } });
    expect((await f.registry.contentFor('local/owner').statBlob(digest)).size).toBe(4096);
    expect(await f.store.isBlobLinked('local/guesser', digest)).toBe(false);
    expect(f.upstream.requests).toEqual([]);
  });

  it('answers a redirect location only when redirects are on and the store signs URLs (the filesystem does not)', async () => {
    const bytes = blobBytes(512, 'redirect');
    const digest = await storeBlob('local/redirect', bytes);
    const redirecting = new LocalContent(f.store, 'local/redirect', { blobRedirectSeconds: 60 });
    expect(redirecting.redirectsBlobs).toBe(true);
    expect(await redirecting.blobLocation(digest)).toBeUndefined();
    expect(new LocalContent(f.store, 'local/redirect').redirectsBlobs).toBe(false);
  });
});
