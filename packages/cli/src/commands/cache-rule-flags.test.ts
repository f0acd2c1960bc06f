import type { CommandContext, OptionValues } from '../command.js';
import { applyRuleFlags, parseDuration } from './cache-rule-flags.js';

const ctx = (values: OptionValues) => ({ values, args: [], output: 'table' }) as unknown as CommandContext;

test.each([
  ['0', 0],
  ['90', 90],
  ['90s', 90],
  ['30m', 1800],
  ['12h', 43200],
  ['7d', 604800],
])('duration %s is %i seconds', (text, seconds) => {
  expect(parseDuration(text, '--freshness')).toBe(seconds);
});

test.each(['', '1.5h', '-1', '2w', 'soon'])('duration "%s" is a usage error', (text) => {
  expect(() => parseDuration(text, '--freshness')).toThrow('--freshness must be seconds or a duration');
});

test('flags map to the API field names; platforms pulled/all stay words, lists are split on commas', () => {
  expect(
    applyRuleFlags({}, ctx({ 'source-repo': 'docker.io/*', 'target-repo': 'hub/*', 'cred-set': 'hub-login', platforms: 'linux/amd64, linux/arm64', freshness: '1h', 'anonymous-pull': true, 'allow-repos': ['library/*,bitnami/nginx'], 'allow-tags': ['latest', '>=1.25 <2'], 'fallback-registries': ['mirror.gcr.io'] })),
  ).toEqual({
    sourceRepository: 'docker.io/*',
    targetRepository: 'hub/*',
    credentialSetName: 'hub-login',
    platforms: ['linux/amd64', 'linux/arm64'],
    tagFreshnessSeconds: 3600,
    anonymousPull: true,
    allow: { repositories: ['library/*', 'bitnami/nginx'], tags: ['latest', '>=1.25 <2'] },
    fallbackRegistries: ['mirror.gcr.io'],
  });
  expect(applyRuleFlags({}, ctx({ platforms: 'all', 'anonymous-pull': false }))).toEqual({ platforms: 'all', anonymousPull: false });
});

test('update keeps what no flag names; --unset removes fields (allow goes when both lists go)', () => {
  const stored = { name: 'hub', sourceRepository: 'docker.io/*', targetRepository: 'hub/*', credentialSetName: 'x-login', platforms: 'all', allow: { repositories: ['library/*'], tags: ['latest'] } };
  expect(applyRuleFlags(stored, ctx({ unset: ['cred-set,allow-tags'] }))).toEqual({ name: 'hub', sourceRepository: 'docker.io/*', targetRepository: 'hub/*', platforms: 'all', allow: { repositories: ['library/*'] } });
  expect(applyRuleFlags(stored, ctx({ unset: ['allow'], freshness: '0' }))).toEqual({ name: 'hub', sourceRepository: 'docker.io/*', targetRepository: 'hub/*', credentialSetName: 'x-login', platforms: 'all', tagFreshnessSeconds: 0 });
  expect(() => applyRuleFlags(stored, ctx({ unset: ['name'] }))).toThrow('--unset name: can unset');
});
