import { allowRefusal, isSemverRangeEntry, tagAllowed } from './allow-list.js';
import { CacheRuleSet, CacheRuleValidationError, parseCacheRule, ruleFallbackRegistries, type CacheRule } from './index.js';

const base: CacheRule = { name: 'hub-rule', sourceRepository: 'docker.io/*', targetRepository: 'hub/*' };

function issuesOf(input: unknown, options?: Parameters<typeof parseCacheRule>[1]) {
  try {
    parseCacheRule(input, options);
  } catch (err) {
    expect(err).toBeInstanceOf(CacheRuleValidationError);
    return (err as CacheRuleValidationError).issues;
  }
  throw new Error('expected the rule to be rejected');
}

test.each<[string, boolean]>([
  ['>=1.25 <2', true],
  ['1.25.x', true],
  ['v1.x', true],
  ['^1.2', true],
  ['~1.2.3', true],
  ['=1.25.3', true],
  ['1.20.x || 1.22.x', true],
  ['1.*', false],
  ['latest', false],
  ['1.25.3', false],
  ['*-alpine', false],
  ['x', false],
])('isSemverRangeEntry(%j) -> %s', (entry, range) => {
  expect(isSemverRangeEntry(entry)).toBe(range);
});

test('tag entries combine as OR: globs and ranges', () => {
  const allow = { tags: ['latest', '1.*-alpine', '>=1.25 <2'] };
  expect(['latest', '1.25.3-alpine', '1.25', '1.30.1'].filter((t) => tagAllowed(allow, t))).toEqual(['latest', '1.25.3-alpine', '1.25', '1.30.1']);
  expect(['1.24', '2.0', 'stable', '1.25.3-rc.1'].filter((t) => tagAllowed(allow, t))).toEqual([]);
  expect(tagAllowed(undefined, 'anything')).toBe(true);
  expect(tagAllowed({ repositories: ['library/*'] }, 'anything')).toBe(true);
});

test('allowRefusal checks the repository first, then the tag, and names the rule and the filter', () => {
  const rule = { name: 'hub-rule', allow: { repositories: ['library/*', 'bitnami/nginx'], tags: ['>=1.25 <2', 'latest'] } };
  expect(allowRefusal(rule, 'library/nginx', '1.25.3')).toBeUndefined();
  expect(allowRefusal(rule, 'bitnami/nginx', 'latest')).toBeUndefined();
  expect(allowRefusal(rule, 'library/nginx')).toBeUndefined();
  expect(allowRefusal(rule, 'bitnami/redis', '1.25.3')).toEqual({
    filter: 'allow.repositories',
    message: 'repository bitnami/redis is not in the allow-list of cache rule "hub-rule" (allow.repositories)',
  });
  expect(allowRefusal(rule, 'library/nginx', '1.24')).toEqual({
    filter: 'allow.tags',
    message: 'tag 1.24 of library/nginx is not in the allow-list of cache rule "hub-rule" (allow.tags)',
  });
  expect(allowRefusal({ name: 'open-rule' }, 'any/thing', 'any')).toBeUndefined();
});

describe('parseCacheRule: allow', () => {
  test.each<[string, CacheRule]>([
    ['repositories only', { ...base, allow: { repositories: ['library/*'] } }],
    ['tags only', { ...base, allow: { tags: ['latest', '>=1.25 <2'] } }],
    ['both', { ...base, allow: { repositories: ['library/*', 'bitnami/**'], tags: ['1.25.x', '^1.2', '*-alpine'] } }],
  ])('accepts %s', (_what, rule) => {
    expect(parseCacheRule(rule)).toEqual(rule);
  });

  test.each<[string, unknown, string, string]>([
    ['allow that is not an object', 'library/*', 'allow', 'must be an object with repositories and/or tags'],
    ['an empty allow', {}, 'allow', 'must list repositories and/or tags'],
    ['an unknown key', { images: ['x'] }, 'allow.images', 'unknown field'],
    ['an empty repository list', { repositories: [] }, 'allow.repositories', 'must not be empty (omit it to allow every repository)'],
    ['repositories not a list', { repositories: 'library/*' }, 'allow.repositories', 'must be a list of strings'],
    ['a bad repository glob', { repositories: ['library/*', 'Library/x'] }, 'allow.repositories[1]', 'segment "Library" may hold only'],
    ['a non-string repository', { repositories: [7] }, 'allow.repositories[0]', 'must be a string'],
    ['a duplicate repository', { repositories: ['a/*', 'a/*'] }, 'allow.repositories[1]', 'duplicate entry "a/*"'],
    ['an empty tag list', { tags: [] }, 'allow.tags', 'must not be empty (omit it to allow every tag)'],
    ['a bad semver range', { tags: ['latest', '>=1.a'] }, 'allow.tags[1]', 'is not a valid semver range: ">=1.a" is not a version comparator'],
    ['a range matching nothing', { tags: ['>x'] }, 'allow.tags[0]', 'is not a valid semver range: ">x" matches no version'],
    ['a bad tag glob', { tags: ['a/b'] }, 'allow.tags[0]', 'a tag glob may hold only'],
    ['too many tags', { tags: Array.from({ length: 101 }, (_, i) => `t${i}`) }, 'allow.tags', 'must hold at most 100 entries'],
  ])('refuses %s', (_what, allow, field, message) => {
    expect(issuesOf({ ...base, allow })).toContainEqual({ field, message: expect.stringContaining(message) });
  });
});

