import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DigestMismatchError,
  ManifestInvalidError,
  ManifestUnknownError,
  NameInvalidError,
  TagInvalidError,
  digestOf,
  type Digest,
} from '@pullthrough/oci';
import { FilesystemDriver } from './filesystem-driver.js';
import { MANIFEST_RECHECK_MS } from './manifest-store.js';
import { RegistryStore } from './registry-store.js';

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!condition()) throw new Error('condition not met within 2.5 s');
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let root: string;
let store: RegistryStore;

beforeEach(async () => {
  root = await fsp.mkdtemp(join(tmpdir(), 'pullthrough-manifests-'));
  store = new RegistryStore(new FilesystemDriver(root));
});
afterEach(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function manifestBytes(n: number): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [], n }));
}

async function putManifest(repository: string, n: number): Promise<Digest> {
  const bytes = manifestBytes(n);
  const digest = digestOf(bytes);
  await store.putManifest(repository, { digest, mediaType: OCI_MANIFEST, bytes });
  return digest;
}

/** A manifest whose store starts only when the test lets it (`letManifest`); `stored` settles with that store. */
function heldManifest(repository: string, n: number): { digest: Digest; stored: Promise<unknown>; letManifest: () => void } {
  const bytes = manifestBytes(n);
  const digest = digestOf(bytes);
  let letManifest!: () => void;
  const held = new Promise<void>((resolve) => (letManifest = resolve));
  const stored = held.then(() => store.putManifest(repository, { digest, mediaType: OCI_MANIFEST, bytes }));
  return { digest, stored, letManifest };
}

describe('manifests', () => {
  test('put, stat and get round-trip, per repository', async () => {
    const bytes = manifestBytes(1);
    const digest = digestOf(bytes);
    const info = await store.putManifest('library/node', { digest, mediaType: OCI_MANIFEST, bytes: new Uint8Array(bytes) });
    expect(info).toEqual({ digest, mediaType: OCI_MANIFEST, size: bytes.length });
    expect(await store.statManifest('library/node', digest)).toEqual(info);
    const got = await store.getManifest('library/node', digest);
    expect(got).toEqual({ ...info, bytes });
    expect(await store.statManifest('library/other', digest)).toBeUndefined();
    expect(await store.getManifest('library/other', digest)).toBeUndefined();
    // stored as a blob too
    expect(await store.statBlob(digest)).toEqual({ size: bytes.length });
  });

  test('putting the same manifest twice, or into a second repository, is fine', async () => {
    const digest = await putManifest('a', 1);
    await putManifest('a', 1);
    await putManifest('b', 1);
    expect((await store.getManifest('b', digest))?.digest).toBe(digest);
  });

  test('a digest mismatch throws DigestMismatchError and stores nothing', async () => {
    const bytes = manifestBytes(2);
    const wrong = digestOf(manifestBytes(3));
    const err: unknown = await store.putManifest('library/node', { digest: wrong, mediaType: OCI_MANIFEST, bytes }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).detail).toEqual({ expected: wrong, actual: digestOf(bytes) });
    expect(await store.statManifest('library/node', wrong)).toBeUndefined();
    expect(await store.statBlob(digestOf(bytes))).toBeUndefined();
    expect(await store.listRepositories()).toEqual([]);
  });

  test("a revision link that fails before the manifest's data is written answers its error only once that write has settled", async () => {
    // A real filesystem driver whose link writes fail at once and whose new objects take 200 ms to open.
    class SlowDataFailingLinks extends FilesystemDriver {
      override async putContent(path: string, data: Buffer, options?: Parameters<FilesystemDriver['putContent']>[2]): Promise<void> {
        if (path.includes('/_manifests/revisions/')) throw new Error('link write refused');
        return super.putContent(path, data, options);
      }
      override async createWriter(options?: Parameters<FilesystemDriver['createWriter']>[0]): ReturnType<FilesystemDriver['createWriter']> {
        await new Promise((resolve) => setTimeout(resolve, 200));
        return super.createWriter(options);
      }
    }
    const failing = new RegistryStore(new SlowDataFailingLinks(root));
    const bytes = manifestBytes(7);
    const digest = digestOf(bytes);
    await expect(failing.putManifest('repo', { digest, mediaType: OCI_MANIFEST, bytes })).rejects.toThrow('link write refused');
    // The data's write had ended by then (here it was committed: unreferenced, for garbage collection).
    expect(await store.statBlob(digest)).toEqual({ size: bytes.length });
    await expect(store.getManifest('repo', digest)).resolves.toBeUndefined();
  });

  test('an invalid media type is rejected', async () => {
    const bytes = manifestBytes(4);
    await expect(store.putManifest('a', { digest: digestOf(bytes), mediaType: '../../x', bytes })).rejects.toThrow(ManifestInvalidError);
  });
});

