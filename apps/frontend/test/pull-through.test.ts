import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { skopeoCopy, skopeoInspectRaw, tempDir, type RedisServer } from '@pullthrough/test-support';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const FIXTURES = ['small', 'multiLayer', 'multiPlatform', 'docker', 'artifact'] as const;

let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  cache = await startCache(redis, [upstream.proxy.host]);
  const res = await putRule(cache, { name: 'fixtures-upstream', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'up/*' });
  expect(res.status).toBe(201);
}, 120_000);

afterAll(async () => {
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
});

const downstream = (name: (typeof FIXTURES)[number]) => `up/${upstream.fixtures[name].repository.replace(/^fixtures\//, '')}`;

/** skopeo copy through the cache into a dir: layout (which keeps manifests byte for byte). */
async function pullWithSkopeo(name: (typeof FIXTURES)[number], all: boolean) {
  const dir = await tempDir('pulled-');
  const f = upstream.fixtures[name];
  await skopeoCopy([...(all ? ['--all'] : []), '--src-tls-verify=false', '--src-no-creds', `docker://${cache.host}/${downstream(name)}:${f.tag}`, `dir:${dir.path}`]);
  return dir;
}

describe('10 concurrent skopeo pulls of one uncached image', () => {
  test('produce exactly one upstream GET per blob and one per manifest', async () => {
    const f = upstream.fixtures.multiLayer;
    expect((await putRule(cache, { name: 'herd-of-pulls', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'herd/*' })).status).toBe(201);
    upstream.proxy.reset();
    const dirs = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const dir = await tempDir('herd-');
        await skopeoCopy(['--src-tls-verify=false', '--src-no-creds', `docker://${cache.host}/herd/multilayer:${f.tag}`, `dir:${dir.path}`]);
        return dir;
      }),
    );
    try {
      for (const dir of dirs) expect(sha256(await readFile(join(dir.path, 'manifest.json')))).toBe(f.digest);
    } finally {
      await Promise.all(dirs.map((d) => d.remove()));
    }
    for (const blob of f.blobs) {
      expect(upstream.proxy.count({ kind: 'blob', method: 'GET', reference: blob.digest })).toBe(1);
    }
    expect(upstream.proxy.count({ kind: 'manifest', method: 'GET', reference: f.tag })).toBe(1);
  }, 120_000);
});

describe('pull through a cache rule with skopeo', () => {
  test.each(FIXTURES)('%s: digests equal the upstream, second pull never touches the upstream', async (name) => {
    const f = upstream.fixtures[name];
    const all = name === 'multiPlatform';
    const first = await pullWithSkopeo(name, all);
    try {
      const manifest = await readFile(join(first.path, 'manifest.json'));
      expect(sha256(manifest)).toBe(f.digest);
      const files = await readdir(first.path);
      for (const blob of f.blobs) {
        const hex = blob.digest.slice('sha256:'.length);
        expect(files).toContain(hex);
        expect(sha256(await readFile(join(first.path, hex)))).toBe(blob.digest);
      }
      if (all) {
        for (const child of f.manifests ?? []) {
          const bytes = await readFile(join(first.path, `${child.digest.slice(7)}.manifest.json`));
          expect(sha256(bytes)).toBe(child.digest);
        }
      }
    } finally {
      await first.remove();
    }
    expect(upstream.proxy.count({ repository: f.repository, kind: 'manifest', method: 'GET' })).toBeGreaterThan(0);

    upstream.proxy.reset();
    const second = await pullWithSkopeo(name, all);
    await second.remove();
    expect(upstream.proxy.count({ repository: f.repository })).toBe(0);
    expect(upstream.proxy.requests.length).toBe(0);
  });

  test('the raw manifest served by the cache is byte-for-byte the upstream one', async () => {
    for (const name of FIXTURES) {
      const f = upstream.fixtures[name];
      const raw = await skopeoInspectRaw(`${cache.host}/${downstream(name)}:${f.tag}`);
      expect(sha256(raw)).toBe(f.digest);
    }
  });
});
