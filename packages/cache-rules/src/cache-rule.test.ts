import {
  rulePushAllowed,
  CacheRuleValidationError,
  parseCacheRule,
  RULE_NAME_PATTERN,
  rulePlatforms,
  ruleTagFreshnessSeconds,
  ruleUpstreamTagNotFound,
  ruleAnonymousPull,
  type CacheRule,
} from './index.js';

const base: CacheRule = { name: 'node-rule', sourceRepository: 'docker.io/library/node', targetRepository: 'dockerhub/library/node' };

function issuesOf(input: unknown, selfHosts?: string[]) {
  try {
    parseCacheRule(input, selfHosts ? { selfHosts } : undefined);
  } catch (err) {
    expect(err).toBeInstanceOf(CacheRuleValidationError);
    return (err as CacheRuleValidationError).issues;
  }
  throw new Error('expected the rule to be rejected');
}

describe('parseCacheRule accepts', () => {
  test.each<[string, CacheRule]>([
    ['a static rule', base],
    ['a registry-level wildcard', { name: 'dockerhub', sourceRepository: 'docker.io/*', targetRepository: 'dockerhub/*' }],
    ['a repository-level wildcard', { name: 'official', sourceRepository: 'docker.io/library/*', targetRepository: 'official/*' }],
    ['a host with a port', { name: 'local-5001', sourceRepository: '127.0.0.1:5001/*', targetRepository: 'local/*' }],
    ['uppercase host kept as written', { name: 'GHCR-Rule', sourceRepository: 'GHCR.io/owner/app', targetRepository: 'ghcr/app' }],
    ['a credential set', { ...base, credentialSetName: 'hub-creds' }],
    ['platforms pulled', { ...base, platforms: 'pulled' }],
    ['platforms all', { ...base, platforms: 'all' }],
    ['a platform list', { ...base, platforms: ['linux/amd64', 'linux/arm/v7', 'windows/amd64'] }],
    ['a 50 character name', { ...base, name: 'a'.repeat(50) }],
    ['a freshness window of 0 (always revalidate)', { ...base, tagFreshnessSeconds: 0 }],
    ['a freshness window of ten years (a pin)', { ...base, tagFreshnessSeconds: 315360000 }],
    ['serve-local on upstream 404', { ...base, upstreamTagNotFound: 'serve-local' }],
    ['report-missing on upstream 404', { ...base, upstreamTagNotFound: 'report-missing', tagFreshnessSeconds: 60 }],
    ['anonymous pull allowed for a rule with a credential set', { ...base, credentialSetName: 'hub-creds', anonymousPull: true }],
    ['anonymous pull refused for a public rule', { ...base, anonymousPull: false }],
  ])('%s', (_what, rule) => {
    expect(parseCacheRule(rule)).toEqual(rule);
  });

  test('returns a fresh object without unset optional keys', () => {
    const input = { ...base, credentialSetName: undefined, platforms: ['linux/amd64'] };
    const rule = parseCacheRule(input);
    expect(Object.keys(rule).sort()).toEqual(['name', 'platforms', 'sourceRepository', 'targetRepository']);
    expect(rule.platforms).not.toBe(input.platforms);
  });

  test('the default platform selection is pulled', () => {
    expect(rulePlatforms(parseCacheRule(base))).toBe('pulled');
    expect(rulePlatforms(parseCacheRule({ ...base, platforms: 'all' }))).toBe('all');
  });
});

test('freshness and 404 policy defaults', () => {
  expect(ruleTagFreshnessSeconds(parseCacheRule(base), 300)).toBe(300);
  expect(ruleTagFreshnessSeconds(parseCacheRule({ ...base, tagFreshnessSeconds: 0 }), 300)).toBe(0);
  expect(ruleUpstreamTagNotFound(parseCacheRule(base))).toBe('report-missing');
  expect(ruleUpstreamTagNotFound(parseCacheRule({ ...base, upstreamTagNotFound: 'serve-local' }))).toBe('serve-local');
});

test('anonymous pull: allowed without a credential set, refused with one, unless the rule says', () => {
  expect(ruleAnonymousPull(parseCacheRule(base))).toBe(true);
  expect(ruleAnonymousPull(parseCacheRule({ ...base, credentialSetName: 'hub-creds' }))).toBe(false);
  expect(ruleAnonymousPull(parseCacheRule({ ...base, credentialSetName: 'hub-creds', anonymousPull: true }))).toBe(true);
  expect(ruleAnonymousPull(parseCacheRule({ ...base, anonymousPull: false }))).toBe(false);
  expect(issuesOf({ ...base, anonymousPull: 'yes' })).toEqual([{ field: 'anonymousPull', message: 'must be true or false' }]);
});