describe('tags', () => {
  test('put, get (with checkedAt), move, delete', async () => {
    const one = await putManifest('library/node', 1);
    const two = await putManifest('library/node', 2);
    const checkedAt = new Date('2024-05-01T10:00:00.000Z');
    await store.putTag('library/node', '20-alpine', one, checkedAt);
    expect(await store.getTag('library/node', '20-alpine')).toEqual({ digest: one, checkedAt, source: 'upstream' });

    const before = Date.now();
    await store.putTag('library/node', '20-alpine', two);
    const tag = await store.getTag('library/node', '20-alpine');
    expect(tag?.digest).toBe(two);
    expect(tag!.checkedAt.getTime()).toBeGreaterThanOrEqual(before);

    expect(await store.getTag('library/other', '20-alpine')).toBeUndefined();
    await store.deleteTag('library/node', '20-alpine');
    await store.deleteTag('library/node', '20-alpine');
    expect(await store.getTag('library/node', '20-alpine')).toBeUndefined();
    expect(await store.listTags('library/node')).toEqual([]);
  });

  test('a local (pushed) tag is never replaced by an upstream write; old records read as upstream; records list with their source', async () => {
    const one = await putManifest('team/app', 1);
    const two = await putManifest('team/app', 2);
    expect(await store.putTag('team/app', 'v1', one, new Date(), 'local')).toBe(true);
    expect(await store.putTag('team/app', 'v1', two)).toBe(false);
    expect(await store.getTag('team/app', 'v1')).toMatchObject({ digest: one, source: 'local' });
    // A push may move its own tag; then the upstream may write it again only after a delete.
    expect(await store.putTag('team/app', 'v1', two, new Date(), 'local')).toBe(true);
    expect((await store.getTag('team/app', 'v1'))?.digest).toBe(two);
    await fsp.mkdir(join(root, 'repositories/team/app/_manifests/tags/old/current'), { recursive: true });
    await fsp.writeFile(join(root, 'repositories/team/app/_manifests/tags/old/current/link'), JSON.stringify({ digest: one, checkedAt: '2024-01-01T00:00:00.000Z' }));
    expect(await store.listTagRecords('team/app')).toEqual([
      { tag: 'old', digest: one, checkedAt: new Date('2024-01-01T00:00:00.000Z'), source: 'upstream' },
      { tag: 'v1', digest: two, checkedAt: expect.any(Date), source: 'local' },
    ]);
  });

  test('deleting a manifest revision: gone for this process at once, for another after the recheck; blob links and referrers removable', async () => {
    const other = new RegistryStore(new FilesystemDriver(root));
    const one = await putManifest('team/app', 1);
    expect((await other.getManifest('team/app', one))?.digest).toBe(one);
    expect(await store.deleteManifest('team/app', one)).toBe(true);
    expect(await store.deleteManifest('team/app', one)).toBe(false);
    expect(await store.getManifest('team/app', one)).toBeUndefined();
    expect(await store.listRepositories()).toEqual([]);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await other.getManifest('team/app', one)).toBeUndefined();
    await store.linkBlob('team/app', one);
    await store.unlinkBlob('team/app', one);
    expect(await store.isBlobLinked('team/app', one)).toBe(false);
    await store.addReferrer('team/app', one, { mediaType: OCI_MANIFEST, digest: one, size: 1 });
    await store.removeReferrer('team/app', one, one);
    expect(await store.listReferrers('team/app', one)).toEqual([]);
  });

  test('a tag can only point at a manifest the repository has', async () => {
    const elsewhere = await putManifest('other', 1);
    await expect(store.putTag('library/node', 'latest', elsewhere)).rejects.toThrow(ManifestUnknownError);
    expect(await store.getTag('library/node', 'latest')).toBeUndefined();
  });

  test('a tag written while its manifest is stored (after) appears only once the manifest is there; nothing when the manifest fails', async () => {
    const { digest, stored, letManifest } = heldManifest('library/node', 7);
    const tagged = store.putTag('library/node', 'v7', digest, new Date(), 'upstream', { after: stored });
    // The tag's link is written and flushed meanwhile, but not visible: the manifest is not stored yet.
    await new Promise((r) => setTimeout(r, 50));
    expect(await store.getTag('library/node', 'v7')).toBeUndefined();
    letManifest();
    await expect(tagged).resolves.toBe(true);
    expect((await store.getTag('library/node', 'v7'))?.digest).toBe(digest);

    // The manifest's store fails: no tag, and no temporary file left behind.
    const failed = Promise.reject(new Error('storage down'));
    await expect(store.putTag('library/node', 'v8', digest, new Date(), 'upstream', { after: failed })).rejects.toThrow('storage down');
    expect(await store.getTag('library/node', 'v8')).toBeUndefined();
    // Stored after all, but not in this repository: refused, nothing written.
    const elsewhere = await putManifest('other', 9);
    await expect(store.putTag('library/node', 'v9', elsewhere, new Date(), 'upstream', { after: Promise.resolve() })).rejects.toThrow(ManifestUnknownError);
    expect(await store.getTag('library/node', 'v9')).toBeUndefined();
    expect(await fsp.readdir(join(root, '_uploads')).catch(() => [])).toEqual([]);
  });

  test('a tag pushed while an upstream tag write waits for its manifest stands: the upstream write resolves false', async () => {
    const { digest, stored, letManifest } = heldManifest('library/node', 10);
    const upstreamWrite = store.putTag('library/node', 'v10', digest, new Date(), 'upstream', { after: stored });
    // A client pushes the tag meanwhile (to a manifest of its own).
    await new Promise((r) => setTimeout(r, 20));
    const pushed = await putManifest('library/node', 11);
    await store.putTag('library/node', 'v10', pushed, new Date(), 'local');
    letManifest();
    await expect(upstreamWrite).resolves.toBe(false);
    expect(await store.getTag('library/node', 'v10')).toMatchObject({ digest: pushed, source: 'local' });
    expect(await fsp.readdir(join(root, '_uploads')).catch(() => [])).toEqual([]);
  });

  test('many tags list in lexical order', async () => {
    const digest = await putManifest('library/node', 1);
    const tags = ['latest', 'Z', '_x', '1.0', '10', '2', 'a-b', 'a.b', 'a_b', 'v1.2.3', 'A'];
    for (let i = 0; i < 120; i++) tags.push(`t${(i * 7919) % 1000}`);
    const unique = [...new Set(tags)];
    const shuffled = [...unique].sort(() => Math.random() - 0.5);
    await Promise.all(shuffled.map((t) => store.putTag('library/node', t, digest)));
    const listed = await store.listTags('library/node');
    expect(listed).toHaveLength(unique.length);
    expect(listed).toEqual([...unique].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(listed.slice(0, 6)).toEqual(['1.0', '10', '2', 'A', 'Z', '_x']);
  });

  test('tags and repository names are validated at this layer too', async () => {
    const digest = await putManifest('library/node', 1);
    for (const bad of ['..', '.hidden', 'a/b', '', 'a'.repeat(129), 'x\0y']) {
      await expect(store.putTag('library/node', bad, digest)).rejects.toThrow(TagInvalidError);
      await expect(store.getTag('library/node', bad)).rejects.toThrow(TagInvalidError);
      await expect(store.deleteTag('library/node', bad)).rejects.toThrow(TagInvalidError);
    }
    for (const bad of ['../etc', 'library/../../x', '/abs', 'Library/node', 'a//b', '']) {
      await expect(store.getTag(bad, 'latest')).rejects.toThrow(NameInvalidError);
      await expect(store.listTags(bad)).rejects.toThrow(NameInvalidError);
      await expect(store.statManifest(bad, digest)).rejects.toThrow(NameInvalidError);
    }
  });
});

