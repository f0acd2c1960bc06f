import { CacheRuleSet, CacheRuleValidationError, MAX_CACHE_RULES, type CacheRule, type ValidationIssue } from './index.js';

const rule = (name: string, targetRepository: string, sourceRepository: string): CacheRule => ({ name, targetRepository, sourceRepository });
const hub = rule('dockerhub', 'dockerhub/*', 'docker.io/*');
const node = rule('hub-node', 'dockerhub/library/node', 'docker.io/library/node');
const quay = rule('quay-all', 'quay/*', 'quay.io/*');

function issuesOf(fn: () => unknown): readonly ValidationIssue[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CacheRuleValidationError);
    expect((err as CacheRuleValidationError).code).toBe('RULE_INVALID');
    return (err as CacheRuleValidationError).issues;
  }
  throw new Error('expected a CacheRuleValidationError');
}

const many = (n: number) => Array.from({ length: n }, (_, i) => rule(`rule-${i}`, `t/r${i}`, `docker.io/r${i}`));

describe('CacheRuleSet.create rejects', () => {
  test.each<[string, unknown[], string[], string, string]>([
    ['an invalid rule, with its index', [hub, { ...quay, name: 'q' }], [], 'rules[1].name', "must be 5-50 characters of letters, digits and '-'"],
    ['a non-object rule', [hub, 'quay.io/*'], [], 'rules[1]', 'must be an object'],
    ['duplicate names', [hub, { ...quay, name: 'dockerhub' }], [], 'rules[1].name', 'duplicate name: rule "dockerhub" already exists'],
    [
      'two static rules with the same target',
      [node, rule('other-node', 'dockerhub/library/node', 'ghcr.io/x/node')],
      [],
      'rules[1].targetRepository',
      'targetRepository "dockerhub/library/node" is already the target of rule "hub-node"',
    ],
    [
      'a wildcard inside another wildcard',
      [hub, rule('hub-library', 'dockerhub/library/*', 'docker.io/library/*')],
      [],
      'rules[1].targetRepository',
      'targetRepository "dockerhub/library/*" overlaps rule "dockerhub" (targetRepository "dockerhub/*")',
    ],
    ['a wildcard around another wildcard', [rule('deep-one', 'a/b/*', 'quay.io/*'), rule('shallow', 'a/*', 'ghcr.io/*')], [], 'rules[1].targetRepository', 'overlaps rule "deep-one"'],
    ['two equal wildcard targets', [hub, rule('hub-again', 'dockerhub/*', 'ghcr.io/*')], [], 'rules[1].targetRepository', 'overlaps rule "dockerhub"'],
    ['an upstream that is this registry', [rule('self-loop', 'self/*', 'Cache.Example/*')], ['cache.example'], 'rules[0].sourceRepository', 'is this registry itself'],
    ['an upstream on our port', [rule('self-port', 'self/*', '127.0.0.1:5000/*')], ['cache.example', '127.0.0.1:5000'], 'rules[0].sourceRepository', 'is this registry itself'],
    ['more than 1,000 rules', many(MAX_CACHE_RULES + 1), [], 'rules', 'at most 1000 cache rules are allowed (got 1001)'],
  ])('%s', (_what, rules, selfHosts, field, message) => {
    expect(issuesOf(() => CacheRuleSet.create(rules, { selfHosts }))).toContainEqual({ field, message: expect.stringContaining(message) });
  });

  test('collects issues from every rule', () => {
    const issues = issuesOf(() => CacheRuleSet.create([{ ...hub, name: 'x' }, hub, { ...hub, targetRepository: 'B' }]));
    expect(issues.map((i) => i.field)).toEqual(['rules[0].name', 'rules[2].targetRepository', 'rules[2].targetRepository']);
  });
});

