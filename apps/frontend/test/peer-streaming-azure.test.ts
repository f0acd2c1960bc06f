import { azureBlobDriverFrom } from '@pullthrough/storage';
import { freePort, pseudoRandomBytes, registryClientFor, startAzurite, uniquePrefix, type Azurite, type RedisServer } from '@pullthrough/test-support';
import { blobPath, eventually, metric, sha256 } from './fault-helpers.js';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { startRead, type StreamedRead } from './streamed-read.js';

// Peer streaming with the store in one Azure Blob container (Azurite) shared by two frontends: the
// leader's staged blocks are never read back; the follower reads the leader's stream, and its client
// that fell behind continues from the committed blob in the container.
let redis: RedisServer;
let upstream: Upstream;
let azurite: Azurite;
const caches: Cache[] = [];

const MiB = 1024 * 1024;
const SIZE = 24 * MiB;

beforeAll(async () => {
  [redis, upstream, azurite] = await Promise.all([startRedis(), startUpstream(), startAzurite()]);
}, 120_000);
afterAll(async () => {
  upstream?.proxy.setFault(null);
  await Promise.all(caches.splice(0).map((c) => c.stop()));
  await Promise.all([upstream?.stop(), redis?.stop(), azurite?.stop()]);
});

test('a follower on Azure Blob storage: clients read the leader stream; one that fell behind resumes from the committed blob; one GET', async () => {
  const storage = { PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: azurite.connectionString, PULLTHROUGH_AZURE_BLOB_CONTAINER: azurite.uniqueContainer() };
  await azureBlobDriverFrom({ ...storage, PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_DATA_DIR: '', PULLTHROUGH_AZURE_CREDENTIAL: 'default' }).ensureContainer();
  const prefix = uniquePrefix('peer-az');
  const start = async (more: Record<string, string> = {}) => {
    // A lease claim gets 2 s (not 50 ms) before a frontend fetches alone: the suite shares the machine's cores.
    const env = { ...storage, PULLTHROUGH_QUEUE_PREFIX: prefix, PULLTHROUGH_HYDRATION_DELAY_MS: '600000', PULLTHROUGH_PEER_PORT: String(await freePort()), PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS: '2000', ...more };
    const cache = await startCache(redis, [upstream.proxy.host], env);
    caches.push(cache);
    return cache;
  };
  // A keeps its first 2 MiB for late clients (B's stream among them); B's clients have 256 KiB buffers.
  const [a, b] = [await start(), await start({ PULLTHROUGH_CLIENT_BUFFER_BYTES: String(256 * 1024) })];
  expect((await putRule(a, { name: 'peer-az', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'az/*' })).status).toBe(201);
  await b.frontend.rules.reload();
  const digest = await registryClientFor(upstream.registry).pushBlob('fixtures/peer-az', pseudoRandomBytes(SIZE, 'peer-az'));
  const url = (cache: Cache) => `${cache.dataUrl}${blobPath('az/peer-az', digest)}`;
  const gets = () => upstream.proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET' && r.reference === digest).length;
  const expectVerified = (read: StreamedRead) => expect({ status: read.status, complete: read.complete, digest: sha256(read.body) }).toEqual({ status: 200, complete: true, digest });

  // The upstream holds the body after 1 MiB until B streams from A.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  upstream.proxy.setFault((r) => (r.kind === 'blob' && r.method === 'GET' && r.reference === digest ? { kind: 'hold', atByte: MiB, until: held } : null));
  try {
    const onA = startRead(url(a));
    await eventually('A fetches the blob', () => gets() === 1, 10_000);
    const onB = startRead(url(b));
    // Reads nothing for now: its 256 KiB buffer (and the sockets') overflow, it falls behind.
    const slowOnB = startRead(url(b), { paused: true });
    await eventually('a client on B has bytes while the upstream holds the body', () => onB.bytes() > 0, 10_000);
    // The slow client has its answer too: it taps B's stream before the rest of the blob comes.
    await eventually('the slow client on B has its headers', () => slowOnB.responded(), 10_000);
    expect(await metric(b, 'pullthrough_peer_streams_followed_total')).toBe(1);
    release();
    expectVerified(await onA.finished);
    expectVerified(await onB.finished);
    expect(await metric(b, 'pullthrough_blob_clients_fell_behind_total')).toBeGreaterThanOrEqual(1);
    slowOnB.resume();
    expectVerified(await slowOnB.finished);
    expect(gets()).toBe(1);
    expect(await metric(b, 'pullthrough_peer_streams_failed_total{reason="broken"}')).toBe(0);
  } finally {
    release();
  }
}, 90_000);
