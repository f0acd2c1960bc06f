import type { Digest, Reference } from '@pullthrough/oci';
import { startRedis, uniquePrefix, type RedisServer } from '@pullthrough/test-support';
import { connectedLeases } from '../test/connected-leases.js';
import { readStream, startRegistry, type RegistryFixture } from '../test/registry-fixture.js';
import type { PushedImage } from '../test/tiny-upstream.js';
import { blobFlightKey } from './blob-flight-key.js';
import type { BlobLeases, RedisBlobLeases } from './redis-blob-leases.js';

/**
 * A layer of an image manifest just fetched from the upstream is most likely missing: the request
 * for it claims the fetch lease while it reads storage, instead of after (one round trip fewer
 * before the upstream GET of a cold pull's blob). A hit pays no claim; a claim made for a blob that
 * turned out to be stored is let go at once, marked as committed, so no lease is left held.
 */

const LAYER_SIZE = 256 * 1024;
const latest: Reference = { kind: 'tag', tag: 'latest' };
let redis: RedisServer;
let f: RegistryFixture;
let image: PushedImage;
let events: string[];
const opened: RedisBlobLeases[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterEach(async () => {
  opened.splice(0).forEach((l) => l.close());
  await f?.close();
});
afterAll(async () => {
  await redis?.stop();
});

async function leases(prefix: string): Promise<RedisBlobLeases> {
  const l = await connectedLeases(redis.url, prefix, 5_000);
  opened.push(l);
  return l;
}

/** A registry whose leases and store record when a claim is asked for and when a storage look starts and ends. */
async function recordingRegistry(prefix: string): Promise<void> {
  const real = await leases(prefix);
  const recording: BlobLeases = {
    acquire: (key) => {
      events.push('claim');
      return real.acquire(key);
    },
    committed: (digest) => real.committed(digest),
    waitForCommit: (digest, ms) => real.waitForCommit(digest, ms),
    wanted: (key) => real.wanted(key),
    onWanted: (listener) => real.onWanted(listener),
  };
  f = await startRegistry({ blobLeases: recording });
  const statBlob = f.store.statBlob.bind(f.store);
  f.store.statBlob = async (digest: Digest) => {
    events.push('storage look');
    // A slow disk: the claim has every chance to be asked for meanwhile, if it is asked early.
    await new Promise((r) => setTimeout(r, 30));
    const stat = await statBlob(digest);
    events.push('storage answered');
    return stat;
  };
  image = f.upstream.pushImage('foo', ['latest'], 'ahead', [LAYER_SIZE]);
}

test('a layer of a manifest just fetched is claimed while storage is read, fetched once; its hit later claims nothing', async () => {
  const prefix = uniquePrefix('claim-ahead');
  await recordingRegistry(prefix);
  await f.registry.getManifest('up/foo', latest);
  const layer = image.layers[0]!;
  f.upstream.clearRequests();
  events = [];

  const miss = await f.registry.openBlob('up/foo', layer.digest);
  expect(miss.cache).toBe('miss');
  expect((await readStream(miss.stream)).bytes.equals(layer.bytes)).toBe(true);
  await miss.done;
  expect(f.upstream.count('blobs', 'GET')).toBe(1);
  // Asked for before the storage look answered, and only once (the fetch took it over).
  expect(events.filter((e) => e === 'claim')).toHaveLength(1);
  expect(events.indexOf('claim')).toBeLessThan(events.indexOf('storage answered'));

  // The fetch let the lease go after its commit: another process's claim leads, told of the commit.
  const other = await leases(prefix);
  const key = blobFlightKey(f.upstreams.resolve('up/foo')!, layer.digest);
  const next = await other.acquire(key);
  expect(next).toMatchObject({ kind: 'led', afterCommit: true });
  if (next.kind === 'led') next.release();

  events = [];
  const hit = await f.registry.openBlob('up/foo', layer.digest);
  expect(hit.cache).toBe('hit');
  await readStream(hit.stream);
  expect(events).not.toContain('claim');
});

test('a claim made early for a layer that was stored after all is let go at once, marked as committed', async () => {
  const prefix = uniquePrefix('claim-ahead');
  await recordingRegistry(prefix);
  await f.registry.getManifest('up/foo', latest);
  const layer = image.layers[0]!;
  const first = await f.registry.openBlob('up/foo', layer.digest);
  await readStream(first.stream);
  await first.done;

  // A new tag of the same image from the upstream: its layer counts as a likely miss again, but it is stored.
  f.upstream.pushImage('foo', ['v2'], 'ahead', [LAYER_SIZE]);
  await f.registry.getManifest('up/foo', { kind: 'tag', tag: 'v2' });
  f.upstream.clearRequests();
  events = [];
  const hit = await f.registry.openBlob('up/foo', layer.digest);
  expect(hit.cache).toBe('hit');
  expect((await readStream(hit.stream)).bytes.equals(layer.bytes)).toBe(true);
  expect(events.filter((e) => e === 'claim')).toHaveLength(1);
  expect(f.upstream.count('blobs', 'GET')).toBe(0);

  // Not left held (another process would wait for a fetch nobody runs): the next claim leads, told of the commit.
  const other = await leases(prefix);
  const key = blobFlightKey(f.upstreams.resolve('up/foo')!, layer.digest);
  let next = await other.acquire(key);
  for (let i = 0; i < 50 && next.kind === 'held'; i++) {
    // The release is sent without waiting for it: give it a moment.
    await new Promise((r) => setTimeout(r, 20));
    next = await other.acquire(key);
  }
  expect(next).toMatchObject({ kind: 'led', afterCommit: true });
  if (next.kind === 'led') next.release();
});
