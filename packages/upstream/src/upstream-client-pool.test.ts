import { EgressPolicy } from '@pullthrough/egress';
import { sendJson, startFakeUpstream, type FakeUpstream } from '../test/fake-upstream.js';
import { UpstreamClientPool } from './upstream-client-pool.js';

/** Test upstreams listen on loopback: the egress policy lets them through explicitly. */
const LOOPBACK = new EgressPolicy({ allow: '127.0.0.1' });

describe('UpstreamClientPool', () => {
  let upstream: FakeUpstream;
  let pool: UpstreamClientPool;

  beforeEach(async () => {
    upstream = await startFakeUpstream((_req, res) => sendJson(res, 500, {}));
    pool = new UpstreamClientPool({ insecureRegistries: [upstream.host, 'Registry.Local:5000'], egress: LOOPBACK, breaker: { volumeThreshold: 2 } });
  });

  afterEach(async () => {
    await pool.close();
    await upstream.close();
  });

  it('knows which registries the operator listed as insecure', () => {
    expect(pool.isInsecure(upstream.host)).toBe(true);
    expect(pool.isInsecure('registry.local:5000')).toBe(true);
    expect(pool.isInsecure('registry.local')).toBe(false);
    expect(pool.isInsecure('registry-1.docker.io')).toBe(false);
  });

  it('caches a client per (registry, credentials key) and shares one breaker per registry', async () => {
    const credentials = async () => ({ username: 'u', password: 'p' });
    const anonymous = pool.get(upstream.host, { insecure: true });
    const teamA = pool.get(upstream.host, { insecure: true, credentialsKey: 'team-a', credentials });
    expect(pool.get(upstream.host, { insecure: true })).toBe(anonymous);
    expect(pool.get(upstream.host, { insecure: true, credentialsKey: 'team-a', credentials })).toBe(teamA);
    expect(teamA).not.toBe(anonymous);
    expect(teamA.breaker).toBe(anonymous.breaker);
    expect(pool.get('other.example', { insecure: false }).breaker).not.toBe(anonymous.breaker);

    await anonymous.getManifest('library/node', '20').catch(() => undefined);
    await teamA.getManifest('library/node', '20').catch(() => undefined);
    expect(pool.breakerFor(upstream.host).state()).toBe('open');
    await expect(teamA.getManifest('library/node', '20')).rejects.toThrow(/breaker .* is open/);
    expect(upstream.requests).toHaveLength(2);
  });

  it('refuses credentials without a key naming them', () => {
    expect(() => pool.get(upstream.host, { insecure: true, credentials: async () => undefined })).toThrow(TypeError);
  });
});
