import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { barrier, herdTimings, skopeoCopy, tempDir, timedPull, waitUntil, type BlobTimings, type ProxiedRequest, type TimedPull } from '@pullthrough/test-support';
import { RULE, startCluster, TARGET, type Cluster } from './scale-out-cluster.js';

// The scale-out event the design is for: 60 clients spread over 3 frontend processes pull one
// uncached multi-layer image while 2 hydrator processes run, all on one Azure Blob container
// (Azurite) and one Redis, the upstream behind a 1 MiB/s link. One upstream GET per blob in all.

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const CLIENTS = 60;

let cluster: Cluster;
let pulls: TimedPull[];
let timings: BlobTimings[];
let blobsOpenedAt: number;

beforeAll(async () => {
  cluster = await startCluster({
    storage: 'azure-blob',
    frontends: 3,
    hydrators: 2,
    // Layers of 1 KiB, 256 KiB, 3 MiB and 1 MiB: the big one takes seconds through the 1 MiB/s link.
    fixtures: { seed: `herd-${process.pid}-${Date.now()}`, layerSizes: [1024, 256 * 1024, 3 * MiB, MiB] },
    upstreamBytesPerSecond: MiB,
    // The hydration job the manifest pulls enqueue waits until the test starts it (prefetch) mid-fetch.
    // The clients lead every fetch: neither the config nor layers are fetched ahead of them either.
    frontendEnv: { PULLTHROUGH_HYDRATION_DELAY_MS: '600000', PULLTHROUGH_PREFETCH_CONFIG: 'false', PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: '0' },
  });
}, 120_000);
afterAll(() => cluster?.stop(), 30_000);

const image = () => cluster.upstream.fixtures.multiLayer;
const repository = () => `${TARGET}/multilayer`;
const upstreamGets = (): ProxiedRequest[] => cluster.upstream.proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET');

/** `skopeo copy` of the image from each frontend into a dir; the copied manifest must be the image's. */
async function skopeoFromEach(tag: string): Promise<void> {
  await Promise.all(
    cluster.frontends.map(async (frontend) => {
      const out = await tempDir('herd-skopeo-');
      try {
        await skopeoCopy(['--src-tls-verify=false', '--src-no-creds', `docker://${frontend.host}/${repository()}:${tag}`, `dir:${out.path}`]);
        expect(sha256(await readFile(join(out.path, 'manifest.json')))).toBe(image().digest);
        for (const blob of image().blobs) expect(sha256(await readFile(join(out.path, blob.digest.slice('sha256:'.length))))).toBe(blob.digest);
      } finally {
        await out.remove();
      }
    }),
  );
}

