import { CredentialHealthBook, LocalSecretResolver, parseCredentialSet, SecretCredentialProvider, type CredentialSet } from './index.js';

const CLIENT_ID = '7a1c2b3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

describe('credential set model', () => {
  test('secrets or a managed identity: at least one, and UserAssigned needs a clientId', () => {
    expect(parseCredentialSet({ name: 'acr-upstream', loginServer: 'other.azurecr.io', identity: { type: 'UserAssigned', clientId: CLIENT_ID } }).identity).toEqual({
      type: 'UserAssigned',
      clientId: CLIENT_ID,
    });
    expect(parseCredentialSet({ name: 'acr-system', loginServer: 'other.azurecr.io', identity: { type: 'SystemAssigned' } }).authCredentials).toBeUndefined();
    expect(() => parseCredentialSet({ name: 'nothing-at-all', loginServer: 'r.example' })).toThrow(/authCredentials .*or an identity/);
    expect(() => parseCredentialSet({ name: 'no-client-id', loginServer: 'r.example', identity: { type: 'UserAssigned' } })).toThrow(/clientId/);
    expect(() => parseCredentialSet({ name: 'bad-client-id', loginServer: 'r.example', identity: { type: 'UserAssigned', clientId: 'me' } })).toThrow(/GUID/);
  });
});

describe('SecretCredentialProvider with identity sets', () => {
  const sets: Record<string, CredentialSet> = {
    'acr-identity': { name: 'acr-identity', loginServer: 'a.azurecr.io', identity: { type: 'UserAssigned', clientId: CLIENT_ID } },
    'secret-login': { name: 'secret-login', loginServer: 'r', authCredentials: [{ name: 'c', usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_U', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_P' }] },
  };
  const asked: Array<string | undefined> = [];
  const provider = new SecretCredentialProvider(
    async (n) => sets[n],
    new LocalSecretResolver({ PULLTHROUGH_SECRET_U: 'alice', PULLTHROUGH_SECRET_P: 'pw' }),
    60_000,
    Date.now,
    async (clientId) => (asked.push(clientId), `entra-token-for-${clientId}`),
  );

  test('an identity set gives an Entra token and no basic credentials; a secret set the reverse', async () => {
    expect(await provider.identityTokenFor('acr-identity')()).toBe(`entra-token-for-${CLIENT_ID}`);
    expect(await provider.credentialsFor('acr-identity')()).toBeUndefined();
    expect(await provider.identityTokenFor('secret-login')()).toBeUndefined();
    expect(await provider.credentialsFor('secret-login')()).toEqual({ username: 'alice', password: 'pw' });
    expect(asked).toEqual([CLIENT_ID]);
  });
});

describe('CredentialHealthBook', () => {
  test('Healthy until a failure; a later success heals; forget resets', () => {
    let t = Date.UTC(2026, 0, 1);
    const book = new CredentialHealthBook(() => t);
    expect(book.get('hub-login')).toEqual({ status: 'Healthy' });
    book.unhealthy('hub-login', 'credential-lookup', 'secret https://v/secrets/pw does not exist in the vault (404)');
    expect(book.get('hub-login')).toEqual({ status: 'Unhealthy', errorCode: 'credential-lookup', errorMessage: expect.stringContaining('404'), checkedAt: new Date(t).toISOString() });
    t += 1000;
    book.healthy('hub-login');
    expect(book.get('hub-login')).toEqual({ status: 'Healthy', checkedAt: new Date(t).toISOString() });
    book.unhealthy('hub-login', 'upstream-auth', 'refused');
    book.forget('hub-login');
    expect(book.get('hub-login')).toEqual({ status: 'Healthy' });
  });
});
