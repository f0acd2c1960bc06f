import type { CacheRule } from '@pullthrough/cache-rules';
import { containerdHostsFiles, defaultCacheUrl } from './containerd-hosts-files.js';

const rules: CacheRule[] = [
  { name: 'dockerhub', sourceRepository: 'docker.io/*', targetRepository: 'dockerhub/*' },
  { name: 'hub-node', sourceRepository: 'docker.io/library/node', targetRepository: 'pinned/node' },
  { name: 'quay-prom', sourceRepository: 'quay.io/prometheus/*', targetRepository: 'quay/prometheus/*' },
  { name: 'private', sourceRepository: 'registry.internal:5000/team/*', targetRepository: 'team/*', credentialSetName: 'internal' },
];
const base = { rules, cacheUrl: 'http://10.0.0.5:30500', form: 'ns' as const, clientAuth: false, isInsecure: (r: string) => r === 'registry.internal:5000' };

describe('containerdHostsFiles', () => {
  test('one file per upstream registry, Docker Hub under docker.io with registry-1.docker.io as the fallback server', () => {
    const files = containerdHostsFiles(base);
    expect(files.map((f) => [f.path, f.form, f.rules])).toEqual([
      ['docker.io/hosts.toml', 'ns', ['dockerhub', 'hub-node']],
      ['quay.io/hosts.toml', 'ns', ['quay-prom']],
      ['registry.internal:5000/hosts.toml', 'ns', ['private']],
    ]);
    const hub = files.find((f) => f.namespace === 'docker.io')!.content;
    expect(hub).toContain('server = "https://registry-1.docker.io"\n\n[host."http://10.0.0.5:30500"]\n  capabilities = ["pull", "resolve"]\n');
    expect(hub).not.toContain('override_path');
    expect(hub).not.toContain('Authorization');
  });

  test('an insecure upstream falls back over http; a rule with a credential set (not anonymous) gets the commented credential stanza', () => {
    const [internal] = containerdHostsFiles({ ...base, host: 'registry.internal:5000' });
    expect(internal!.content).toContain('server = "http://registry.internal:5000"');
    expect(internal!.content).toContain('#  [host."http://10.0.0.5:30500".header]\n#    Authorization = "Basic <base64 of user:password>"\n');
  });

  test('override-path: the registry-wide rule gives the path; a registry without one keeps the ns form and says why', () => {
    const files = containerdHostsFiles({ ...base, form: 'override-path' });
    const hub = files.find((f) => f.namespace === 'docker.io')!;
    expect(hub.form).toBe('override-path');
    expect(hub.content).toContain('[host."http://10.0.0.5:30500/v2/dockerhub"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n');
    const quay = files.find((f) => f.namespace === 'quay.io')!;
    expect(quay.form).toBe('ns');
    expect(quay.content).toContain('override_path needs a rule for the whole registry (quay.io/* -> <prefix>/*)');
  });

  test('host picks one registry (Docker Hub by any of its names); client authentication adds the stanza everywhere', () => {
    for (const host of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'Docker.IO']) {
      expect(containerdHostsFiles({ ...base, host }).map((f) => f.path)).toEqual(['docker.io/hosts.toml']);
    }
    expect(containerdHostsFiles({ ...base, host: 'ghcr.io' })).toEqual([]);
    expect(containerdHostsFiles({ ...base, clientAuth: true }).every((f) => f.content.includes('Authorization = "Basic <base64 of user:password>"'))).toBe(true);
  });
});

describe('defaultCacheUrl', () => {
  test.each<[string[], string | undefined]>([
    [[], undefined],
    [['pullthrough-data.pullthrough.svc:5000', 'cache.example'], 'http://pullthrough-data.pullthrough.svc:5000'],
    [['Cache.Example'], 'https://cache.example'],
    [['[fd00::5]:5000'], 'http://[fd00::5]:5000'],
  ])('%j -> %s', (hosts, url) => {
    expect(defaultCacheUrl(hosts)).toBe(url);
  });
});
