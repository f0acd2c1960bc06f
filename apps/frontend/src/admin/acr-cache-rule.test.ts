import { parseCacheRule, type CacheRule } from '@pullthrough/cache-rules';
import { armCacheRuleGet, azCacheRuleShow, azCacheRuleShowAnonymous } from '../../test/acr-fixtures.js';
import { acrCacheRule, decodeCacheRuleBody } from './acr-cache-rule.js';
import { ACR_REGISTRY_ID } from './acr-resource.js';

const OURS = { name: 'hub-node', sourceRepository: 'docker.io/library/node', targetRepository: 'dockerhub/library/node', credentialSetName: 'hub-login' };

describe('decodeCacheRuleBody', () => {
  test('our body passes through untouched, fields named as they are', () => {
    const body = { ...OURS, platforms: 'all' };
    const decoded = decodeCacheRuleBody(body, 'hub-node');
    expect(decoded.body).toBe(body);
    expect(decoded.issues).toEqual([]);
    expect(decoded.field('platforms[0]')).toBe('platforms[0]');
  });

  test.each([
    ['az acr cache show -o json', azCacheRuleShow('hub-node', 'hub-login', OURS.sourceRepository, OURS.targetRepository)],
    ['the ARM GET body', armCacheRuleGet('hub-node', 'hub-login', OURS.sourceRepository, OURS.targetRepository)],
  ])('%s becomes our body: credentialSetResourceId -> credentialSetName, read-only fields dropped', (_label, doc) => {
    const decoded = decodeCacheRuleBody(doc, 'hub-node');
    expect(decoded.issues).toEqual([]);
    expect(decoded.body).toEqual(OURS);
    expect(parseCacheRule(decoded.body)).toEqual(OURS);
  });

  test("az's null credentialSetResourceId is no credential set", () => {
    const decoded = decodeCacheRuleBody(azCacheRuleShowAnonymous('hub-node', OURS.sourceRepository, OURS.targetRepository), 'hub-node');
    expect(decoded.issues).toEqual([]);
    expect(decoded.body).toEqual({ name: 'hub-node', sourceRepository: OURS.sourceRepository, targetRepository: OURS.targetRepository });
  });

  test('in the ARM shape our fields are read from properties and errors point into properties', () => {
    const doc = { name: 'hub-node', properties: { sourceRepository: 'docker.io/*', targetRepository: 'hub/*', platforms: ['linux'], bogus: 1 } };
    const decoded = decodeCacheRuleBody(doc, 'hub-node');
    expect(decoded.issues).toEqual([]);
    expect(decoded.body).toEqual({ name: 'hub-node', sourceRepository: 'docker.io/*', targetRepository: 'hub/*', platforms: ['linux'], bogus: 1 });
    expect(decoded.field('platforms[0]')).toBe('properties.platforms[0]');
    expect(decoded.field('bogus')).toBe('properties.bogus');
    expect(decoded.field('name')).toBe('name');
    expect(decoded.field('rule')).toBe('properties');
  });

  test('a credential set error points at credentialSetResourceId when that is where the set came from', () => {
    const arm = decodeCacheRuleBody(armCacheRuleGet('hub-node', 'hub-login', OURS.sourceRepository, OURS.targetRepository), 'hub-node');
    expect(arm.field('credentialSetName')).toBe('properties.credentialSetResourceId');
    const az = decodeCacheRuleBody(azCacheRuleShow('hub-node', 'hub-login', OURS.sourceRepository, OURS.targetRepository), 'hub-node');
    expect(az.field('credentialSetName')).toBe('credentialSetResourceId');
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['a credentialSetResourceId that is not a credential set id', { properties: { ...armCacheRuleGet('hub-node', 'x', 'a.io/b', 'c').properties, credentialSetResourceId: '/subscriptions/1/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v' } }, 'properties.credentialSetResourceId'],
    ['a credentialSetName that disagrees with credentialSetResourceId', { properties: { ...armCacheRuleGet('hub-node', 'set-one', 'a.io/b', 'c').properties, credentialSetName: 'set-two' } }, 'properties.credentialSetName'],
    ["another resource's type", { ...armCacheRuleGet('hub-node', 'x', 'a.io/b', 'c'), type: 'Microsoft.ContainerRegistry/registries/credentialSets' }, 'type'],
    ["another rule's id", { ...armCacheRuleGet('hub-node', 'x', 'a.io/b', 'c'), id: `${ACR_REGISTRY_ID}/cacheRules/other-rule` }, 'id'],
    ['an unknown top-level field', { ...armCacheRuleGet('hub-node', 'x', 'a.io/b', 'c'), location: 'westeurope' }, 'location'],
    ['properties that are not an object', { properties: 'x' }, 'properties'],
    ['a name inside properties', { properties: { name: 'hub-node', sourceRepository: 'a.io/b', targetRepository: 'c' } }, 'properties.name'],
    ['a creationDate that is not a string', { properties: { sourceRepository: 'a.io/b', targetRepository: 'c', creationDate: 5 } }, 'properties.creationDate'],
    ['an identity on the rule (az flat)', { ...azCacheRuleShow('hub-node', 'x', 'a.io/b', 'c'), identity: { type: 'SystemAssigned' } }, 'identity'],
  ])('%s is named', (_label, doc, field) => {
    expect(decodeCacheRuleBody(doc, 'hub-node').issues.map((i) => i.field)).toContain(field);
  });
});

describe('acrCacheRule', () => {
  test('ARM shape: id, type, properties with credentialSetResourceId and our fields under their own names', () => {
    const rule: CacheRule = { ...OURS, platforms: ['linux/amd64'], tagFreshnessSeconds: 60, allow: { tags: ['>=20'] }, fallbackRegistries: ['mirror.gcr.io'], anonymousPull: false, allowPush: true, retention: { maxTags: 5 } };
    expect(acrCacheRule(rule)).toEqual({
      id: `${ACR_REGISTRY_ID}/cacheRules/hub-node`,
      name: 'hub-node',
      type: 'Microsoft.ContainerRegistry/registries/cacheRules',
      properties: {
        sourceRepository: OURS.sourceRepository,
        targetRepository: OURS.targetRepository,
        credentialSetResourceId: `${ACR_REGISTRY_ID}/credentialSets/hub-login`,
        platforms: ['linux/amd64'],
        tagFreshnessSeconds: 60,
        allow: { tags: ['>=20'] },
        fallbackRegistries: ['mirror.gcr.io'],
        anonymousPull: false,
        allowPush: true,
        retention: { maxTags: 5 },
        provisioningState: 'Succeeded',
      },
    });
  });

  test('round trip: decoding the ACR answer gives the rule back, with or without a credential set', () => {
    const full: CacheRule = { ...OURS, platforms: 'all', upstreamTagNotFound: 'serve-local', retention: { unpulledDays: 30 } };
    const { credentialSetName: _unused, ...bare } = full;
    for (const rule of [full, bare]) {
      const decoded = decodeCacheRuleBody(JSON.parse(JSON.stringify(acrCacheRule(rule))) as Record<string, unknown>, rule.name);
      expect(decoded.issues).toEqual([]);
      expect(parseCacheRule(decoded.body)).toEqual(rule);
    }
  });
});
