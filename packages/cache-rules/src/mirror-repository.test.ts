import { CacheRuleSet, mirrorRepository, registryWidePrefix, type CacheRule } from './index.js';

const rule = (name: string, targetRepository: string, sourceRepository: string): CacheRule => ({ name, targetRepository, sourceRepository });
const rules = CacheRuleSet.create([
  rule('dockerhub', 'dockerhub/*', 'docker.io/*'),
  rule('team-a', 'a/*', '127.0.0.1:6000/fixtures/*'),
  rule('team-b', 'b/*', '127.0.0.1:7000/fixtures/*'),
  rule('quay-one', 'q/prom', 'quay.io/prometheus/prometheus'),
]);

describe('mirrorRepository', () => {
  test.each<[string, string, string, string | undefined, string]>([
    ['two registries with the same path go to their own rules', '127.0.0.1:6000', 'fixtures/small', 'a/small', 'ns'],
    ['... the other one', '127.0.0.1:7000', 'fixtures/small', 'b/small', 'ns'],
    ['docker.io is registry-1.docker.io; a single segment gets library/', 'docker.io', 'node', 'dockerhub/node', 'ns'],
    ['library/ names get the short downstream name', 'docker.io', 'library/node', 'dockerhub/node', 'ns'],
    ['an organization on Docker Hub', 'index.docker.io', 'grafana/grafana', 'dockerhub/grafana/grafana', 'ns'],
    ['a static rule', 'quay.io', 'prometheus/prometheus', 'q/prom', 'ns'],
    ['override_path: the path is a downstream repository of a rule for that registry', 'docker.io', 'dockerhub/library/node', 'dockerhub/library/node', 'path'],
    ['override_path for a partial rule', '127.0.0.1:6000', 'a/small', 'a/small', 'path'],
    ['host names are case-insensitive', 'QUAY.io', 'prometheus/prometheus', 'q/prom', 'ns'],
  ])('%s', (_what, ns, path, downstream, form) => {
    expect(mirrorRepository(rules, ns, path)).toMatchObject({ downstreamRepository: downstream, form });
  });

  test.each<[string, string, string, string]>([
    ['a registry no rule covers', 'ghcr.io', 'fixtures/small', 'no-rule'],
    ['a path outside the rule', '127.0.0.1:6000', 'other/small', 'no-rule'],
    ['another port of a covered host', '127.0.0.1:6001', 'fixtures/small', 'no-rule'],
    ['a downstream path of a rule for ANOTHER registry is not the override_path form', '127.0.0.1:7000', 'a/small', 'no-rule'],
    ['not a host', 'not a host', 'x', 'invalid-namespace'],
    ['no dot, no port', 'registry', 'x', 'invalid-namespace'],
    ['port out of range', 'r.example:70000', 'x', 'invalid-namespace'],
  ])('%s: %s/%s -> %s', (_what, ns, path, reason) => {
    const found = mirrorRepository(rules, ns, path);
    expect(found.downstreamRepository).toBeUndefined();
    expect(found).toMatchObject({ reason });
  });
});

describe('registryWidePrefix', () => {
  test.each<[string, string, string | undefined]>([
    ['docker.io/*', 'dockerhub/*', 'dockerhub'],
    ['127.0.0.1:6000/*', 'deep/er/*', 'deep/er'],
    ['docker.io/library/*', 'hub/*', undefined],
    ['quay.io/prometheus/prometheus', 'q/prom', undefined],
  ])('%s -> %s: %s', (sourceRepository, targetRepository, prefix) => {
    expect(registryWidePrefix({ sourceRepository, targetRepository })).toBe(prefix);
  });
});
