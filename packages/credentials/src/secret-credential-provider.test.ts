import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialLookupError } from '@pullthrough/oci';
import { DEFAULT_SECRET_POLICY, LocalSecretResolver, parseCredentialSet, SecretCredentialProvider, type CredentialSet, type SecretReferencePolicy } from './index.js';

describe('SecretCredentialProvider with local secret references', () => {
  let dir: string;
  let policy: SecretReferencePolicy;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'creds-'));
    policy = { ...DEFAULT_SECRET_POLICY, fileDirs: [dir] };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('env: and file: references resolve lazily and are cached until forgotten', async () => {
    const file = join(dir, 'password');
    await writeFile(file, 's3cret-one\n');
    const set = parseCredentialSet({ name: 'private-hub', loginServer: 'r.example', authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_HUB_USER', passwordSecretIdentifier: `file:${file}` }] });
    let lookups = 0;
    const provider = new SecretCredentialProvider(async (n) => (lookups++, n === set.name ? set : undefined), new LocalSecretResolver({ PULLTHROUGH_SECRET_HUB_USER: 'alice' }, policy));
    const get = provider.credentialsFor('private-hub');
    expect(lookups).toBe(0);
    expect(await get()).toEqual({ username: 'alice', password: 's3cret-one' });
    await writeFile(file, 's3cret-two\n');
    expect((await get())!.password).toBe('s3cret-one');
    provider.forget('private-hub');
    expect((await get())!.password).toBe('s3cret-two');
    expect(lookups).toBe(2);
  });

  test('missing set, unset env and unreadable file are credential lookup errors naming the set and field, never the reference', async () => {
    const missingFile = join(dir, 'no-such-password');
    const set: CredentialSet = { name: 'broken-set', loginServer: 'r', authCredentials: [{ name: 'c', usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_NOPE', passwordSecretIdentifier: `file:${missingFile}` }] };
    const provider = new SecretCredentialProvider(async (n) => (n === set.name ? set : undefined), new LocalSecretResolver({ PULLTHROUGH_SECRET_NOPE: 'bob' }, policy));
    await expect(provider.credentialsFor('other-set')()).rejects.toBeInstanceOf(CredentialLookupError);
    const err = (await provider.credentialsFor('broken-set')().catch((e: unknown) => e)) as CredentialLookupError;
    expect(err).toBeInstanceOf(CredentialLookupError);
    expect(err.category).toBe('credential-lookup');
    expect(err.message).toBe('credential set "broken-set" authCredentials[0].passwordSecretIdentifier: the file cannot be read (ENOENT)');
    expect(err.detail).toEqual({ credentialSet: 'broken-set', field: 'authCredentials[0].passwordSecretIdentifier', reason: 'file-unreadable' });
    expect(JSON.stringify({ m: err.message, d: err.detail })).not.toContain(dir);
    expect(await provider.loginServerOf('broken-set')).toBe('r');
    expect(await provider.loginServerOf('other-set')).toBeUndefined();
  });

  test('schema rejects plain-text secrets', () => {
    expect(() => parseCredentialSet({ name: 'plain-set', loginServer: 'r', authCredentials: [{ usernameSecretIdentifier: 'alice', passwordSecretIdentifier: 'hunter2' }] })).toThrow(/env:NAME/);
  });
});
