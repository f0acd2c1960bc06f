import { startContainerd, type Containerd, type RedisServer } from '@pullthrough/test-support';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

/** containerd's own client, as a cluster node pulls: every platform of an index, through the cache. */
describe('ctr pulls through the cache', () => {
  let redis: RedisServer;
  let upstream: Upstream;
  let cache: Cache;
  let containerd: Containerd;

  beforeAll(async () => {
    redis = await startRedis();
    upstream = await startUpstream();
    cache = await startCache(redis, [upstream.proxy.host]);
    expect((await putRule(cache, { name: 'ctr-fixtures', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'node-pull/*' })).status).toBe(201);
    containerd = await startContainerd();
  }, 60_000);
  afterAll(async () => {
    await containerd?.stop();
    await cache?.stop();
    await upstream?.stop();
    await redis?.stop();
  });

  test.each(['multiPlatform', 'docker'] as const)('%s: every manifest and blob lands in containerd with the upstream digests; a second pull is served locally', async (name) => {
    const f = upstream.fixtures[name];
    const ref = `${cache.host}/node-pull/${f.repository.replace(/^fixtures\//, '')}:${f.tag}`;
    await containerd.ctr(['images', 'pull', '--plain-http', '--all-platforms', ref]);
    const images = (await containerd.ctr(['images', 'ls'])).stdout.toString();
    expect(images).toContain(f.digest);
    const content = (await containerd.ctr(['content', 'ls', '-q'])).stdout.toString();
    for (const blob of f.blobs) expect(content).toContain(blob.digest);
    for (const child of f.manifests ?? []) expect(content).toContain(child.digest);

    await containerd.ctr(['images', 'rm', '--sync', ref]);
    await containerd.ctr(['content', 'prune', 'references']).catch(() => undefined);
    upstream.proxy.reset();
    await containerd.ctr(['images', 'pull', '--plain-http', '--all-platforms', ref]);
    expect(upstream.proxy.requests.length).toBe(0);
  });
});
