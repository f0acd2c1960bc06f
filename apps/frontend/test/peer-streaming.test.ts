import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Digest } from '@pullthrough/oci';
import { PeerSecret, PeerTokens } from '@pullthrough/pull-through';
import { freePort, pseudoRandomBytes, registryClientFor, uniquePrefix, type RedisServer } from '@pullthrough/test-support';
import { blobPath, eventually, metric, sha256, sleep } from './fault-helpers.js';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { memoryLogger, type MemoryLog } from './memory-logger.js';
import { startRead as startUrlRead, type StreamedRead } from './streamed-read.js';

// Peer streaming: two frontends in-process sharing one data dir and one Redis, each with its peer
// listener. A blob frontend A fetches (it holds the lease) is read live by frontend B's clients from
// A's peer stream: one upstream GET, bytes on B before A has the whole blob.
let redis: RedisServer;
let upstream: Upstream;
let caches: Cache[] = [];
let dataDir: string;
let prefix: string;
const logs: MemoryLog[] = [];
/** The peer keys the tests' frontends used (read from storage, where they live). */
const peerKeys: string[] = [];

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
}, 120_000);
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'pullthrough-peer-'));
  prefix = uniquePrefix('peer');
});
afterEach(async () => {
  upstream.proxy.setFault(null);
  // Every frontend of a test shares the data dir, so one key per test.
  const key = await caches[0]?.frontend.registry.store.control.getControl<{ secret: string }>('peer-stream', 'secret');
  if (key) peerKeys.push(key.secret);
  await Promise.all(caches.splice(0).map((c) => c.stop()));
  await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
});
afterAll(async () => {
  await upstream?.stop();
  await redis?.stop();
});

/** A frontend on the shared data dir and prefix with peer streaming on (a free peer port), logging into memory at debug. */
async function frontend(env: Record<string, string> = {}): Promise<Cache> {
  const log = memoryLogger();
  log.logger.level = 'debug';
  logs.push(log);
  // The suite shares the machine's cores with many servers: a lease claim gets 2 s (not 50 ms) before a
  // frontend fetches alone, which these tests would count as a second GET.
  const shared = { PULLTHROUGH_QUEUE_PREFIX: prefix, PULLTHROUGH_HYDRATION_DELAY_MS: '600000', PULLTHROUGH_PEER_PORT: String(await freePort()), PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS: '2000', ...env };
  const cache = await startCache(redis, [upstream.proxy.host], shared, {}, dataDir, log.logger);
  caches.push(cache);
  const res = await putRule(cache, { name: 'peer-up', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'up/*' });
  expect([200, 201]).toContain(res.status);
  return cache;
}

const startRead = (cache: Cache, p: string) => startUrlRead(`${cache.dataUrl}${p}`);
const layer = () => upstream.fixtures.multiLayer.blobs.reduce((x, y) => (y.size > x.size ? y : x));
const path = () => blobPath('up/multilayer', layer().digest);
const blobGets = () => upstream.proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET' && r.reference === layer().digest).length;
function gate(): { until: Promise<void>; open(): void } {
  let open!: () => void;
  const until = new Promise<void>((resolve) => (open = resolve));
  return { until, open };
}

function expectVerified(read: StreamedRead): void {
  expect({ status: read.status, complete: read.complete, digest: sha256(read.body) }).toEqual({ status: 200, complete: true, digest: layer().digest });
}
/** A request straight to a frontend's peer listener. */
async function peerGet(cache: Cache, p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${peerUrl(cache)}${p}`, { method, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const peerUrl = (cache: Cache) => {
  const a = cache.frontend.servers.peer!.address() as { address: string; port: number };
  return `http://${a.address}:${a.port}`;
};

