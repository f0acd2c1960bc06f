import { CacheRuleSet, type CacheRule } from './index.js';

const rule = (name: string, targetRepository: string, sourceRepository: string): CacheRule => ({ name, targetRepository, sourceRepository });

const set = CacheRuleSet.create([
  rule('dockerhub', 'dockerhub/*', 'docker.io/*'),
  rule('hub-node', 'dockerhub/library/node', 'docker.io/library/node'),
  rule('hub-redis', 'redis', 'index.docker.io/redis'),
  rule('bitnami', 'bitnami/*', 'registry-1.docker.io/bitnami/*'),
  rule('team-all', 'team/*', 'ghcr.io/acme/*'),
  rule('team-app', 'team/app', 'ghcr.io/acme/app-v2'),
  rule('local-5001', 'local/*', '127.0.0.1:5001/*'),
  rule('local-static', 'local-one', 'localhost:5002/one/two'),
  rule('mcr-dotnet', 'mcr/dotnet/*', 'MCR.Microsoft.com/dotnet/*'),
  rule('shadowed-node', 'hub/node', 'quay.io/other/node'),
  rule('hub-short', 'hub/*', 'docker.io/*'),
]);

describe('match (downstream -> upstream)', () => {
  test.each<[string, string, string, string]>([
    // Docker Hub: registry-level wildcard, library/ for single segments
    ['dockerhub/node', 'dockerhub', 'registry-1.docker.io', 'library/node'],
    ['dockerhub/bitnami/redis', 'dockerhub', 'registry-1.docker.io', 'bitnami/redis'],
    ['dockerhub/library/python', 'dockerhub', 'registry-1.docker.io', 'library/python'],
    ['dockerhub/a/b/c', 'dockerhub', 'registry-1.docker.io', 'a/b/c'],
    // an exact static target beats the wildcard around it
    ['dockerhub/library/node', 'hub-node', 'registry-1.docker.io', 'library/node'],
    ['redis', 'hub-redis', 'registry-1.docker.io', 'library/redis'],
    // wildcard targets never overlap, so at most one wildcard matches; a static target inside it wins
    ['bitnami/redis', 'bitnami', 'registry-1.docker.io', 'bitnami/redis'],
    ['team/tool', 'team-all', 'ghcr.io', 'acme/tool'],
    ['team/app', 'team-app', 'ghcr.io', 'acme/app-v2'],
    ['team/app/sub', 'team-all', 'ghcr.io', 'acme/app/sub'],
    ['team/bitnami', 'team-all', 'ghcr.io', 'acme/bitnami'],
    // ports and non-Docker Hub single segments (no library/)
    ['local/node', 'local-5001', '127.0.0.1:5001', 'node'],
    ['local/a/b', 'local-5001', '127.0.0.1:5001', 'a/b'],
    ['local-one', 'local-static', 'localhost:5002', 'one/two'],
    ['mcr/dotnet/runtime', 'mcr-dotnet', 'mcr.microsoft.com', 'dotnet/runtime'],
  ])('%s -> rule %s, %s/%s', (downstream, name, upstreamRegistry, upstreamRepository) => {
    const m = set.match(downstream);
    expect(m?.rule.name).toBe(name);
    expect(m).toEqual({ rule: set.get(name), upstreamRegistry, upstreamRepository, downstreamRepository: downstream });
  });

  test.each([
    ['dockerhub', 'a wildcard does not match its bare prefix'],
    ['team', 'a wildcard does not match its bare prefix'],
    ['dockerhubx/node', 'prefixes match whole components'],
    ['local-one/x', 'a static target matches only itself'],
    ['nothing/here', 'no rule'],
    ['DockerHub/node', 'not a valid repository name'],
    ['dockerhub//node', 'not a valid repository name'],
    ['', 'empty'],
  ])('%s -> no match (%s)', (downstream) => {
    expect(set.match(downstream)).toBeUndefined();
  });

  test('the stored rule keeps the source as written', () => {
    expect(set.match('mcr/dotnet/sdk')?.rule.sourceRepository).toBe('MCR.Microsoft.com/dotnet/*');
    expect(set.match('redis')?.rule.sourceRepository).toBe('index.docker.io/redis');
  });
});

