import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheRuleSet } from '@pullthrough/cache-rules';
import { ClientThrottledError, digestOf, MediaType, parseDigest, parseReference } from '@pullthrough/oci';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { UpstreamClientPool } from '@pullthrough/upstream';
import { RecordingEnqueuer, RecordingObserver } from '../test/registry-fixture.js';
import type { MissLimiter } from './miss-limiter.js';
import { PullThroughRegistry } from './pull-through-registry.js';
import { UpstreamResolver } from './upstream-target.js';

/**
 * The miss limiter is asked exactly where a request would go to the upstream, and only for
 * requests that name a client. The upstream here does not resolve (`.invalid`), so any request
 * that reached it would fail with a DNS error instead of the answers asserted below.
 */
describe('per-client limit on upstream-bound requests', () => {
  let dir: string;
  let pool: UpstreamClientPool;
  let registry: PullThroughRegistry;
  let observed: RecordingObserver;
  let digest: ReturnType<typeof parseDigest>;
  const takes: string[] = [];
  const refuseAll: MissLimiter = { take: (client) => (takes.push(client), 42) };

  beforeEach(async () => {
    takes.length = 0;
    dir = await mkdtemp(join(tmpdir(), 'pull-through-limits-'));
    const store = new RegistryStore(new FilesystemDriver(dir));
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciEmpty, digest: digestOf(Buffer.from('{}')), size: 2 }, layers: [] }));
    digest = digestOf(bytes);
    await store.putManifest('lim/app', { digest, mediaType: MediaType.OciManifest, bytes });
    await store.putTag('lim/app', 'stale', digest, new Date(0));
    await store.putTag('lim/app', 'fresh', digest, new Date());
    const rules = CacheRuleSet.create([{ name: 'lim-rule', sourceRepository: 'registry.pullthrough.invalid/*', targetRepository: 'lim/*' }]);
    pool = new UpstreamClientPool({ connectTimeoutMs: 2000 });
    observed = new RecordingObserver();
    registry = new PullThroughRegistry({ store, upstreams: new UpstreamResolver(() => rules, pool), hydration: new RecordingEnqueuer(), tagFreshnessSeconds: 300, observer: observed.observer, missLimiter: refuseAll });
  });
  afterEach(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  const client = { client: 'address:192.0.2.7' };

  it('hits never ask the limiter', async () => {
    expect(await registry.getManifest('lim/app', parseReference('fresh'), client)).toMatchObject({ cache: 'hit', digest });
    expect(await registry.getManifest('lim/app', { kind: 'digest', digest }, client)).toMatchObject({ cache: 'hit', digest });
    expect(takes).toEqual([]);
  });

  it('manifest and blob misses of a client over its limit are refused with Retry-After, without the upstream and without a rule failure', async () => {
    const other = parseDigest(digestOf(Buffer.from('not here')));
    const refusals = await Promise.all([
      registry.getManifest('lim/app', parseReference('missing'), client).catch((e: unknown) => e),
      registry.getManifest('lim/app', { kind: 'digest', digest: other }, client).catch((e: unknown) => e),
      registry.openBlob('lim/app', other, undefined, client).catch((e: unknown) => e),
      registry.statBlob('lim/app', other, client).catch((e: unknown) => e),
    ]);
    for (const err of refusals) {
      expect(err).toBeInstanceOf(ClientThrottledError);
      expect(err).toMatchObject({ code: 'CLIENT_THROTTLED', retryAfterSeconds: 42, detail: { rule: 'lim-rule', retryAfterSeconds: 42 } });
    }
    expect(takes).toEqual(Array(4).fill('address:192.0.2.7'));
    expect(observed.failures).toEqual([]);
  });

  it('a stale tag is served from the local copy instead of being revalidated', async () => {
    const stale = await registry.getManifest('lim/app', parseReference('stale'), client);
    expect(stale).toMatchObject({ cache: 'stale', digest });
    expect(stale.staleReason).toMatch(/^CLIENT_THROTTLED: /);
    expect(observed.failures).toEqual([]);
  });

  it('tags/list and referrers of a client over its limit list the local content, marked stale, without the upstream', async () => {
    const tags = await registry.listTags('lim/app', client);
    expect(tags).toMatchObject({ tags: ['fresh', 'stale'], cache: 'stale' });
    expect(tags.staleReason).toMatch(/^CLIENT_THROTTLED: /);
    const referrers = await registry.listReferrers('lim/app', digest, undefined, client);
    expect(referrers).toMatchObject({ manifests: [], cache: 'stale' });
    expect(takes).toEqual(['address:192.0.2.7', 'address:192.0.2.7']);
    expect(observed.failures).toEqual([]);
  });

  it('requests without a client (the cache\'s own work) are not limited', async () => {
    const miss = await registry.getManifest('lim/app', parseReference('missing')).catch((e: unknown) => e);
    expect(miss).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(takes).toEqual([]);
  });
});
