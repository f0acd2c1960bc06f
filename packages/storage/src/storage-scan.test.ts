import { digestOf, type Digest } from '@pullthrough/oci';
import { tempDir, type TempDir } from '@pullthrough/test-support';
import { FilesystemDriver } from './filesystem-driver.js';
import { markReferenced } from './gc-mark.js';
import { planSweep } from './gc-sweep.js';
import { manifestReferences } from './manifest-references.js';
import { RegistryStore } from './registry-store.js';
import { scanBlobs, scanRepositories } from './storage-scan.js';
import { storageUsage } from './storage-usage.js';

const d = (s: string): Digest => digestOf(Buffer.from(s));
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('manifestReferences', () => {
  test.each<[string, unknown, Digest[], Digest[]]>([
    ['an image with a subject', { config: { digest: d('c') }, layers: [{ digest: d('l1') }, { digest: d('l2') }], subject: { digest: d('s') } }, [d('s')], [d('c'), d('l1'), d('l2')]],
    ['an index', { manifests: [{ digest: d('m1') }, { digest: d('m2') }] }, [d('m1'), d('m2')], []],
    ['an artifact manifest', { blobs: [{ digest: d('b') }] }, [], [d('b')]],
    ['schema 1', { fsLayers: [{ blobSum: d('f') }] }, [], [d('f')]],
    ['bad digests and shapes', { config: { digest: 'sha256:nope' }, layers: 'x', manifests: [null, 3] }, [], []],
    ['not an object', [1, 2], [], []],
  ])('%s', (_label, doc, manifests, blobs) => {
    expect(manifestReferences(json(doc))).toEqual({ manifests, blobs });
  });
  test('unparsable bytes refer to nothing', () => {
    expect(manifestReferences(Buffer.from('{not json'))).toEqual({ manifests: [], blobs: [] });
  });
});

describe('scan, mark, plan and usage on a filesystem store', () => {
  let dir: TempDir;
  let store: RegistryStore;
  beforeEach(async () => {
    dir = await tempDir('scan-');
    store = new RegistryStore(new FilesystemDriver(dir.path));
  });
  afterEach(async () => {
    await dir.remove();
  });

  async function blob(s: string): Promise<Digest> {
    const bytes = Buffer.from(s);
    const w = await store.createBlobWriter({ digest: digestOf(bytes) });
    w.end(bytes);
    await w.commit();
    return digestOf(bytes);
  }

  test('nested repositories are told apart; tags are counted; shared blobs count once in the total', async () => {
    const [config, layer, orphan] = [await blob('config'), await blob('layer-bytes'), await blob('orphan')];
    const bytes = json({ schemaVersion: 2, config: { digest: config, size: 6 }, layers: [{ digest: layer, size: 11 }] });
    const manifest = digestOf(bytes);
    for (const repo of ['a', 'a/b']) {
      await store.putManifest(repo, { digest: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes });
      await store.linkBlobs(repo, [config, layer]);
      await store.putTag(repo, 'v1', manifest);
    }
    await store.linkBlob('a/b', orphan);
    await store.linkBlob('a', d('never stored'));
    const blobs = await scanBlobs(store.driver);
    const repos = await scanRepositories(store.driver);
    expect([...blobs.keys()].sort()).toEqual([config, layer, orphan, manifest].sort());
    expect([...repos.keys()].sort()).toEqual(['a', 'a/b']);
    expect(repos.get('a/b')!.layers.map((l) => l.digest).sort()).toEqual([config, layer, orphan].sort());
    expect(repos.get('a')!.tags).toBe(1);

    const usage = storageUsage(blobs, repos);
    expect(usage.repositories.map((r) => [r.repository, r.blobs, r.manifests, r.tags, r.bytes])).toEqual([
      ['a', { count: 2, bytes: 17 }, { count: 1, bytes: bytes.length }, 1, 17 + bytes.length],
      ['a/b', { count: 3, bytes: 23 }, { count: 1, bytes: bytes.length }, 1, 23 + bytes.length],
    ]);
    expect(usage.bytes).toBe(23 + bytes.length);
    expect(usage.stored).toEqual({ count: 4, bytes: 23 + bytes.length });

    const marked = await markReferenced(store.driver, [manifest]);
    expect([...marked].sort()).toEqual([config, layer, manifest].sort());
    const future = new Date(Date.now() + 60_000);
    const plan = planSweep(blobs, repos, marked, future);
    expect(plan.candidates.map((c) => [c.blob.digest, c.links.map((l) => l.repository)])).toEqual([[orphan, ['a/b']]]);
    expect(plan.danglingLinks.map((l) => [l.repository, l.digest])).toEqual([['a', d('never stored')]]);
    // With a cutoff in the past, everything unreferenced is young.
    const young = planSweep(blobs, repos, marked, new Date(0));
    expect([young.candidates.length, young.young.length, young.danglingLinks.length]).toEqual([0, 1, 0]);
  });
});
