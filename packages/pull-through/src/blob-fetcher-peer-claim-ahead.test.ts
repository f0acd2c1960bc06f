import { createHash } from 'node:crypto';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRedis, uniquePrefix, waitUntil, type RedisServer } from '@pullthrough/test-support';
import { connectedLeases } from '../test/connected-leases.js';
import { realUpstreamFetcher } from '../test/real-upstream-fetcher.js';
import { BlobFetcher } from './blob-fetcher.js';
import { blobFlightKey } from './blob-flight-key.js';
import type { LiveBlob } from './blob-flight.js';
import { peerFlightHandler } from './peer-flight-handler.js';
import { PeerSecret } from './peer-secret.js';
import { HttpBlobPeers } from './peer-stream-client.js';
import { PeerStreamStats } from './peer-stream-stats.js';
import { PeerTokens } from './peer-token.js';
import { ControlStore } from '@pullthrough/storage';
import type { RedisBlobLeases } from './redis-blob-leases.js';

/**
 * A client's request claims the fetch lease of a likely miss while it looks at storage (ClaimsAhead):
 * from then on the lease names this replica as the leader, though its fetch has not started. Another
 * replica's follower that asks for the leader's peer stream in that gap waits for the fetch to start
 * instead of being turned away (turned away, all its clients waited for the whole blob to be committed:
 * the scale-out herd's 20 late clients on one frontend). Two BlobFetchers on one filesystem store, each
 * with its own Redis leases; the leader's peer listener a real HTTP server on loopback; a real
 * docker-registry behind the counting proxy.
 */
const MiB = 1024 * 1024;
const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const upstream = realUpstreamFetcher('peer-claim-ahead');
let redis: RedisServer;
let listener: Server;
let peerUrl: string;
let serve: RequestListener | undefined;
let peerRequests = 0;
const opened: RedisBlobLeases[] = [];

beforeAll(async () => {
  redis = await startRedis();
  listener = createServer((req, res) => {
    peerRequests++;
    if (serve) serve(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  peerUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
}, 30_000);
afterEach(() => {
  opened.splice(0).forEach((l) => l.close());
  serve = undefined;
});
afterAll(async () => {
  await new Promise((resolve) => listener?.close(resolve));
  await redis?.stop();
});

async function read(live: LiveBlob): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of live.stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Replica A (claims ahead, serves its fetches on the peer listener) and B (follows over peer streams), one store. */
async function replicas() {
  const prefix = uniquePrefix('peer-claim-ahead');
  const [a, b] = [await connectedLeases(redis.url, prefix, 15_000, peerUrl), await connectedLeases(redis.url, prefix, 15_000)];
  opened.push(a, b);
  const s = await upstream.setUp(MiB, { leases: a });
  const tokens = new PeerTokens(await PeerSecret.load(new ControlStore(s.driver)));
  serve = peerFlightHandler({ fetcher: s.fetcher, tokens, stats: new PeerStreamStats() });
  const peers = new HttpBlobPeers({ tokens, allowed: (url) => url.hostname === '127.0.0.1' });
  const other = new BlobFetcher(s.store, { leases: b, peers });
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: s.digest, size: s.blob.length };
  // A just fetched the image manifest naming the layer: its client's request claims the lease ahead.
  s.fetcher.expectMisses(s.target, [layer]);
  const { ahead } = s.fetcher.requested(s.target, s.digest);
  expect(ahead).toBeDefined();
  // The lease names A before A's fetch is in its map of running flights.
  const key = blobFlightKey(s.target, s.digest);
  await waitUntil(async () => (await b.acquire(key)).kind === 'held', { what: "A's claim in Redis", timeoutMs: 5_000, intervalMs: 10 });
  expect(s.fetcher.isRunning(s.target, s.digest)).toBe(false);
  return { ...s, ahead: ahead!, other, peers, requestsBefore: peerRequests };
}

describe("a peer asking for a fetch whose lease was claimed ahead, before the fetch started", () => {
  it("waits for the fetch to start and reads it live: B's client has every byte from A's stream, one upstream GET", async () => {
    const s = await replicas();
    const onB = s.other.stream(s.target, s.digest);
    // B has asked A for its stream while A's client still looks at storage.
    await waitUntil(async () => peerRequests > s.requestsBefore, { what: 'B asking A for its peer stream', timeoutMs: 5_000, intervalMs: 10 });
    await new Promise((r) => setTimeout(r, 200));
    // A's client found nothing stored: its fetch starts now, with the claim made ahead.
    const onA = await s.fetcher.stream(s.target, s.digest);
    s.ahead.drop(false);
    const liveOnB = await onB;
    expect(liveOnB).toBeDefined();
    const [bytesA, bytesB] = await Promise.all([read(onA!), read(liveOnB!)]);
    expect([sha(bytesA), sha(bytesB)]).toEqual([s.digest, s.digest]);
    expect(s.peers.stats.followed).toBe(1);
    expect(upstream.blobGets(s.digest)).toBe(1);
    await liveOnB!.done;
    expect((await s.store.statBlob(s.digest))?.size).toBe(MiB);
  });

  it("is turned away once the claim is dropped unused, and B's fetch takes the free lease over: one upstream GET, by B", async () => {
    const s = await replicas();
    const onB = s.other.stream(s.target, s.digest);
    await waitUntil(async () => peerRequests > s.requestsBefore, { what: 'B asking A for its peer stream', timeoutMs: 5_000, intervalMs: 10 });
    // A's client gives the claim up without a fetch (it found the blob linked, or failed): the lease is free.
    s.ahead.drop(false);
    // No stream to read: B's client is told to wait for the commit; B's fetch finds the lease free and leads.
    expect(await onB).toBeUndefined();
    expect(s.peers.stats.failed.refused).toBe(1);
    const fetched = await s.other.ensure(s.target, s.digest);
    expect(fetched.size).toBe(MiB);
    expect((await s.store.statBlob(s.digest))?.size).toBe(MiB);
    expect(upstream.blobGets(s.digest)).toBe(1);
  });
});
