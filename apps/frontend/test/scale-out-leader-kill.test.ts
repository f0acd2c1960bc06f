import { createHash } from 'node:crypto';
import type { Digest } from '@pullthrough/oci';
import { blobDataPath } from '@pullthrough/storage';
import { timedBlobGet, waitUntil, type FrontendProcess, type TimedBlob } from '@pullthrough/test-support';
import { startCluster, TARGET, type Cluster } from './scale-out-cluster.js';

// kill -9 of the frontend process leading a blob's upstream fetch, halfway through the body: its
// lease expires, another frontend takes the fetch over, clients that retry (on any frontend) get
// the right bytes, and neither a client nor the store ever holds a short or wrong blob that looks complete.

const MiB = 1024 * 1024;
const LEASE_MS = 1500;
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({
    storage: 'azure-blob',
    frontends: 3,
    hydrators: 0,
    fixtures: { seed: `leader-kill-${process.pid}-${Date.now()}`, layerSizes: [1024, 3 * MiB] },
    // 3 MiB through 768 KiB/s: about 4 s of body, long enough to be cut halfway.
    upstreamBytesPerSecond: 768 * 1024,
    frontendEnv: { PULLTHROUGH_BLOB_LEASE_MS: String(LEASE_MS), PULLTHROUGH_HYDRATION_DELAY_MS: '600000' },
  });
}, 120_000);
afterAll(() => cluster?.stop(), 30_000);

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Every response a client saw (attempts in order) until it got the verified blob or ran out of attempts. */
async function retryingClient(first: FrontendProcess, digest: string, size: number, attempts = 6): Promise<TimedBlob[]> {
  const seen: TimedBlob[] = [];
  let frontend = first;
  for (let i = 0; i < attempts; i++) {
    const got = await timedBlobGet(frontend.dataUrl, `${TARGET}/multilayer`, digest, size);
    seen.push(got);
    if (got.verified) break;
    // Retry on the next live frontend, as a client behind a load balancer would land.
    const live = cluster.frontends.filter((f) => f.alive());
    frontend = live[(live.indexOf(frontend) + 1) % live.length] ?? live[0]!;
    await new Promise((r) => setTimeout(r, 200));
  }
  return seen;
}

test('the leader frontend is SIGKILLed halfway through a blob: the lease passes to another frontend, retrying clients verify, nothing short looks complete, nothing partial is in the store', async () => {
  const [a, b, c] = cluster.frontends as [FrontendProcess, FrontendProcess, FrontendProcess];
  const layer = cluster.upstream.fixtures.multiLayer.blobs.reduce((x, y) => (y.size > x.size ? y : x));
  const gets = () => cluster.upstream.proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET' && r.reference === layer.digest);

  // A leads: its client asks first, and the upstream GET is A's.
  const onA = retryingClient(a, layer.digest, layer.size);
  await waitUntil(async () => gets().length === 1, { what: 'A to fetch the layer', timeoutMs: 20_000 });
  const clients = [onA, ...[b, c, a, b, c].map((f) => retryingClient(f, layer.digest, layer.size))];
  await waitUntil(async () => gets()[0]!.bytes >= layer.size / 2, { what: 'half of the body to pass', timeoutMs: 30_000, intervalMs: 10 });
  await a.kill('SIGKILL');
  const killedAt = Date.now();

  // Until the new fetch commits, the store has no object at the blob's path, or only the verified blob.
  const path = blobDataPath(layer.digest as Digest);
  const storeChecks: string[] = [];
  const watching = (async () => {
    while (gets().length < 2 || gets()[1]!.endedAt === undefined) {
      const stat = await cluster.store.stat(path);
      if (stat) {
        const content = await cluster.store.getContent(path);
        storeChecks.push(content && sha256(content) === layer.digest ? 'verified' : `partial: ${content?.length ?? 0} bytes`);
      } else storeChecks.push('absent');
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const seen = await Promise.all(clients);
  await watching;
  // Every client ends with the verified blob; no response that ended normally with a 200 held other bytes.
  for (const attempts of seen) {
    expect(attempts.at(-1)).toMatchObject({ status: 200, verified: true });
    for (const got of attempts.filter((x) => x.status === 200 && x.complete)) expect({ bytes: got.bytes, verified: got.verified }).toEqual({ bytes: layer.size, verified: true });
  }
  // A's own client was cut mid-body (it retried elsewhere).
  expect((await onA)[0]).toMatchObject({ complete: false, verified: false });
  expect(storeChecks.filter((s) => s !== 'absent' && s !== 'verified')).toEqual([]);
  expect(storeChecks.length).toBeGreaterThan(0);

  // Exactly one more upstream GET: another frontend took the lease over once A's had expired.
  expect(gets()).toHaveLength(2);
  console.info(
    `leader killed at ${gets()[0]!.bytes}/${layer.size} bytes; takeover GET ${gets()[1]!.receivedAt - killedAt} ms after the kill; ` +
      `clients' attempts: ${seen.map((a) => a.map((x) => (x.verified ? 'ok' : `${x.status}${x.complete ? '' : ' cut'}`)).join(' > ')).join(' | ')}; store checks: ${storeChecks.length} (${[...new Set(storeChecks)].join(', ')})`,
  );
  expect(gets()[1]!.receivedAt - killedAt).toBeGreaterThanOrEqual(LEASE_MS / 2);
  const stored = await cluster.store.getContent(path);
  expect(stored && sha256(stored)).toBe(layer.digest);
  // The survivors serve it from the store now, with no upstream request.
  for (const f of [b, c]) expect(await timedBlobGet(f.dataUrl, `${TARGET}/multilayer`, layer.digest, layer.size)).toMatchObject({ status: 200, verified: true });
  expect(gets()).toHaveLength(2);
}, 120_000);
