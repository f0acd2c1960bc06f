import type { Reference } from '@pullthrough/oci';
import { startRedis, uniquePrefix, type RedisServer } from '@pullthrough/test-support';
import { connectedLeases } from '../test/connected-leases.js';
import { readStream, startRegistry, type RegistryFixture } from '../test/registry-fixture.js';
import { BlobFetcher } from './blob-fetcher.js';
import type { RedisBlobLeases } from './redis-blob-leases.js';

/**
 * Two processes' blob fetchers (two BlobFetchers on one filesystem store, each with its own Redis
 * leases) and the look at the store after a claim: a claim that takes over a lease its last holder let
 * go after committing looks at the store first and links what is there (no second GET); any other
 * claim trusts the caller's own look at the store, made just before, and fetches at once.
 */

const LEASE_MS = 600;
const latest: Reference = { kind: 'tag', tag: 'latest' };
let redis: RedisServer;
let f: RegistryFixture;
const leases: RedisBlobLeases[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterEach(async () => {
  leases.splice(0).forEach((l) => l.close());
  await f?.close();
});
afterAll(async () => {
  await redis?.stop();
});

async function replica(prefix: string): Promise<BlobFetcher> {
  const l = await connectedLeases(redis.url, prefix, LEASE_MS);
  leases.push(l);
  return new BlobFetcher(f.store, { leases: l });
}

test('a claim after another process committed and let the lease go links the stored blob; a plain claim fetches at once', async () => {
  f = await startRegistry();
  const layer = f.upstream.pushImage('foo', ['latest'], 'leases', [256 * 1024]).layers[0]!;
  await f.registry.getManifest('up/foo', latest);
  const target = f.upstreams.resolve('up/foo')!;
  const prefix = uniquePrefix('fetch-leases');
  const [a, b] = [await replica(prefix), await replica(prefix)];
  f.upstream.clearRequests();

  const led = await a.stream(target, layer.digest);
  expect((await readStream(led!.stream)).bytes.equals(layer.bytes)).toBe(true);
  await led!.done;
  expect(f.upstream.count('blobs', 'GET')).toBe(1);

  // b's caller looked at the store before a's commit: b's claim is told of the commit, finds the blob, links it.
  const after = await b.stream(target, layer.digest);
  expect(after).toBeUndefined(); // nothing to stream live: the caller reads the stored blob
  expect(f.upstream.count('blobs', 'GET')).toBe(1);
  expect(await f.store.statRepositoryBlob('up/foo', layer.digest)).toEqual({ size: layer.bytes.length });

  // Once the mark has expired a claim is a plain one: it trusts its caller's look and fetches (the
  // apps' callers look at the store right before; here the test skips that look on purpose).
  await new Promise((r) => setTimeout(r, LEASE_MS + 200));
  const plain = await b.stream(target, layer.digest);
  expect((await readStream(plain!.stream)).bytes.equals(layer.bytes)).toBe(true);
  await plain!.done;
  expect(f.upstream.count('blobs', 'GET')).toBe(2);
});