describe('3 frontend and 2 hydrator processes on one store and one Redis', () => {
  test(`${CLIENTS} clients over the 3 frontends pull an uncached multi-layer image: every client (and a skopeo copy from each frontend) verifies every digest, the upstream serves each blob once, the hydration job joins the same leases`, async () => {
    const f = image();
    const biggest = f.blobs.reduce((x, y) => (y.size > x.size ? y : x));
    const met = barrier(CLIENTS);
    let skopeoPulls: Promise<void> | undefined;
    // Each client gets the manifest, then (once every client has it) all its blobs at once; then a real
    // client on each frontend too (skopeo copy checks every digest), out of the timed figures.
    const herd = Promise.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        timedPull(cluster.frontends[i % 3]!.dataUrl, repository(), f.tag, {
          beforeBlobs: async () => {
            await met.wait();
            blobsOpenedAt ??= Date.now();
            skopeoPulls ??= skopeoFromEach(f.tag);
          },
        }),
      ),
    );
    // A fifth of the biggest layer has come from the upstream: the hydration job of the image starts
    // now (prefetch starts the delayed job the manifest pulls enqueued), on one of the hydrators.
    await waitUntil(async () => (upstreamGets().find((r) => r.reference === biggest.digest)?.bytes ?? 0) >= biggest.size / 5, { what: 'the biggest layer to be a fifth through', timeoutMs: 60_000, intervalMs: 20 });
    const prefetch = await cluster.admin(cluster.frontends[2]!, `/cache-rules/${RULE}/prefetch`, { method: 'POST', body: { repository: repository(), references: [f.digest] } });
    expect(prefetch.status).toBe(202);
    pulls = await herd;
    await skopeoPulls;
    for (const pull of pulls) {
      expect(pull.manifest.digest).toBe(f.digest);
      expect(pull.blobs.map((b) => ({ digest: b.digest, status: b.status, verified: b.verified }))).toEqual(f.blobs.map((b) => ({ digest: b.digest, status: 200, verified: true })));
    }
    expect(Object.fromEntries(cluster.blobGets())).toEqual(Object.fromEntries(f.blobs.map((b) => [b.digest, 1])));
    // The clients led every fetch (none started before the blob requests).
    for (const get of upstreamGets()) expect(get.receivedAt).toBeGreaterThanOrEqual(blobsOpenedAt - 5);

    // The job ran on one of the hydrators: hydrated, with no upstream blob GET of its own.
    const status = await cluster.admin(cluster.frontends[1]!, `/hydrations?repository=${repository()}&reference=${f.digest}&wait=60`);
    expect(((await status.json()) as { state: string }).state).toBe('hydrated');
    expect(Object.fromEntries(cluster.blobGets())).toEqual(Object.fromEntries(f.blobs.map((b) => [b.digest, 1])));
    timings = herdTimings(pulls, upstreamGets());
    // One hydrator ran the job; it started while the biggest layer was still coming from the upstream
    // and fetched nothing itself: it waited on the frontend's lease.
    const hydrated = (await Promise.all(cluster.scale.hydrators.map((h) => readFile(h.logPath, 'utf8'))))
      .flatMap((log) => log.split('\n'))
      .filter((line) => line.includes('"msg":"hydrated"'))
      .map((line) => JSON.parse(line) as { time: number; ms: number; blobsFetched: number; bytesFetched: number });
    expect(hydrated).toHaveLength(1);
    expect(hydrated[0]).toMatchObject({ blobsFetched: 0, bytesFetched: 0 });
    expect(hydrated[0]!.time - hydrated[0]!.ms).toBeLessThan(timings.find((t) => t.digest === biggest.digest)!.upstreamEndedAt);

    // For the report: per blob, the upstream body's first and last byte, the leader's time to first
    // byte and the followers' (relative to their requests), in ms.
    console.info(`herd over 3 frontend processes, ${CLIENTS} clients:\n${timings.map((t) => t.summary).join('\n')}`);
  }, 120_000);

  // Followers on the other frontends read the leader's fetch over its peer listener (PULLTHROUGH_PEER_PORT).
  // Judged on the longest transfer (the 3 MiB layer, ~3 s or more through the 1 MiB/s link): waiting
  // for the whole blob would put every follower's first byte after its end. The shorter blobs are
  // reported only: on a loaded machine 60 clients and 5 processes on 2 cores blur a 1 s margin.
  test("no follower waits for the whole blob: each follower's first byte comes well before the leader's upstream body ended, through peer streams", async () => {
    expect(timings?.length).toBe(image().blobs.length);
    const longest = timings.reduce((x, y) => (y.upstreamMs > x.upstreamMs ? y : x));
    expect(longest.upstreamMs).toBeGreaterThanOrEqual(2000);
    // For the report (and a failure's diagnosis): each frontend's peer stream counts.
    const peerCounts = await Promise.all(
      cluster.frontends.map(async (frontend) => {
        const text = await (await fetch(`${frontend.adminUrl}/metrics`)).text();
        return text.split('\n').filter((l) => /^pullthrough_peer_streams_\w+(\{[^}]*\})? [1-9]/.test(l)).join(', ') || 'none';
      }),
    );
    console.info(`peer streams per frontend:\n${peerCounts.map((c, i) => `frontend ${i}: ${c}`).join('\n')}`);
    // A margin of a quarter of the transfer: a follower's bytes start well before the end, not at it.
    const bound = longest.upstreamEndedAt - longest.upstreamMs / 4;
    const late = longest.followers.filter((c) => c.firstByteAt > bound);
    expect({ digest: longest.digest, late: late.length, of: longest.followers.length }).toEqual({ digest: longest.digest, late: 0, of: CLIENTS - 1 });
    // And the other frontends did read the leaders' fetches over peer streams.
    let followed = 0;
    for (const frontend of cluster.frontends) {
      const text = await (await fetch(`${frontend.adminUrl}/metrics`)).text();
      followed += Number(/^pullthrough_peer_streams_followed_total (\d+)/m.exec(text)?.[1] ?? 0);
    }
    expect(followed).toBeGreaterThanOrEqual(2);
  });
});