describe('CacheRuleSet.create accepts', () => {
  test.each<[string, CacheRule[]]>([
    ['no rules', []],
    ['a static rule inside a wildcard', [hub, node]],
    ['sibling wildcards with a shared string prefix', [rule('prefix-a', 'a/*', 'quay.io/*'), rule('prefix-ab', 'ab/*', 'ghcr.io/*')]],
    ['a static target equal to a wildcard prefix', [hub, rule('hub-bare', 'dockerhub', 'docker.io/library/busybox')]],
    ['the same upstream under two targets', [hub, rule('hub-mirror', 'mirror/*', 'docker.io/*')]],
    ['exactly 1,000 rules', many(MAX_CACHE_RULES)],
  ])('%s', (_what, rules) => {
    expect(CacheRuleSet.create(rules).size).toBe(rules.length);
  });
});

describe('set operations', () => {
  const set = CacheRuleSet.create([quay, hub, node], { selfHosts: ['cache.example'] });

  test('list is sorted by name; get finds by exact name', () => {
    expect(set.list().map((r) => r.name)).toEqual(['dockerhub', 'hub-node', 'quay-all']);
    expect(set.get('hub-node')).toEqual(node);
    expect(set.get('HUB-NODE')).toBeUndefined();
    expect(set.size).toBe(3);
  });

  test('withRule adds, and replaces a rule of the same name', () => {
    const added = set.withRule(rule('ghcr-all', 'ghcr/*', 'ghcr.io/*'));
    expect(added.size).toBe(4);
    const replaced = added.withRule({ ...quay, credentialSetName: 'quay-creds' });
    expect(replaced.size).toBe(4);
    expect(replaced.get('quay-all')?.credentialSetName).toBe('quay-creds');
    expect(set.size).toBe(3);
    expect(set.get('quay-all')?.credentialSetName).toBeUndefined();
  });

  test('replacing a rule may move its target without conflicting with its old self', () => {
    expect(set.withRule({ ...hub, targetRepository: 'hub/*' }).match('hub/x')?.rule.name).toBe('dockerhub');
  });

  test.each<[string, CacheRule, string, string]>([
    ['an overlapping wildcard', rule('hub-library', 'dockerhub/library/*', 'docker.io/library/*'), 'targetRepository', 'overlaps rule "dockerhub"'],
    ['a taken static target', rule('node-again', 'dockerhub/library/node', 'ghcr.io/node'), 'targetRepository', 'already the target of rule "hub-node"'],
    ['an upstream that is this registry', rule('self-loop', 'self/*', 'cache.example/*'), 'sourceRepository', 'is this registry itself'],
    ['an invalid rule', { ...quay, name: 'quay-2', platforms: [] }, 'platforms', 'must not be empty'],
  ])('withRule rejects %s, naming the field', (_what, candidate, field, message) => {
    expect(issuesOf(() => set.withRule(candidate))).toEqual([{ field, message: expect.stringContaining(message) }]);
  });

  test('withRule rejects the 1,001st rule', () => {
    const full = CacheRuleSet.create(many(MAX_CACHE_RULES));
    expect(issuesOf(() => full.withRule(hub))).toEqual([{ field: 'rules', message: expect.stringContaining('at most 1000') }]);
    expect(full.withRule({ ...many(1)[0]!, targetRepository: 'moved/r0' }).size).toBe(MAX_CACHE_RULES);
  });

  test('withoutRule removes by name and leaves the original alone', () => {
    const smaller = set.withoutRule('hub-node');
    expect(smaller.list().map((r) => r.name)).toEqual(['dockerhub', 'quay-all']);
    expect(set.size).toBe(3);
    expect(set.withoutRule('missing')).toBe(set);
  });

  test('is immutable', () => {
    const listed = set.list() as CacheRule[];
    expect(Object.isFrozen(set)).toBe(true);
    expect(Object.isFrozen(listed)).toBe(true);
    expect(Object.isFrozen(listed[0])).toBe(true);
    expect(() => listed.push(hub)).toThrow(TypeError);
    const withPlatforms = set.withRule({ ...quay, platforms: ['linux/amd64'] });
    expect(Object.isFrozen(withPlatforms.get('quay-all')?.platforms)).toBe(true);
  });

  test('does not keep references to the caller\u2019s objects', () => {
    const input = { ...quay };
    const s = CacheRuleSet.create([input]);
    input.targetRepository = 'changed/*';
    expect(s.get('quay-all')?.targetRepository).toBe('quay/*');
  });
});
