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

  test('keeps the secrets of at most maxCached sets, the least recently used going first, and expires them after the ttl', async () => {
    let now = 0;
    const sets = new Map(['set-a', 'set-b', 'set-c', 'set-d', 'set-e'].map((name) => [name, parseCredentialSet({ name, loginServer: 'r.example', authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_U', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_P' }] })]));
    const lookups: string[] = [];
    const provider = new SecretCredentialProvider(async (n) => (lookups.push(n), sets.get(n)), new LocalSecretResolver({ PULLTHROUGH_SECRET_U: 'u', PULLTHROUGH_SECRET_P: 'p' }, policy), 60_000, () => now, undefined, 4);
    for (const name of ['set-a', 'set-b', 'set-c', 'set-d']) await provider.credentialsFor(name)();
    await provider.credentialsFor('set-a')(); // cached, and now the most recently used
    expect(lookups).toEqual(['set-a', 'set-b', 'set-c', 'set-d']);
    await provider.credentialsFor('set-e')(); // evicts set-b
    lookups.length = 0;
    for (const name of ['set-a', 'set-c', 'set-d', 'set-e', 'set-b']) await provider.credentialsFor(name)();
    expect(lookups).toEqual(['set-b']);
    now = 60_000;
    lookups.length = 0;
    await provider.credentialsFor('set-a')();
    expect(lookups).toEqual(['set-a']);
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