test('push into a rule path: refused by default, allowed by allowPush: true; kept through parsing', () => {
  expect(rulePushAllowed(parseCacheRule(base))).toBe(false);
  expect(rulePushAllowed(parseCacheRule({ ...base, allowPush: false }))).toBe(false);
  const allowed = parseCacheRule({ ...base, allowPush: true });
  expect(allowed.allowPush).toBe(true);
  expect(rulePushAllowed(allowed)).toBe(true);
  expect(issuesOf({ ...base, allowPush: 'yes' })).toEqual([{ field: 'allowPush', message: 'must be true or false' }]);
});

describe('parseCacheRule rejects freshness and 404 policy values', () => {
  const FRESHNESS = 'must be a whole number of seconds from 0 (always revalidate) to 315360000 (ten years: a pin)';
  test.each<[string, unknown, string, string]>([
    ['a negative window', { ...base, tagFreshnessSeconds: -1 }, 'tagFreshnessSeconds', FRESHNESS],
    ['a fractional window', { ...base, tagFreshnessSeconds: 1.5 }, 'tagFreshnessSeconds', FRESHNESS],
    ['a window as a string', { ...base, tagFreshnessSeconds: '60' }, 'tagFreshnessSeconds', FRESHNESS],
    ['a window over ten years', { ...base, tagFreshnessSeconds: 315360001 }, 'tagFreshnessSeconds', FRESHNESS],
    ['an unknown 404 policy', { ...base, upstreamTagNotFound: 'keep' }, 'upstreamTagNotFound', "must be 'report-missing' or 'serve-local'"],
    ['a boolean 404 policy', { ...base, upstreamTagNotFound: true }, 'upstreamTagNotFound', "must be 'report-missing' or 'serve-local'"],
  ])('%s', (_what, input, field, message) => {
    expect(issuesOf(input)).toEqual([{ field, message }]);
  });
});

