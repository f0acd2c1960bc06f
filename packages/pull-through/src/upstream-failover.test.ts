import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheRuleSet } from '@pullthrough/cache-rules';
import { EgressPolicy } from '@pullthrough/egress';
import { parseReference } from '@pullthrough/oci';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { UpstreamClientPool } from '@pullthrough/upstream';
import { RecordingEnqueuer, RecordingObserver } from '../test/registry-fixture.js';
import { PullThroughRegistry } from './pull-through-registry.js';
import { UpstreamResolver, type CredentialProvider } from './upstream-target.js';

let pool: UpstreamClientPool;
afterEach(async () => {
  await pool.close();
});

test('a fallback registry is reached anonymously; the credential set goes to the source registry only', () => {
  pool = new UpstreamClientPool({ insecureRegistries: ['mirror.example:5000'] });
  const asked: string[] = [];
  const credentials: CredentialProvider = {
    credentialsFor: (set, registry) => (asked.push(`${set}@${registry}`), async () => ({ username: 'u', password: 'p' })),
    loginServerOf: async () => 'registry.example',
  };
  const rules = CacheRuleSet.create([
    { name: 'private-rule', sourceRepository: 'registry.example/team/*', targetRepository: 'team/*', credentialSetName: 'team-creds', fallbackRegistries: ['Mirror.Example:5000', 'docker.io'] },
  ]);
  const target = new UpstreamResolver(() => rules, pool, credentials).resolve('team/app')!;
  expect(target.upstreams.map((u) => [u.registry, u.repository])).toEqual([
    ['registry.example', 'team/app'],
    ['mirror.example:5000', 'team/app'],
    ['registry-1.docker.io', 'team/app'],
  ]);
  expect(target.upstreams[0]!.client).toBe(target.client);
  // The anonymous pool client of each fallback host: no credentials key, no secret lookup bound to it.
  expect(target.upstreams[1]!.client).toBe(pool.get('mirror.example:5000', { insecure: true }));
  expect(target.upstreams[2]!.client).toBe(pool.get('registry-1.docker.io', { insecure: false }));
  expect(asked).toEqual(['team-creds@registry.example']);
});

test('a Docker Hub fallback of a non-Hub source gets the library/ form of a single-segment path', () => {
  pool = new UpstreamClientPool();
  const rules = CacheRuleSet.create([{ name: 'mirror-rule', sourceRepository: 'mirror.gcr.io/*', targetRepository: 'm/*', fallbackRegistries: ['docker.io'] }]);
  const target = new UpstreamResolver(() => rules, pool).resolve('m/nginx')!;
  expect(target.upstreams.map((u) => `${u.registry}/${u.repository}`)).toEqual(['mirror.gcr.io/nginx', 'registry-1.docker.io/library/nginx']);
});

describe('failover in the pull path', () => {
  let dir: string;
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('an egress refusal of the source moves on to the fallback; with every registry unavailable the error names them all', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pull-through-failover-'));
    const store = new RegistryStore(new FilesystemDriver(dir));
    const rules = CacheRuleSet.create([{ name: 'meta-rule', sourceRepository: '169.254.169.254/*', targetRepository: 'meta/*', fallbackRegistries: ['registry.pullthrough.invalid'] }]);
    pool = new UpstreamClientPool({ insecureRegistries: ['169.254.169.254'], egress: new EgressPolicy({ allow: '127.0.0.1' }), connectTimeoutMs: 2000 });
    const observed = new RecordingObserver();
    const registry = new PullThroughRegistry({ store, upstreams: new UpstreamResolver(() => rules, pool), hydration: new RecordingEnqueuer(), tagFreshnessSeconds: 300, observer: observed.observer });

    const err = await registry.getManifest('meta/app', parseReference('v1')).catch((e: unknown) => e);
    // The last registry tried answers for the failure (its DNS lookup failed), naming both.
    expect(err).toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      detail: expect.objectContaining({ rule: 'meta-rule', upstream: 'registry.pullthrough.invalid/app', upstreamsTried: ['169.254.169.254', 'registry.pullthrough.invalid'] }),
    });
    expect(observed.failures).toEqual([
      ['meta-rule', 'rule-config', expect.stringContaining('(upstream 169.254.169.254; trying fallback registry.pullthrough.invalid)')],
      ['meta-rule', 'upstream-unavailable', expect.stringContaining('registry.pullthrough.invalid')],
    ]);
  });
});
