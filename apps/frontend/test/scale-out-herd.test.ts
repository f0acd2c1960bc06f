import { readFile } from 'node:fs/promises';
import { barrier, herdTimings, timedPull, type BlobTimings, type ProxiedRequest, type TimedPull } from '@pullthrough/test-support';
import { frontendHasPeerStreaming, startCluster, TARGET, type Cluster } from './scale-out-cluster.js';

// The scale-out event the design is for: 60 clients spread over 3 frontend processes pull one
// uncached multi-layer image while 2 hydrator processes run, all on one Azure Blob container
// (Azurite) and one Redis, the upstream behind a 1 MiB/s link. One upstream GET per blob in all.

const MiB = 1024 * 1024;
const CLIENTS = 60;
const HYDRATION_DELAY_MS = 3000;
const PEER = frontendHasPeerStreaming();

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
    // The hydration job (enqueued by the first manifest pull) starts while the frontends' fetches run.
    frontendEnv: { PULLTHROUGH_HYDRATION_DELAY_MS: String(HYDRATION_DELAY_MS) },
  });
}, 120_000);
afterAll(() => cluster?.stop());

const image = () => cluster.upstream.fixtures.multiLayer;
const repository = () => `${TARGET}/multilayer`;
const upstreamGets = (): ProxiedRequest[] => cluster.upstream.proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET');

describe('3 frontend and 2 hydrator processes on one store and one Redis', () => {
  test(`${CLIENTS} clients over the 3 frontends pull an uncached multi-layer image: every client verifies every digest, the upstream serves each blob once, the hydration job joins the same leases`, async () => {
    const f = image();
    const met = barrier(CLIENTS);
    // Each client gets the manifest, then (once every client has it) all its blobs at once.
    pulls = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        timedPull(cluster.frontends[i % 3]!.dataUrl, repository(), f.tag, {
          beforeBlobs: async () => {
            await met.wait();
            blobsOpenedAt ??= Date.now();
          },
        }),
      ),
    );
    for (const pull of pulls) {
      expect(pull.manifest.digest).toBe(f.digest);
      expect(pull.blobs.map((b) => ({ digest: b.digest, status: b.status, verified: b.verified }))).toEqual(f.blobs.map((b) => ({ digest: b.digest, status: 200, verified: true })));
    }
    expect(Object.fromEntries(cluster.blobGets())).toEqual(Object.fromEntries(f.blobs.map((b) => [b.digest, 1])));
    // The clients led every fetch (none started before the blob requests: the hydrator came later).
    for (const get of upstreamGets()) expect(get.receivedAt).toBeGreaterThanOrEqual(blobsOpenedAt - 5);

    // The job of the first manifest pull ran on one of the hydrators, on the blobs being fetched
    // (or just committed): hydrated, with no upstream blob GET of its own.
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
    const biggest = timings.reduce((x, y) => (y.upstreamMs > x.upstreamMs ? y : x));
    expect(hydrated[0]!.time - hydrated[0]!.ms).toBeLessThan(biggest.upstreamEndedAt);

    // For the report: per blob, the upstream body's first and last byte, the leader's time to first
    // byte and the followers' (relative to their requests), in ms.
    console.info(`herd over 3 frontend processes, ${CLIENTS} clients:\n${timings.map((t) => t.summary).join('\n')}`);
  }, 120_000);

  // Active once the frontends stream a fetch to the followers of other frontends (peer streaming,
  // PULLTHROUGH_PEER_PORT); a build without it serves those followers from the committed blob.
  (PEER ? test : test.skip)(
    `no follower waits for the whole blob: each follower's first byte comes before the leader's upstream body ended${PEER ? '' : ' [skipped: this build of the frontend has no PULLTHROUGH_PEER_PORT setting, so followers on other frontends wait for the commit]'}`,
    () => {
      expect(timings).toBeDefined();
      // Blobs whose upstream body took 2 s or more through the 1 MiB/s link (the 3 MiB and 1 MiB layers).
      const long = timings.filter((t) => t.upstreamMs >= 2000);
      expect(long.length).toBeGreaterThanOrEqual(1);
      for (const t of long) {
        // A margin of a quarter of the transfer: a follower's bytes start well before the end, not at it.
        const bound = t.upstreamEndedAt - t.upstreamMs / 4;
        const late = t.followers.filter((c) => c.firstByteAt > bound);
        expect({ digest: t.digest, late: late.length, of: t.followers.length }).toEqual({ digest: t.digest, late: 0, of: CLIENTS - 1 });
      }
    },
  );
});