describe('parseCacheRule: fallbackRegistries', () => {
  test('accepts mirrors, kept as written; normalized for use', () => {
    const rule = parseCacheRule({ ...base, fallbackRegistries: ['mirror.gcr.io', 'Registry.Example:5000'] });
    expect(rule.fallbackRegistries).toEqual(['mirror.gcr.io', 'Registry.Example:5000']);
    expect(ruleFallbackRegistries(rule)).toEqual(['mirror.gcr.io', 'registry.example:5000']);
    expect(ruleFallbackRegistries(base)).toEqual([]);
  });

  test.each<[string, unknown, string, string]>([
    ['an empty list', [], 'fallbackRegistries', 'must not be empty'],
    ['not a list', 'mirror.gcr.io', 'fallbackRegistries', 'must be a list of strings'],
    ['a non-host', ['mirror'], 'fallbackRegistries[0]', 'must start with a registry host'],
    ['a URL', ['https://mirror.gcr.io'], 'fallbackRegistries[0]', 'is not a valid registry host[:port]'],
    ['a bad port', ['m.example:70000'], 'fallbackRegistries[0]', 'out of range'],
    ['the source registry itself (an alias)', ['index.docker.io'], 'fallbackRegistries[0]', "is the rule's source registry itself"],
    ['a duplicate (case)', ['m.example', 'M.example'], 'fallbackRegistries[1]', 'is listed twice'],
    ['a duplicate (exact)', ['m.example', 'm.example'], 'fallbackRegistries[1]', 'duplicate entry "m.example"'],
    ['too many', ['a.example', 'b.example', 'c.example', 'd.example', 'e.example', 'f.example'], 'fallbackRegistries', 'at most 5'],
  ])('refuses %s', (_what, fallbackRegistries, field, message) => {
    expect(issuesOf({ ...base, fallbackRegistries })).toContainEqual({ field, message: expect.stringContaining(message) });
  });

  test('an exact repeat is reported once', () => {
    expect(issuesOf({ ...base, fallbackRegistries: ['m.example', 'm.example'] })).toEqual([{ field: 'fallbackRegistries[1]', message: 'duplicate entry "m.example"' }]);
  });

  test('a fallback passes the same self-host and egress checks as the source', () => {
    const checkUpstreamHost = (registry: string) => (registry.startsWith('10.') ? `${registry} is a private address` : undefined);
    expect(issuesOf({ ...base, fallbackRegistries: ['m.example', 'cache.example'] }, { selfHosts: ['cache.example'] })).toEqual([
      { field: 'fallbackRegistries[1]', message: 'upstream "cache.example" is this registry itself; a rule cannot cache from its own host' },
    ]);
    expect(issuesOf({ ...base, fallbackRegistries: ['10.0.0.8:5000'] }, { checkUpstreamHost })).toEqual([
      { field: 'fallbackRegistries[0]', message: 'upstream "10.0.0.8:5000" is refused: 10.0.0.8:5000 is a private address' },
    ]);
  });
});

test('a rule set freezes the new fields', () => {
  const set = CacheRuleSet.create([{ ...base, allow: { repositories: ['library/*'], tags: ['latest'] }, fallbackRegistries: ['m.example'] }]);
  const rule = set.get('hub-rule')!;
  expect(Object.isFrozen(rule.allow)).toBe(true);
  expect(Object.isFrozen(rule.allow!.tags)).toBe(true);
  expect(Object.isFrozen(rule.fallbackRegistries)).toBe(true);
});
