import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DigestInvalidError, NameInvalidError, digestOf, type Descriptor, type Digest } from '@pullthrough/oci';
import { ControlKeyInvalidError } from './control-key-invalid-error.js';
import { FilesystemDriver } from './filesystem-driver.js';
import { RegistryStore } from './registry-store.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let base: string;
let root: string;
let store: RegistryStore;

beforeEach(async () => {
  base = await fsp.mkdtemp(join(tmpdir(), 'pullthrough-store-'));
  root = join(base, 'root');
  store = new RegistryStore(new FilesystemDriver(root));
});
afterEach(async () => {
  await fsp.rm(base, { recursive: true, force: true });
});

async function putManifest(repository: string, n: number): Promise<Digest> {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, n }));
  const digest = digestOf(bytes);
  await store.putManifest(repository, { digest, mediaType: OCI_MANIFEST, bytes });
  return digest;
}

function descriptor(n: number): Descriptor {
  return { mediaType: OCI_MANIFEST, digest: digestOf(Buffer.from(`referrer-${n}`)), size: n, artifactType: 'application/vnd.example.sbom' };
}

describe('repository catalog', () => {
  test('lists every repository with a manifest revision, nested names included, sorted', async () => {
    for (const repo of ['library/node', 'a', 'a/b', 'x/y/z', 'dockerhub/library/redis', 'a-b']) await putManifest(repo, 1);
    // a repository with only a blob link, and one with only tags of nothing, are not listed
    const blob = Buffer.from('layer');
    const writer = await store.createBlobWriter({ digest: digestOf(blob) });
    writer.end(blob);
    await writer.commit();
    await store.linkBlob('only/layers', digestOf(blob));
    expect(await store.listRepositories()).toEqual(['a', 'a-b', 'a/b', 'dockerhub/library/redis', 'library/node', 'x/y/z']);
  });

  test('empty store lists nothing', async () => {
    expect(await store.listRepositories()).toEqual([]);
  });

  test('scales to a few thousand repositories', async () => {
    const names: string[] = [];
    for (let i = 0; i < 2000; i++) names.push(`org${i % 20}/repo${i}`);
    const bytes = Buffer.from('{"schemaVersion":2}');
    const digest = digestOf(bytes);
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(names.slice(i, i + 100).map((n) => store.putManifest(n, { digest, mediaType: OCI_MANIFEST, bytes })));
    }
    const listed = await store.listRepositories();
    expect(listed).toHaveLength(2000);
    expect(listed).toEqual([...names].sort());
  });
});

describe('referrers', () => {
  test('add and list, sorted by digest, per subject and repository', async () => {
    const subject = await putManifest('library/node', 1);
    const descriptors = [descriptor(1), descriptor(2), descriptor(3)];
    for (const d of descriptors) await store.addReferrer('library/node', subject, d);
    await store.addReferrer('library/node', subject, descriptors[0]!);
    const listed = await store.listReferrers('library/node', subject);
    expect(listed).toEqual([...descriptors].sort((a, b) => (a.digest < b.digest ? -1 : 1)));
    expect(await store.listReferrers('library/other', subject)).toEqual([]);
    expect(await store.listReferrers('library/node', digestOf(Buffer.from('no such subject')))).toEqual([]);
  });

  test('a descriptor with a bad digest is rejected', async () => {
    const subject = await putManifest('library/node', 1);
    const bad = { mediaType: OCI_MANIFEST, digest: 'sha256:../../x', size: 1 } as unknown as Descriptor;
    await expect(store.addReferrer('library/node', subject, bad)).rejects.toThrow(DigestInvalidError);
  });
});