describe('peer streaming: followers on another frontend read the leader fetch live', () => {
  test('a bandwidth-limited upstream: clients on B get bytes before A has the whole blob; one upstream GET; every client verifies', async () => {
    const [a, b] = [await frontend(), await frontend()];
    upstream.proxy.reset();
    // About 0.6 MB/s: the layer (> 3 MiB) takes seconds to arrive.
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.method === 'GET' && r.reference === layer().digest ? { kind: 'trickle', bytesPerTick: 16 * 1024, tickMs: 25 } : null));
    const onA = startRead(a, path());
    await eventually('A fetches the layer', () => blobGets() === 1, 10_000);
    // B's first client asks for a range: B's one peer stream carries the whole blob, the range is cut from it.
    const RANGE = { start: 1000, end: 1_500_000 };
    const rangedOnB = startUrlRead(`${b.dataUrl}${path()}`, { headers: { range: `bytes=${RANGE.start}-${RANGE.end}` } });
    await eventually('B follows A', () => b.frontend.registry.blobs.isInFlight(layer().digest as Digest), 10_000);
    const onB = [startRead(b, path()), startRead(b, path()), startRead(b, path())];
    await eventually('a client on B has bytes', () => onB.some((r) => r.bytes() > 0), 20_000);
    const readA = await onA.finished;
    const lastByteOnA = Date.now();
    expectVerified(readA);
    const readsB = await Promise.all(onB.map((r) => r.finished));
    readsB.forEach(expectVerified);
    const ranged = await rangedOnB.finished;
    expect({ status: ranged.status, complete: ranged.complete }).toEqual({ status: 206, complete: true });
    expect(ranged.body.equals(readA.body.subarray(RANGE.start, RANGE.end + 1))).toBe(true);
    // Every client on B had its first byte before the leader's own client had its last one.
    for (const r of [...onB, rangedOnB]) expect(r.firstByteAt()).toBeLessThan(lastByteOnA);
    expect(blobGets()).toBe(1);
    // B's four clients shared one peer stream; A served one.
    expect(await metric(b, 'pullthrough_peer_streams_followed_total')).toBe(1);
    expect(await metric(a, 'pullthrough_peer_streams_served_total')).toBe(1);
    expect(await metric(b, 'pullthrough_peer_streams_failed_total{reason="broken"}')).toBe(0);
    // Linked on B as well (B's clients were served by its upstream coordinates): a local hit now.
    expectVerified(await startRead(b, path()).finished);
    expect(blobGets()).toBe(1);
  }, 60_000);

  test("after the leader's kept first bytes: a late client on A and B's peer stream read back from A's store file, then live; one GET", async () => {
    // A's client buffers of 128 KiB: it keeps 128 KiB of the fetch's first bytes, and reads back while
    // four buffers (512 KiB) of the blob are still to come.
    const [a, b] = [await frontend({ PULLTHROUGH_CLIENT_BUFFER_BYTES: String(128 * 1024) }), await frontend()];
    upstream.proxy.reset();
    // The body holds at 2 MiB (over 1 MiB still to come): 1 MiB or more written to A's file (a MiB at a time).
    const HOLD = 2 * 1024 * 1024;
    expect(layer().size).toBeGreaterThan(HOLD);
    const held = gate();
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.method === 'GET' && r.reference === layer().digest ? { kind: 'hold', atByte: HOLD, until: held.until } : null));
    const onA = startRead(a, path());
    await eventually('the leader at the held byte', () => onA.bytes() >= HOLD - 64 * 1024, 10_000);
    const lateOnA = startRead(a, path());
    const onB = startRead(b, path());
    // B's client: all but the slice B holds back until the digest is checked (B hashes A's stream as it comes).
    await eventually('the late clients have the written part while the upstream holds', () => lateOnA.bytes() >= 1024 * 1024 && onB.bytes() >= 768 * 1024, 10_000);
    expect(await a.frontend.registry.store.statBlob(layer().digest as Digest)).toBeUndefined();
    held.open();
    for (const read of await Promise.all([onA, lateOnA, onB].map((r) => r.finished))) expectVerified(read);
    expect(blobGets()).toBe(1);
    expect(await metric(a, 'pullthrough_blob_taps_read_back_total')).toBe(2);
    expect(await metric(b, 'pullthrough_peer_streams_followed_total')).toBe(1);
  }, 60_000);

  test('a lone client on B that stops for a moment is waited for: B reads the peer stream at its pace, no fall-behind, every byte verified, one GET', async () => {
    const MiB = 1024 * 1024;
    const digest = await registryClientFor(upstream.registry).pushBlob('fixtures/peer-wait', pseudoRandomBytes(24 * MiB, 'peer-wait'));
    const p = blobPath('up/peer-wait', digest);
    const gets = () => upstream.proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET' && r.reference === digest).length;
    // B's client has a 256 KiB buffer: far less than what comes while it stops for 800 ms. Waited for
    // whatever its pace so far (min share 0): on a loaded machine the pace rule alone once let it fall
    // behind (a fresh-clone CI run of eea6a2b); the wait's own bounds (2 s without a byte) still apply.
    const [a, b] = [await frontend(), await frontend({ PULLTHROUGH_CLIENT_BUFFER_BYTES: String(256 * 1024), PULLTHROUGH_CLIENT_WAIT_MIN_SHARE: '0' })];
    upstream.proxy.reset();
    // The upstream holds the body after 1 MiB until B's client streams from A.
    const held = gate();
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.method === 'GET' && r.reference === digest ? { kind: 'hold', atByte: MiB, until: held.until } : null));
    try {
      const onA = startUrlRead(`${a.dataUrl}${p}`);
      await eventually('A fetches the blob', () => gets() === 1, 10_000);
      const onB = startUrlRead(`${b.dataUrl}${p}`, { pauseAt: { bytes: 2 * MiB, ms: 800 } });
      await eventually('the client on B has bytes while the upstream holds the body', () => onB.bytes() > 0, 10_000);
      held.open();
      const verified = (read: StreamedRead) => ({ status: read.status, complete: read.complete, digest: sha256(read.body) });
      expect(verified(await onA.finished)).toEqual({ status: 200, complete: true, digest });
      expect(verified(await onB.finished)).toEqual({ status: 200, complete: true, digest });
      expect(await metric(b, 'pullthrough_peer_streams_followed_total')).toBe(1);
      expect(await metric(b, 'pullthrough_blob_clients_fell_behind_total')).toBe(0);
      expect(await metric(b, 'pullthrough_blob_client_waits_total')).toBeGreaterThanOrEqual(1);
      expect(gets()).toBe(1);
    } finally {
      held.open();
    }
  }, 60_000);

  test('clients on both frontends at once: the follower asks before the leader has its upstream headers and still streams; one GET', async () => {
    const [a, b] = [await frontend(), await frontend()];
    upstream.proxy.reset();
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.method === 'GET' && r.reference === layer().digest ? { kind: 'trickle', bytesPerTick: 32 * 1024, tickMs: 25 } : null));
    const reads = [a, b, a, b].map((cache) => startRead(cache, path()));
    for (const read of await Promise.all(reads.map((r) => r.finished))) expectVerified(read);
    expect(blobGets()).toBe(1);
    // Whichever led, the other read its stream (one stream for its two clients).
    const followed = [await metric(a, 'pullthrough_peer_streams_followed_total'), await metric(b, 'pullthrough_peer_streams_followed_total')];
    const served = [await metric(a, 'pullthrough_peer_streams_served_total'), await metric(b, 'pullthrough_peer_streams_served_total')];
    expect(followed.sort()).toEqual([0, 1]);
    expect(served.sort()).toEqual([0, 1]);
  }, 60_000);

  test('the leader stops mid-body: clients on B get a broken response (never a short 200); a retry completes', async () => {
    const env = { PULLTHROUGH_BLOB_LEASE_MS: '1500', PULLTHROUGH_SHUTDOWN_TIMEOUT_MS: '300' };
    const [a, b] = [await frontend(env), await frontend(env)];
    upstream.proxy.reset();
    const held = gate();
    let first = true;
    upstream.proxy.setFault((r) => {
      if (r.kind !== 'blob' || r.method !== 'GET' || r.reference !== layer().digest || !first) return null;
      first = false;
      return { kind: 'hold', atByte: 1024 * 1024, until: held.until };
    });
    try {
      const onA = startRead(a, path());
      await eventually('A fetches the layer', () => blobGets() === 1, 10_000);
      const onB = [startRead(b, path()), startRead(b, path())];
      // B's clients read A's first MiB while the upstream holds the rest.
      await eventually('clients on B have bytes', () => onB.every((r) => r.bytes() > 0), 10_000);
      await a.stop();
      caches.splice(caches.indexOf(a), 1);
      for (const read of [await onA.finished, ...(await Promise.all(onB.map((r) => r.finished)))]) {
        expect(read.complete).toBe(false);
        expect(read.body.length).toBeLessThan(layer().size);
      }
      expect(await metric(b, 'pullthrough_peer_streams_failed_total{reason="broken"}')).toBe(1);
      // B takes the lease over once A's has expired: the retry completes.
      expectVerified(await startRead(b, path()).finished);
      expect(blobGets()).toBe(2);
    } finally {
      held.open();
    }
  }, 60_000);

  test("the leader's upstream resets mid-body: the leader cuts its peer stream, B's clients see a broken response, B fetches and a retry completes", async () => {
    const [a, b] = [await frontend(), await frontend()];
    upstream.proxy.reset();
    const held = gate();
    let first = true;
    // The first GET: 1 MiB, held until B streams, then reset. Later GETs pass.
    upstream.proxy.setFault((r) => {
      if (r.kind !== 'blob' || r.method !== 'GET' || r.reference !== layer().digest || !first) return null;
      first = false;
      return { kind: 'hold', atByte: 1024 * 1024, until: held.until, thenReset: true };
    });
    try {
      const onA = startRead(a, path());
      await eventually('A fetches the layer', () => blobGets() === 1, 10_000);
      const onB = [startRead(b, path()), startRead(b, path())];
      await eventually('clients on B have bytes', () => onB.every((r) => r.bytes() > 0), 10_000);
      held.open();
      for (const read of await Promise.all(onB.map((r) => r.finished))) expect({ complete: read.complete, short: read.body.length < layer().size }).toEqual({ complete: false, short: true });
      expect((await onA.finished).complete).toBe(false);
      expect(await metric(b, 'pullthrough_peer_streams_failed_total{reason="broken"}')).toBe(1);
      expectVerified(await startRead(b, path()).finished);
      expectVerified(await startRead(a, path()).finished);
      // The failed GET and B's.
      expect(blobGets()).toBe(2);
    } finally {
      held.open();
    }
  }, 60_000);

  test('a peer URL outside the allowed networks is never contacted: B waits for the commit', async () => {
    const a = await frontend();
    // B accepts peers in 10.0.0.0/8 only (its own URL there is never used: it only follows here).
    const b = await frontend({ PULLTHROUGH_PEER_ALLOWED_NETWORKS: '10.0.0.0/8', PULLTHROUGH_PEER_URL: 'http://10.255.255.1:5003' });
    let peerConnections = 0;
    a.frontend.servers.peer!.on('connection', () => peerConnections++);
    upstream.proxy.reset();
    const held = gate();
    upstream.proxy.setFault((r) => (r.kind === 'blob' && r.method === 'GET' && r.reference === layer().digest ? { kind: 'hold', atByte: 1024 * 1024, until: held.until } : null));
    try {
      const onA = startRead(a, path());
      await eventually('A fetches the layer', () => blobGets() === 1, 10_000);
      const onB = startRead(b, path());
      await eventually('B refused the peer URL', async () => (await metric(b, 'pullthrough_peer_streams_failed_total{reason="not-allowed"}')) === 1, 10_000);
      await sleep(500);
      expect(onB.bytes()).toBe(0);
      held.open();
      expectVerified(await onA.finished);
      expectVerified(await onB.finished);
      expect(peerConnections).toBe(0);
      expect(await metric(a, 'pullthrough_peer_streams_served_total')).toBe(0);
      expect(blobGets()).toBe(1);
    } finally {
      held.open();
    }
  }, 60_000);

  test('the peer listener: only GET of a flight with a valid token; bad input is a small JSON error; the data and admin ports do not serve it', async () => {
    const a = await frontend();
    const id = 'a'.repeat(64);
    const p = `/internal/v1/blob-flights/${id}`;
    const tokens = new PeerTokens(await PeerSecret.load(a.frontend.registry.store.control));
    expect(await peerGet(a, p)).toEqual({ status: 401, body: { error: expect.objectContaining({ code: 'PEER_UNAUTHORIZED' }) } });
    expect((await peerGet(a, p, { authorization: 'PullthroughPeer v1.garbage' })).status).toBe(401);
    const expired = new PeerTokens(await PeerSecret.load(a.frontend.registry.store.control), () => Date.now() - 60_000).sign(id);
    expect(await peerGet(a, p, { authorization: expired })).toEqual({ status: 401, body: { error: expect.objectContaining({ code: 'PEER_TOKEN_EXPIRED' }) } });
    const otherKey = await PeerSecret.load({ getControl: async <T>() => ({ secret: 'ab'.repeat(32) }) as T, putControl: async () => undefined, createControl: async () => false });
    expect(await peerGet(a, p, { authorization: new PeerTokens(otherKey).sign(id) })).toEqual({ status: 403, body: { error: expect.objectContaining({ code: 'PEER_DENIED' }) } });
    // A token opens only the flight it was signed for.
    expect((await peerGet(a, p, { authorization: tokens.sign('b'.repeat(64)) })).status).toBe(403);
    expect(await peerGet(a, p, { authorization: tokens.sign(id) })).toEqual({ status: 404, body: { error: expect.objectContaining({ code: 'FLIGHT_UNAVAILABLE' }) } });
    expect((await peerGet(a, p, { authorization: tokens.sign(id) }, 'POST')).status).toBe(405);
    expect((await peerGet(a, '/internal/v1/blob-flights/not-hex')).status).toBe(404);
    expect((await peerGet(a, '/v2/')).status).toBe(404);
    for (const base of [a.dataUrl, a.adminUrl]) {
      const res = await fetch(`${base}${p}`, { headers: { authorization: tokens.sign(id) } });
      expect(res.status).toBe(404);
    }
  }, 30_000);

  test('the peer keys the tests used appear in no log line (debug included) and in no Redis value', async () => {
    expect(peerKeys.length).toBeGreaterThanOrEqual(6);
    for (const key of peerKeys) expect(key).toMatch(/^[0-9a-f]{64}$/);
    const forms = peerKeys.flatMap((key) => [key, Buffer.from(key, 'hex').toString('base64'), Buffer.from(key, 'hex').toString('base64url')]);
    const text = logs.flatMap((l) => l.raw).join('\n');
    // The frontends did log (peer streams included), at debug.
    expect(text).toContain('peer stream');
    for (const form of forms) expect(text.includes(form)).toBe(false);
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys('*');
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) {
        if ((await client.type(k)) !== 'string') continue;
        const value = (await client.get(k)) ?? '';
        for (const form of forms) expect(value.includes(form)).toBe(false);
      }
    } finally {
      client.disconnect();
    }
  });
});