/** A filesystem driver that counts reads of tag links and stats of manifest revision links, and can hold tag link reads. */
class CountingDriver extends FilesystemDriver {
  tagReads = 0;
  linkStats = 0;
  hold: Promise<void> | undefined;

  /** Tag link reads still to fail (a storage error, thrown before any promise). */
  failReads = 0;

  override getContent(path: string): Promise<Buffer | undefined> {
    if (path.includes('/_manifests/tags/') && this.failReads > 0) {
      this.tagReads++;
      this.failReads--;
      throw new Error('storage unavailable');
    }
    return this.readContent(path);
  }

  private async readContent(path: string): Promise<Buffer | undefined> {
    if (path.includes('/_manifests/tags/')) {
      this.tagReads++;
      const content = await super.getContent(path);
      await this.hold;
      return content;
    }
    return super.getContent(path);
  }

  /** Revision link stats still to fail (a storage error, thrown before any promise: the hardest case for the waiters). */
  failStats = 0;

  override stat(path: string): ReturnType<FilesystemDriver['stat']> {
    if (path.includes('/_manifests/revisions/')) {
      this.linkStats++;
      if (this.failStats > 0) {
        this.failStats--;
        throw new Error('storage unavailable');
      }
    }
    return super.stat(path);
  }
}

describe('in-memory caches', () => {
  test('once a hot tag\'s record expires, the requests that come while it is read again wait for that one read', async () => {
    const driver = new CountingDriver(root);
    let clock = Date.now();
    const reader = new RegistryStore(driver, { tagCache: { ttlMs: 200, maxEntries: 10, now: () => clock } });
    const one = await putManifest('team/app', 1);
    await store.putTag('team/app', 'v1', one);
    expect((await reader.getTag('team/app', 'v1'))?.digest).toBe(one);
    expect(driver.tagReads).toBe(1);
    clock += 200;
    const records = await Promise.all(Array.from({ length: 50 }, () => reader.getTag('team/app', 'v1')));
    expect(records.map((r) => r?.digest)).toEqual(Array.from({ length: 50 }, () => one));
    expect(driver.tagReads).toBe(2);
    // Held again for the ttl.
    await reader.getTag('team/app', 'v1');
    expect(driver.tagReads).toBe(2);
    // A read that fails fails its waiters once; the next request reads again.
    clock += 200;
    driver.failReads = 1;
    const failed = await Promise.allSettled(Array.from({ length: 10 }, () => reader.getTag('team/app', 'v1')));
    expect(failed.every((f) => f.status === 'rejected' && (f.reason as Error).message === 'storage unavailable')).toBe(true);
    expect((await reader.getTag('team/app', 'v1'))?.digest).toBe(one);
    expect(driver.tagReads).toBe(4);
  });

  test('a tag this process writes while a read of it is under way: the write stands, the read is neither joined nor kept', async () => {
    const driver = new CountingDriver(root);
    const reader = new RegistryStore(driver);
    const one = await putManifest('team/app', 1);
    const two = await putManifest('team/app', 2);
    await store.putTag('team/app', 'v1', one);
    let release!: () => void;
    driver.hold = new Promise((resolve) => (release = resolve));
    const reading = reader.getTag('team/app', 'v1');
    await waitFor(() => driver.tagReads === 1);
    // A local write (a push) does not read the link first: it is done while the read is still held.
    await reader.putTag('team/app', 'v1', two, new Date(), 'local');
    release();
    driver.hold = undefined;
    expect((await reading)?.digest).toBe(one);
    expect((await reader.getTag('team/app', 'v1'))?.digest).toBe(two);
    await reader.deleteTag('team/app', 'v1');
    expect(await reader.getTag('team/app', 'v1')).toBeUndefined();
  });

  test('a cached manifest\'s revision link is checked again by one request for all that come meanwhile; a failed check is not kept', async () => {
    const driver = new CountingDriver(root);
    const reader = new RegistryStore(driver);
    const one = await putManifest('team/app', 1);
    expect((await reader.getManifest('team/app', one))?.digest).toBe(one);
    const before = driver.linkStats;
    await new Promise((r) => setTimeout(r, MANIFEST_RECHECK_MS + 20));
    const got = await Promise.all(Array.from({ length: 50 }, () => reader.getManifest('team/app', one)));
    expect(got.every((m) => m?.bytes.equals(manifestBytes(1)))).toBe(true);
    expect(driver.linkStats - before).toBe(1);
    // A check that fails fails its waiters once; the next request checks again.
    await new Promise((r) => setTimeout(r, MANIFEST_RECHECK_MS + 20));
    driver.failStats = 1;
    const failed = await Promise.allSettled(Array.from({ length: 10 }, () => reader.getManifest('team/app', one)));
    expect(failed.map((f) => (f.status === 'rejected' ? (f.reason as Error).message : 'served'))).toEqual(Array.from({ length: 10 }, () => 'storage unavailable'));
    expect((await reader.getManifest('team/app', one))?.digest).toBe(one);
    expect(driver.linkStats - before).toBe(3);
    // Deleted by another process: seen at the next check.
    await store.deleteManifest('team/app', one);
    await new Promise((r) => setTimeout(r, MANIFEST_RECHECK_MS + 20));
    const gone = await Promise.all(Array.from({ length: 10 }, () => reader.getManifest('team/app', one)));
    expect(gone).toEqual(Array.from({ length: 10 }, () => undefined));
  });

  test('another process moving a tag this one holds is seen once the tag cache ttl has passed; own writes at once', async () => {
    const driver = new FilesystemDriver(root);
    let clock = Date.now();
    const reader = new RegistryStore(driver, { tagCache: { ttlMs: 200, maxEntries: 10, now: () => clock } });
    const writer = new RegistryStore(new FilesystemDriver(root));
    const one = await putManifest('team/app', 1);
    const two = await putManifest('team/app', 2);
    expect(await reader.getTag('team/app', 'v1')).toBeUndefined();
    await writer.putTag('team/app', 'v1', one);
    // Absent tags are never remembered: the new tag is seen at once.
    expect((await reader.getTag('team/app', 'v1'))?.digest).toBe(one);
    await writer.putTag('team/app', 'v1', two);
    clock += 199;
    expect((await reader.getTag('team/app', 'v1'))?.digest).toBe(one); // held for up to the ttl
    clock += 1;
    expect((await reader.getTag('team/app', 'v1'))?.digest).toBe(two);
    // This process's own writes and deletes replace what it holds.
    await reader.putTag('team/app', 'v1', one);
    expect((await reader.getTag('team/app', 'v1'))?.digest).toBe(one);
    await reader.deleteTag('team/app', 'v1');
    expect(await reader.getTag('team/app', 'v1')).toBeUndefined();
  });

  test('a ttl of 0 always reads storage; a cached manifest comes back byte for byte and per repository', async () => {
    const reader = new RegistryStore(new FilesystemDriver(root), { tagCache: { ttlMs: 0, maxEntries: 10 } });
    const one = await putManifest('team/app', 1);
    const two = await putManifest('team/app', 2);
    await store.putTag('team/app', 'v1', one);
    expect((await reader.getTag('team/app', 'v1'))?.digest).toBe(one);
    await store.putTag('team/app', 'v1', two);
    expect((await reader.getTag('team/app', 'v1'))?.digest).toBe(two);
    const first = await reader.getManifest('team/app', one);
    const again = await reader.getManifest('team/app', one);
    expect(again?.bytes.equals(manifestBytes(1))).toBe(true);
    expect(again).toEqual(first);
    expect(await reader.getManifest('team/other', one)).toBeUndefined();
    expect(await reader.statManifest('team/other', one)).toBeUndefined();
  });
});
