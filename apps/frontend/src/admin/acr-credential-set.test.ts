import { parseCredentialSet, type CredentialSet } from '@pullthrough/credentials';
import { armCredentialSetGet, azCredentialSetShow } from '../../test/acr-fixtures.js';
import { acrCredentialSet, decodeCredentialSetBody } from './acr-credential-set.js';
import { ACR_REGISTRY_ID } from './acr-resource.js';

const USER = 'https://contoso-kv.vault.azure.net/secrets/registry-user';
const PASS = 'https://contoso-kv.vault.azure.net/secrets/registry-token';
const OURS = { name: 'hub-login', loginServer: 'docker.io', authCredentials: [{ name: 'Credential1', usernameSecretIdentifier: USER, passwordSecretIdentifier: PASS }], identity: { type: 'SystemAssigned' } };

describe('decodeCredentialSetBody', () => {
  test.each([
    ['az acr credential-set show -o json', azCredentialSetShow('hub-login', 'docker.io', 'contoso-kv')],
    ['the ARM GET body', armCredentialSetGet('hub-login', 'docker.io', 'contoso-kv')],
  ])('%s becomes our body: secret identifiers kept as references, health and read-only fields dropped', (_label, doc) => {
    const decoded = decodeCredentialSetBody(doc, 'hub-login');
    expect(decoded.issues).toEqual([]);
    expect(decoded.body).toEqual(OURS);
    expect(parseCredentialSet(decoded.body)).toEqual(OURS);
  });

  test('a user-assigned identity: its one userAssignedIdentities entry gives the clientId, and errors point there', () => {
    const resourceId = '/subscriptions/1/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pull';
    const doc = { properties: { loginServer: 'other.azurecr.io' }, identity: { type: 'UserAssigned', userAssignedIdentities: { [resourceId]: { principalId: 'p', clientId: 'not-a-guid' } } } };
    const decoded = decodeCredentialSetBody(doc, 'acr-pull');
    expect(decoded.issues).toEqual([]);
    expect(decoded.body).toEqual({ loginServer: 'other.azurecr.io', identity: { type: 'UserAssigned', clientId: 'not-a-guid' } });
    expect(decoded.field('identity.clientId')).toBe(`identity.userAssignedIdentities.${resourceId}.clientId`);
    expect(decoded.field('loginServer')).toBe('properties.loginServer');
    expect(decoded.field('authCredentials[0].passwordSecretIdentifier')).toBe('properties.authCredentials[0].passwordSecretIdentifier');
  });

  test('identity type None is no identity', () => {
    const decoded = decodeCredentialSetBody({ properties: { loginServer: 'docker.io', authCredentials: OURS.authCredentials }, identity: { type: 'None' } }, 'hub-login');
    expect(decoded.body).toEqual({ loginServer: 'docker.io', authCredentials: OURS.authCredentials });
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['an unknown property', { properties: { loginServer: 'docker.io', vault: 'x' } }, 'properties.vault'],
    ['an unknown credential field', { properties: { loginServer: 'docker.io', authCredentials: [{ ...OURS.authCredentials[0], password: 'x' }] } }, 'properties.authCredentials[0].password'],
    ['an unknown identity field (az flat)', { ...azCredentialSetShow('hub-login', 'docker.io', 'kv'), identity: { type: 'SystemAssigned', secret: 'x' } }, 'identity.secret'],
    ['two user-assigned identities', { properties: { loginServer: 'a.azurecr.io' }, identity: { type: 'UserAssigned', userAssignedIdentities: { a: { clientId: 'x' }, b: { clientId: 'y' } } } }, 'identity.userAssignedIdentities'],
    ["a cache rule's type", { ...armCredentialSetGet('hub-login', 'docker.io', 'kv'), type: 'Microsoft.ContainerRegistry/registries/cacheRules' }, 'type'],
    ["another set's id", { ...armCredentialSetGet('hub-login', 'docker.io', 'kv'), id: `${ACR_REGISTRY_ID}/credentialSets/other-set` }, 'id'],
    ['an unknown top-level field', { ...armCredentialSetGet('hub-login', 'docker.io', 'kv'), tags: {} }, 'tags'],
  ])('%s is named', (_label, doc, field) => {
    expect(decodeCredentialSetBody(doc, 'hub-login').issues.map((i) => i.field)).toContain(field);
  });
});

describe('acrCredentialSet', () => {
  test('ARM shape with per-credential health, our set-level health and tokenRealmHosts in properties', () => {
    const set = parseCredentialSet({ ...OURS, tokenRealmHosts: ['auth.example.com'] });
    const health = { status: 'Unhealthy' as const, errorCode: 'upstream-auth', errorMessage: 'the upstream refused the credentials', checkedAt: '2026-12-02T01:00:00.000Z' };
    expect(acrCredentialSet(set, health)).toEqual({
      id: `${ACR_REGISTRY_ID}/credentialSets/hub-login`,
      name: 'hub-login',
      type: 'Microsoft.ContainerRegistry/registries/credentialSets',
      identity: { type: 'SystemAssigned' },
      properties: {
        loginServer: 'docker.io',
        authCredentials: [{ ...OURS.authCredentials[0], credentialHealth: { status: 'Unhealthy', errorCode: 'upstream-auth', errorMessage: 'the upstream refused the credentials' } }],
        tokenRealmHosts: ['auth.example.com'],
        credentialHealth: health,
        provisioningState: 'Succeeded',
      },
    });
  });

  test('round trip: decoding the ACR answer gives the set back (password, managed identity)', () => {
    const sets: CredentialSet[] = [
      parseCredentialSet({ ...OURS, tokenRealmHosts: ['auth.example.com'] }),
      parseCredentialSet({ name: 'acr-pull', loginServer: 'up.azurecr.io', identity: { type: 'UserAssigned', clientId: '0b6f3c52-9d1e-4a7b-8c2f-5e4d3a2b1c0f' } }),
    ];
    for (const set of sets) {
      const answer = JSON.parse(JSON.stringify(acrCredentialSet(set, { status: 'Healthy' }))) as Record<string, unknown>;
      const decoded = decodeCredentialSetBody(answer, set.name);
      expect(decoded.issues).toEqual([]);
      expect(parseCredentialSet(decoded.body)).toEqual(set);
    }
  });
});
