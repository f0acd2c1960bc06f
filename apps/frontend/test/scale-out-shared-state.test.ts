import { MANIFEST_ACCEPT } from '@pullthrough/oci';
import { waitUntil, type FrontendProcess } from '@pullthrough/test-support';
import { RULE, startCluster, TARGET, type Cluster } from './scale-out-cluster.js';

// What must hold across replicas, with the replicas as separate processes on one filesystem store
// and one Redis (the in-process variants, with more cases, are shared-breakers.test.ts and
// config-invalidation.test.ts): a 503 storm seen by one frontend opens the breaker on all three,
// and a rule created through one frontend's admin API is served by another within a second.

const RESET_MS = 4000;
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({
    storage: 'filesystem',
    frontends: 3,
    hydrators: 0,
    frontendEnv: {
      PULLTHROUGH_HYDRATION_DELAY_MS: '600000',
      // The periodic reload is 10 minutes away: only the pub/sub invalidation can be this quick.
      PULLTHROUGH_CONFIG_POLL_MS: '600000',
      PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: '3',
      PULLTHROUGH_BREAKER_RESET_TIMEOUT_MS: String(RESET_MS),
    },
  });
}, 120_000);
afterAll(() => cluster?.stop(), 30_000);

const manifest = (f: FrontendProcess, repository: string, reference: string) =>
  fetch(`${f.dataUrl}/v2/${repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } }).then(async (res) => ({ status: res.status, body: await res.text(), retryAfter: res.headers.get('retry-after') }));

async function breakerState(f: FrontendProcess): Promise<string> {
  const res = await cluster.admin(f, '/upstreams');
  const { upstreams } = (await res.json()) as { upstreams: Array<{ upstream: string; state: string }> };
  return upstreams.find((u) => u.upstream === cluster.upstream.proxy.host)?.state ?? 'closed';
}

test('a rule created through one frontend process is served by another within 1 s', async () => {
  const [a, b] = cluster.frontends as [FrontendProcess, FrontendProcess];
  const f = cluster.upstream.fixtures.small;
  // No rule maps `late/*` yet: never anonymous.
  expect((await manifest(b, `late/${f.repository}`, f.tag)).status).toBe(401);
  const created = await cluster.admin(a, '/cache-rules/late-rule', { method: 'PUT', body: { sourceRepository: `${cluster.upstream.proxy.host}/*`, targetRepository: 'late/*' } });
  expect(created.status).toBe(201);
  const started = Date.now();
  await waitUntil(async () => (await manifest(b, `late/${f.repository}`, f.tag)).status === 200, { what: 'B to serve the new rule', timeoutMs: 1000, intervalMs: 20 });
  expect(Date.now() - started).toBeLessThan(1000);
}, 30_000);

test('a 503 storm seen by one frontend process opens the breaker on all three: the others refuse misses at once, with no upstream request', async () => {
  const [a, b, c] = cluster.frontends as [FrontendProcess, FrontendProcess, FrontendProcess];
  const proxy = cluster.upstream.proxy;
  proxy.setFault({ status: 503 });
  try {
    for (let i = 0; i < 10 && (await breakerState(a)) !== 'open'; i++) expect((await manifest(a, `${TARGET}/multilayer`, 'v1')).status).toBe(503);
    expect(await breakerState(a)).toBe('open');
    await waitUntil(async () => (await breakerState(b)) === 'open' && (await breakerState(c)) === 'open', { what: 'B and C to see the breaker open', timeoutMs: 2000 });
    const seen = proxy.count();
    for (const f of [b, c, b, c]) {
      const res = await manifest(f, `${TARGET}/multilayer`, 'v1');
      expect(res.status).toBe(503);
      expect(JSON.parse(res.body)).toMatchObject({ errors: [{ code: 'UNAVAILABLE', message: `circuit breaker for upstream ${proxy.host} is open`, detail: { rule: RULE } }] });
      expect(Number(res.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    expect(proxy.count()).toBe(seen);
  } finally {
    proxy.setFault(null);
  }
  // Recovered upstream: after the reset window a trial call closes it everywhere, and all three pull again.
  await waitUntil(async () => (await manifest(b, `${TARGET}/small`, 'v1')).status === 200, { what: 'B to pull after the reset window', timeoutMs: RESET_MS + 5000, intervalMs: 250 });
  await waitUntil(async () => (await Promise.all([a, b, c].map(breakerState))).every((s) => s === 'closed'), { what: 'every breaker closed', timeoutMs: 3000 });
  for (const f of [a, c]) expect((await manifest(f, `${TARGET}/small`, 'v1')).status).toBe(200);
}, 60_000);