describe('parseCacheRule rejects', () => {
  test.each<[string, unknown, string, string]>([
    ['a non-object', 'docker.io/*', 'rule', 'must be an object'],
    ['null', null, 'rule', 'must be an object'],
    ['a missing name', { ...base, name: undefined }, 'name', 'is required'],
    ['a short name', { ...base, name: 'abcd' }, 'name', "must be 5-50 characters of letters, digits and '-'"],
    ['a long name', { ...base, name: 'a'.repeat(51) }, 'name', "must be 5-50 characters of letters, digits and '-'"],
    ['a name with _', { ...base, name: 'node_rule' }, 'name', "must be 5-50 characters of letters, digits and '-'"],
    ['a numeric name', { ...base, name: 12345 }, 'name', 'must be a string'],
    ['a missing source', { ...base, sourceRepository: undefined }, 'sourceRepository', 'is required'],
    ['a source without host', { ...base, sourceRepository: 'library/node' }, 'sourceRepository', 'must start with a registry host'],
    ['a source without path', { ...base, sourceRepository: 'docker.io' }, 'sourceRepository', 'must be registry-host[:port]/repository'],
    ['a bad source port', { ...base, sourceRepository: '127.0.0.1:99999/app' }, 'sourceRepository', 'out of range 1-65535'],
    ['an uppercase source path', { ...base, sourceRepository: 'docker.io/Library/node' }, 'sourceRepository', 'path component "Library" is invalid'],
    ['a missing target', { ...base, targetRepository: undefined }, 'targetRepository', 'is required'],
    ['a bare * target', { ...base, targetRepository: '*', sourceRepository: 'docker.io/*' }, 'targetRepository', '"*" alone is not allowed'],
    ['a mid-path wildcard', { ...base, targetRepository: 'a/*/b' }, 'targetRepository', 'only allowed as a whole last path component'],
    ['an uppercase target', { ...base, targetRepository: 'DockerHub/node' }, 'targetRepository', 'path component "DockerHub" is invalid'],
    [
      'a target-only wildcard',
      { ...base, targetRepository: 'dockerhub/*' },
      'sourceRepository',
      'wildcard on one side only: targetRepository ends in /* but sourceRepository does not',
    ],
    [
      'a source-only wildcard',
      { ...base, sourceRepository: 'docker.io/*' },
      'targetRepository',
      'wildcard on one side only: sourceRepository ends in /* but targetRepository does not',
    ],
    ['a bad credential set name', { ...base, credentialSetName: 'c' }, 'credentialSetName', "must be 5-50 characters of letters, digits and '-'"],
    ['a non-string credential set name', { ...base, credentialSetName: null }, 'credentialSetName', 'must be a string'],
    ['an unknown platforms word', { ...base, platforms: 'some' }, 'platforms', "must be 'pulled', 'all' or a non-empty list"],
    ['a platforms number', { ...base, platforms: 2 }, 'platforms', "must be 'pulled', 'all' or a non-empty list"],
    ['an empty platform list', { ...base, platforms: [] }, 'platforms', 'must not be empty'],
    ['a platform without arch', { ...base, platforms: ['linux/amd64', 'linux'] }, 'platforms[1]', 'must look like os/arch or os/arch/variant'],
    ['an uppercase platform', { ...base, platforms: ['Linux/AMD64'] }, 'platforms[0]', 'must look like os/arch'],
    ['a platform with 4 parts', { ...base, platforms: ['linux/arm/v7/x'] }, 'platforms[0]', 'must look like os/arch'],
    ['a non-string platform', { ...base, platforms: ['linux/amd64', 7] }, 'platforms[1]', 'must be a string'],
    ['a duplicate platform', { ...base, platforms: ['linux/amd64', 'linux/amd64'] }, 'platforms[1]', 'duplicate platform "linux/amd64"'],
    ['an unknown field', { ...base, freshness: 60 }, 'freshness', 'unknown field'],
  ])('%s', (_what, input, field, message) => {
    expect(issuesOf(input)).toContainEqual({ field, message: expect.stringContaining(message) });
  });

  test.each([
    ['cache.example/*', ['cache.example']],
    ['Cache.Example/library/node', ['cache.example']],
    ['127.0.0.1:5000/*', ['127.0.0.1:5000']],
  ])('an upstream that is this registry: %s', (sourceRepository, selfHosts) => {
    const targetRepository = sourceRepository.endsWith('/*') ? 'self/*' : 'self/node';
    expect(issuesOf({ ...base, sourceRepository, targetRepository }, selfHosts)).toEqual([
      { field: 'sourceRepository', message: expect.stringContaining('is this registry itself') },
    ]);
  });

  test('the caller-supplied upstream host check (the egress policy) is a sourceRepository issue; names it passes are untouched', () => {
    const seen: string[] = [];
    const checkUpstreamHost = (registry: string) => (seen.push(registry), registry.startsWith('169.254.') ? '169.254.169.254:443 is a link-local address' : undefined);
    const check = (sourceRepository: string) => {
      try {
        parseCacheRule({ ...base, sourceRepository, targetRepository: 'up/*' }, { checkUpstreamHost });
        return [];
      } catch (err) {
        return (err as CacheRuleValidationError).issues;
      }
    };
    expect(check('169.254.169.254/*')).toEqual([{ field: 'sourceRepository', message: 'upstream "169.254.169.254" is refused: 169.254.169.254:443 is a link-local address' }]);
    expect(check('Docker.io/*')).toEqual([]);
    expect(seen).toEqual(['169.254.169.254', 'registry-1.docker.io']);
  });

  test('collects every issue, not only the first', () => {
    const issues = issuesOf({ name: 'x', sourceRepository: 'node/*', targetRepository: 'A/*', platforms: ['linux', 'linux/amd64'], extra: true });
    expect(issues.map((i) => i.field).sort()).toEqual(['extra', 'name', 'platforms[0]', 'sourceRepository', 'targetRepository']);
  });

  test('the error carries a stable code and a readable message', () => {
    const err = (() => {
      try {
        parseCacheRule({ ...base, name: 'x' });
      } catch (e) {
        return e as CacheRuleValidationError;
      }
    })();
    expect(err).toMatchObject({ code: 'RULE_INVALID', name: 'CacheRuleValidationError' });
    expect(err?.message).toBe("invalid cache rule: name: must be 5-50 characters of letters, digits and '-'");
    expect(err?.issues).toEqual([{ field: 'name', message: "must be 5-50 characters of letters, digits and '-'" }]);
  });
});

test.each([
  ['hub-1', true],
  ['Node-Rule-2024', true],
  ['abcd', false],
  ['has space', false],
  ['dots.not.ok', false],
])('RULE_NAME_PATTERN %s -> %s', (name, ok) => {
  expect(RULE_NAME_PATTERN.test(name)).toBe(ok);
});