describe('toDownstream (upstream -> downstream)', () => {
  test.each<[string, string, string | undefined]>([
    // Docker Hub library/ folds back to the short name; every alias of the host works
    ['registry-1.docker.io', 'library/python', 'dockerhub/python'],
    ['docker.io', 'library/python', 'dockerhub/python'],
    ['Index.Docker.IO', 'python', 'dockerhub/python'],
    ['registry-1.docker.io', 'library/a/b', 'dockerhub/library/a/b'],
    ['registry-1.docker.io', 'someone/app', 'dockerhub/someone/app'],
    // a static rule wins over wildcards
    ['registry-1.docker.io', 'library/node', 'dockerhub/library/node'],
    ['docker.io', 'node', 'dockerhub/library/node'],
    ['docker.io', 'library/redis', 'redis'],
    // the longest source prefix wins among wildcards
    ['registry-1.docker.io', 'bitnami/redis', 'bitnami/redis'],
    ['ghcr.io', 'acme/app-v2', 'team/app'],
    ['ghcr.io', 'acme/tool', 'team/tool'],
    ['ghcr.io', 'other/tool', undefined],
    // a name shadowed by a static rule is never returned: team/app serves acme/app-v2, not acme/app
    ['ghcr.io', 'acme/app', undefined],
    // ports
    ['127.0.0.1:5001', 'node', 'local/node'],
    ['127.0.0.1:5001', 'a/b', 'local/a/b'],
    ['127.0.0.1:5002', 'node', undefined],
    ['localhost:5002', 'one/two', 'local-one'],
    ['MCR.microsoft.com', 'dotnet/runtime', 'mcr/dotnet/runtime'],
    ['mcr.microsoft.com', 'dotnet', undefined],
    ['quay.io', 'other/node', 'hub/node'],
    ['registry-1.docker.io', 'Library/Node', undefined],
  ])('%s + %s -> %s', (upstreamRegistry, upstreamRepository, expected) => {
    expect(set.toDownstream(upstreamRegistry, upstreamRepository)).toBe(expected);
  });

  test('skips a short name taken by a static rule with another upstream', () => {
    const s = CacheRuleSet.create([rule('hub-short', 'hub/*', 'docker.io/*'), rule('shadowed-node', 'hub/node', 'quay.io/other/node')]);
    expect(s.toDownstream('registry-1.docker.io', 'library/node')).toBe('hub/library/node');
    expect(s.toDownstream('registry-1.docker.io', 'library/python')).toBe('hub/python');
  });

  test.each<[string, string, string, string]>([
    ['library/node', 'official/node', 'official/*', 'library/node'],
    ['library/x/y', 'official/x/y', 'official/*', 'library/x/y'],
    ['node', 'official/node', 'official/*', 'library/node'],
    ['bitnami/redis', 'dockerhub/bitnami/redis', 'dockerhub/*', 'bitnami/redis'],
  ])('a repository-level wildcard (longer source prefix) wins over a registry-level one: %s -> %s', (upstream, downstream, target, upstreamRepository) => {
    const s = CacheRuleSet.create([rule('dockerhub', 'dockerhub/*', 'docker.io/*'), rule('official', 'official/*', 'docker.io/library/*')]);
    expect(s.toDownstream('docker.io', upstream)).toBe(downstream);
    expect(s.match(downstream)).toMatchObject({ upstreamRegistry: 'registry-1.docker.io', upstreamRepository, rule: { targetRepository: target } });
  });

  test('ties between rules with the same upstream go to the first name', () => {
    const s = CacheRuleSet.create([rule('zz-mirror', 'mirror/*', 'docker.io/*'), rule('aa-hub', 'hub/*', 'docker.io/*')]);
    expect(s.toDownstream('docker.io', 'library/node')).toBe('hub/node');
  });

  test.each([
    'dockerhub/node',
    'dockerhub/bitnami/redis',
    'dockerhub/library/node',
    'bitnami/redis',
    'team/bitnami',
    'team/app',
    'team/tool',
    'local/a/b',
    'local-one',
    'mcr/dotnet/runtime',
    'hub/node',
  ])('round trip: toDownstream(match(%s)) maps back to the same upstream', (downstream) => {
    const m = set.match(downstream)!;
    const back = set.toDownstream(m.upstreamRegistry, m.upstreamRepository)!;
    expect(set.match(back)).toMatchObject({ upstreamRegistry: m.upstreamRegistry, upstreamRepository: m.upstreamRepository });
  });
});
