import { CacheRuleValidationError, parseCacheRule, type CacheRule } from './index.js';

const base: CacheRule = { name: 'node-rule', sourceRepository: 'docker.io/library/node', targetRepository: 'dockerhub/library/node' };

function issuesOf(retention: unknown) {
  try {
    parseCacheRule({ ...base, retention });
  } catch (err) {
    expect(err).toBeInstanceOf(CacheRuleValidationError);
    return (err as CacheRuleValidationError).issues;
  }
  throw new Error('expected the rule to be rejected');
}

test.each([[{ maxTags: 5 }], [{ unpulledDays: 30 }], [{ maxTags: 0, unpulledDays: 0 }], [{ maxTags: 1_000_000, unpulledDays: 36_500 }]])('retention %j is kept as written', (retention) => {
  expect(parseCacheRule({ ...base, retention })).toEqual({ ...base, retention });
});

test.each<[unknown, string, RegExp]>([
  [{}, 'retention', /maxTags and\/or unpulledDays/],
  ['weekly', 'retention', /must be an object/],
  [{ maxTags: -1 }, 'retention.maxTags', /whole number from 0/],
  [{ maxTags: 2.5 }, 'retention.maxTags', /whole number/],
  [{ unpulledDays: '30' }, 'retention.unpulledDays', /whole number/],
  [{ unpulledDays: 36_501 }, 'retention.unpulledDays', /to 36500 days/],
  [{ maxTags: 3, keep: 'all' }, 'retention.keep', /unknown field/],
])('retention %j is refused on %s', (retention, field, message) => {
  const issues = issuesOf(retention);
  expect(issues).toEqual([{ field, message: expect.stringMatching(message) }]);
});