describe('control area', () => {
  test('put, get, list (name order), delete', async () => {
    await store.putControl('cache-rules', 'dockerhub', { name: 'dockerhub', upstream: 'registry-1.docker.io' });
    await store.putControl('cache-rules', 'ghcr', { name: 'ghcr' });
    await store.putControl('cache-rules', 'Abc.v2', { name: 'Abc.v2' });
    await store.putControl('credential-sets', 'dockerhub', { name: 'creds' });
    expect(await store.getControl('cache-rules', 'dockerhub')).toEqual({ name: 'dockerhub', upstream: 'registry-1.docker.io' });
    expect(await store.getControl('cache-rules', 'missing')).toBeUndefined();
    expect(await store.listControl<{ name: string }>('cache-rules')).toEqual([{ name: 'Abc.v2' }, { name: 'dockerhub', upstream: 'registry-1.docker.io' }, { name: 'ghcr' }]);
    await store.deleteControl('cache-rules', 'ghcr');
    expect((await store.listControl<{ name: string }>('cache-rules')).map((r) => r.name)).toEqual(['Abc.v2', 'dockerhub']);
    expect(await store.listControl('webhooks')).toEqual([]);
    expect(await fsp.readFile(join(root, 'control', 'cache-rules', 'dockerhub.json'), 'utf8')).toContain('registry-1.docker.io');
  });

  test('a private document (it holds a secret) is written 0600, also when it replaces a readable one', async () => {
    const file = join(root, 'control', 'webhooks', 'hook-one.json');
    const oldUmask = process.umask(0o022);
    try {
      await store.putControl('webhooks', 'hook-one', { secret: 'old' });
      expect((await fsp.stat(file)).mode & 0o777).toBe(0o644);
      await store.putControl('webhooks', 'hook-one', { secret: 'new' }, { private: true });
      expect((await fsp.stat(file)).mode & 0o777).toBe(0o600);
      expect(await store.getControl('webhooks', 'hook-one')).toEqual({ secret: 'new' });
      await store.putControl('cache-rules', 'plain-rule', { name: 'plain-rule' });
      expect((await fsp.stat(join(root, 'control', 'cache-rules', 'plain-rule.json'))).mode & 0o777).toBe(0o644);
    } finally {
      process.umask(oldUmask);
    }
  });

  test('a name may start or end with - or _ (admin names such as "-A-AAA" are valid rule names)', async () => {
    await store.putControl('cache-rules', '-A-AAA', { name: '-A-AAA' });
    await store.putControl('cache-rules', '_x-', { name: '_x-' });
    expect(await store.getControl('cache-rules', '-A-AAA')).toEqual({ name: '-A-AAA' });
    expect(await fsp.readFile(join(root, 'control', 'cache-rules', '_x-.json'), 'utf8')).toContain('_x-');
  });

  test('kinds and names that could escape are rejected', async () => {
    for (const [kind, name] of [['../x', 'a'], ['a/b', 'a'], ['Rules', 'a'], ['rules', '../a'], ['rules', 'a/b'], ['rules', '.a'], ['rules', ''], ['rules', 'a.']]) {
      await expect(store.putControl(kind!, name!, {})).rejects.toThrow(ControlKeyInvalidError);
      await expect(store.getControl(kind!, name!)).rejects.toThrow(ControlKeyInvalidError);
    }
  });
});

describe('nothing escapes the root', () => {
  test('hostile names are refused and nothing is written outside the root', async () => {
    const digest = await putManifest('ok', 1);
    const hostile = ['../../outside', '..', 'a/../..', '/etc', 'a\\..\\..', '%2e%2e'];
    for (const name of hostile) {
      await expect(store.putManifest(name, { digest, mediaType: OCI_MANIFEST, bytes: Buffer.from('{"schemaVersion":2,"n":1}') })).rejects.toThrow(NameInvalidError);
      await expect(store.linkBlob(name, digest)).rejects.toThrow(NameInvalidError);
      await expect(store.isBlobLinked(name, digest)).rejects.toThrow(NameInvalidError);
    }
    await expect(store.statBlob('sha256:../../../etc/passwd' as Digest)).rejects.toThrow(DigestInvalidError);
    await expect(store.createBlobWriter({ digest: 'md5:abc' as Digest })).rejects.toThrow(DigestInvalidError);
    const entries = await fsp.readdir(base, { recursive: true });
    expect(entries.map((e) => relative('.', e)).every((e) => e === 'root' || e.startsWith('root/'))).toBe(true);
  });
});
