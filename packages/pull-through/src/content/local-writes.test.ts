import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheRuleSet } from '@pullthrough/cache-rules';
import { DeniedError, digestOf, type Digest } from '@pullthrough/oci';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { LocalWrites } from './local-writes.js';
import type { WrittenManifest } from './write-events.js';

// LocalWrites on a real filesystem store: the push policy of rule paths, mounts through a rule's
// allow-list, and what a pushed manifest leaves behind (a local tag, events).

let root: string;
let store: RegistryStore;
let writes: LocalWrites;
const pushed: Array<[string, WrittenManifest]> = [];

const rules = CacheRuleSet.create([
  { name: 'closed-rule', sourceRepository: 'quay.io/team/*', targetRepository: 'closed/*' },
  { name: 'open-rule', sourceRepository: 'quay.io/org/*', targetRepository: 'open/*', allowPush: true, allow: { repositories: ['org/ok*'], tags: ['v*'] } },
]);

async function* body(text: string): AsyncGenerator<Buffer> {
  yield Buffer.from(text);
}

beforeEach(async () => {
  root = await fsp.mkdtemp(join(tmpdir(), 'local-writes-'));
  store = new RegistryStore(new FilesystemDriver(root));
  pushed.length = 0;
  writes = new LocalWrites({
    store,
    ruleFor: (repository) => rules.match(repository),
    events: { pushed: async (repository, m) => void pushed.push([repository, m]), deleted: async () => undefined },
  });
});
afterEach(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

test('push policy: free where no rule maps; refused naming the rule without allowPush; with it, only inside the allow-list', () => {
  expect(() => writes.checkPush('team/app')).not.toThrow();
  expect(() => writes.checkPush('closed/app')).toThrow(DeniedError);
  expect(() => writes.checkPush('closed/app')).toThrow('cache rule "closed-rule"');
  expect(() => writes.checkPush('open/ok-app', 'v1')).not.toThrow();
  expect(() => writes.checkPush('open/other')).toThrow('allow-list of cache rule "open-rule"');
  expect(() => writes.checkPush('open/ok-app', 'latest')).toThrow('allow.tags');
});

test('a mount reads only from a repository the caller may pull, that has the blob, inside its rule\'s allow-list', async () => {
  const blob = Buffer.from('shared layer');
  const digest = digestOf(blob);
  for (const repository of ['src/app', 'open/ok-src', 'open/hidden']) await writes.uploads.putBlob(repository, digest, body('shared layer'));
  const all = () => true;
  expect(await writes.mount('dst/app', digest, 'src/app', (r) => r !== 'src/app')).toBeUndefined();
  expect(await store.isBlobLinked('dst/app', digest)).toBe(false);
  expect(await writes.mount('dst/app', digest, 'open/hidden', all)).toBeUndefined();
  expect(await writes.mount('dst/app', digest, 'NOT a name', all)).toBeUndefined();
  expect(await writes.mount('dst/app', digestOf(Buffer.from('absent')), 'src/app', all)).toBeUndefined();
  expect(await writes.mount('dst/app', digest, 'open/ok-src', all)).toEqual({ digest, size: blob.length });
  expect(await store.isBlobLinked('dst/app', digest)).toBe(true);
  expect(await writes.mount('dst/app', digest, undefined, all)).toEqual({ digest, size: blob.length });
});

test('a pushed manifest is stored with a local tag that an upstream write cannot move, and reported once', async () => {
  const config = Buffer.from('{}');
  const digest = digestOf(config);
  await writes.uploads.putBlob('team/app', digest, body('{}'));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest, size: 2 }, layers: [] }));
  const result = await writes.putManifest('team/app', { kind: 'tag', tag: 'v1' }, manifest, 'application/vnd.oci.image.manifest.v1+json');
  expect(result).toEqual({ digest: digestOf(manifest), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: manifest.length, tag: 'v1' });
  expect(await store.getTag('team/app', 'v1')).toMatchObject({ digest: result.digest, source: 'local' });
  expect(await store.putTag('team/app', 'v1', result.digest as Digest)).toBe(false);
  expect(pushed).toEqual([['team/app', result]]);
});
