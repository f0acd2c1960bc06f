import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheRuleSet } from '@pullthrough/cache-rules';
import { EgressDeniedError, EgressPolicy } from '@pullthrough/egress';
import { digestOf, MediaType, parseReference, toWireError } from '@pullthrough/oci';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { UpstreamClientPool } from '@pullthrough/upstream';
import { RecordingEnqueuer, RecordingObserver } from '../test/registry-fixture.js';
import { PullThroughRegistry } from './pull-through-registry.js';
import { UpstreamResolver } from './upstream-target.js';

/** A tag held locally for a rule whose upstream host does not resolve (`.invalid` never does). */
describe('serve-stale when the upstream cannot even be resolved', () => {
  let dir: string;
  let pool: UpstreamClientPool;
  afterEach(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the local tag marked stale with the DNS failure, reports it, and a miss fails with the rule named', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pull-through-dns-'));
    const store = new RegistryStore(new FilesystemDriver(dir));
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciEmpty, digest: digestOf(Buffer.from('{}')), size: 2 }, layers: [] }));
    const digest = digestOf(bytes);
    await store.putManifest('dns/app', { digest, mediaType: MediaType.OciManifest, bytes });
    await store.putTag('dns/app', 'v1', digest, new Date(0));
    const rules = CacheRuleSet.create([{ name: 'dns-rule', sourceRepository: 'registry.pullthrough.invalid/*', targetRepository: 'dns/*' }]);
    pool = new UpstreamClientPool({ connectTimeoutMs: 2000 });
    const observed = new RecordingObserver();
    const registry = new PullThroughRegistry({ store, upstreams: new UpstreamResolver(() => rules, pool), hydration: new RecordingEnqueuer(), tagFreshnessSeconds: 300, observer: observed.observer });

    const stale = await registry.getManifest('dns/app', parseReference('v1'));
    expect(stale).toMatchObject({ cache: 'stale', digest });
    expect(stale.staleReason).toMatch(/^upstream-unavailable: .*(ENOTFOUND|EAI_AGAIN)/);
    expect(observed.failures).toEqual([['dns-rule', 'upstream-unavailable', expect.stringContaining('registry.pullthrough.invalid')]]);

    const miss = await registry.getManifest('dns/app', parseReference('v2')).catch((e: unknown) => e);
    expect(miss).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', detail: expect.objectContaining({ rule: 'dns-rule' }) });
  });
});

/** A rule whose upstream the egress policy refuses: a configuration failure, never an upstream one. */
describe('an upstream the egress policy refuses', () => {
  let dir: string;
  let pool: UpstreamClientPool;
  afterEach(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('fails the miss with EGRESS_DENIED naming the rule, address and range; rule-config for health; the breaker counts nothing', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pull-through-egress-'));
    const store = new RegistryStore(new FilesystemDriver(dir));
    const rules = CacheRuleSet.create([{ name: 'metadata-rule', sourceRepository: '169.254.169.254/*', targetRepository: 'meta/*' }]);
    pool = new UpstreamClientPool({ insecureRegistries: ['169.254.169.254'], egress: new EgressPolicy({ allow: '127.0.0.1' }) });
    const observed = new RecordingObserver();
    const registry = new PullThroughRegistry({ store, upstreams: new UpstreamResolver(() => rules, pool), hydration: new RecordingEnqueuer(), tagFreshnessSeconds: 300, observer: observed.observer });

    for (let i = 0; i < 6; i++) {
      const miss = await registry.getManifest('meta/latest/meta-data', parseReference('v1')).catch((e: unknown) => e);
      expect(miss).toBeInstanceOf(EgressDeniedError);
      expect(miss).toMatchObject({
        code: 'EGRESS_DENIED',
        detail: { rule: 'metadata-rule', upstream: '169.254.169.254/latest/meta-data', host: '169.254.169.254', address: '169.254.169.254', port: 80, addressCategory: 'link-local', category: 'rule-config' },
      });
      expect(toWireError(miss)).toMatchObject({ status: 403, code: 'DENIED' });
    }
    expect(observed.failures[0]).toEqual(['metadata-rule', 'rule-config', expect.stringContaining('169.254.169.254')]);
    const [status] = pool.status();
    expect(status).toMatchObject({ upstream: '169.254.169.254', state: 'closed', failures: 0, totals: { failures: 0 } });
  });
});
