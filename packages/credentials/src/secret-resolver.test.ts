import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialLookupError } from '@pullthrough/oci';
import { credentialSetReferenceIssues, DEFAULT_SECRET_POLICY, LocalSecretResolver, MAX_SECRET_BYTES, secretReferenceIssue, type SecretReferencePolicy } from './index.js';

let root: string;
let allowed: string;
let outside: string;
let policy: SecretReferencePolicy;

beforeAll(async () => {
  root = await realpath(await mkdtemp(join(tmpdir(), 'secret-policy-')));
  allowed = join(root, 'secrets');
  outside = join(root, 'elsewhere');
  await mkdir(allowed);
  await mkdir(outside);
  policy = { ...DEFAULT_SECRET_POLICY, fileDirs: [allowed] };
});
afterAll(() => rm(root, { recursive: true, force: true }));

async function refusal(p: Promise<unknown>): Promise<CredentialLookupError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CredentialLookupError);
  return err as CredentialLookupError;
}

describe('secret reference policy, checked without reading (save time)', () => {
  test.each<[string, string, RegExp | null]>([
    ['env name with the prefix', 'env:PULLTHROUGH_SECRET_HUB', null],
    ['env name without the prefix', 'env:PULLTHROUGH_ADMIN_TOKEN', /PULLTHROUGH_SECRET_ENV_PREFIX/],
    ['the bare prefix', 'env:PULLTHROUGH_SECRET_', /PULLTHROUGH_SECRET_ENV_PREFIX/],
    ['the default secrets dir', 'file:/run/secrets/pullthrough/hub-token', null],
    ['a nested file in it', 'file:/run/secrets/pullthrough/hub/token', null],
    ["the pod's other mounted secrets", 'file:/var/run/secrets/hub/token', /PULLTHROUGH_SECRET_FILE_DIRS/],
    ['/etc/shadow', 'file:/etc/shadow', /PULLTHROUGH_SECRET_FILE_DIRS/],
    ['.. out of an allowed dir', 'file:/run/secrets/pullthrough/../../../etc/shadow', /PULLTHROUGH_SECRET_FILE_DIRS/],
    ['a sibling that shares the prefix', 'file:/run/secrets/pullthrough-other/x', /PULLTHROUGH_SECRET_FILE_DIRS/],
    ['the allowed dir itself', 'file:/run/secrets/pullthrough', /PULLTHROUGH_SECRET_FILE_DIRS/],
    ['a Key Vault URI', 'https://team.vault.azure.net/secrets/hub', null],
    ['an Azure China vault', 'https://team.vault.azure.cn/secrets/hub', null],
    ['a vault URI on another host', 'https://evil.example/secrets/hub', /Key Vault host/],
    ['a look-alike host', 'https://vault.azure.net.evil.example/secrets/hub', /Key Vault host/],
    ['a Key Vault domain on another port', 'https://team.vault.azure.net:8443/secrets/hub', /Key Vault host/],
  ])('%s', (_label, reference, expected) => {
    const issue = secretReferenceIssue(reference, DEFAULT_SECRET_POLICY);
    if (expected === null) expect(issue).toBeNull();
    else expect(issue).toMatch(expected);
    // The message names what is allowed, never the reference (the bare prefix is itself what is allowed).
    if (issue !== null && reference !== 'env:PULLTHROUGH_SECRET_') expect(issue).not.toContain(reference.slice(reference.indexOf(':') + 1));
  });

  test('operator-listed Key Vault hosts: a bare host allows any port, host:port only that port', () => {
    const p = { ...DEFAULT_SECRET_POLICY, keyVaultHosts: ['127.0.0.1', 'kv.local:8443'] };
    expect(secretReferenceIssue('https://127.0.0.1:4443/secrets/a', p)).toBeNull();
    expect(secretReferenceIssue('https://kv.local:8443/secrets/a', p)).toBeNull();
    expect(secretReferenceIssue('https://kv.local:9443/secrets/a', p)).toMatch(/Key Vault host/);
  });

  test('issues are reported per field of the set', () => {
    expect(
      credentialSetReferenceIssues({ authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_U', passwordSecretIdentifier: 'file:/etc/shadow' }] }, DEFAULT_SECRET_POLICY),
    ).toEqual([{ field: 'authCredentials[0].passwordSecretIdentifier', message: expect.stringMatching(/PULLTHROUGH_SECRET_FILE_DIRS/) }]);
  });
});

describe('LocalSecretResolver limits (read time)', () => {
  test('reads a file inside an allowed dir, dropping one trailing newline', async () => {
    await writeFile(join(allowed, 'token'), 'value-1\n');
    expect(await new LocalSecretResolver({}, policy).resolve(`file:${join(allowed, 'token')}`)).toBe('value-1');
  });

  test('a symlink inside an allowed dir that points outside it is refused, and so is a .. path', async () => {
    await writeFile(join(outside, 'shadow'), 'not-for-upstreams');
    await symlink(join(outside, 'shadow'), join(allowed, 'escape'));
    const resolver = new LocalSecretResolver({}, policy);
    const err = await refusal(resolver.resolve(`file:${join(allowed, 'escape')}`));
    expect(err.detail).toEqual({ reason: 'reference-not-allowed' });
    expect(err.message).not.toContain(root);
    const dotdot = await refusal(resolver.resolve(`file:${allowed}/../elsewhere/shadow`));
    expect(dotdot.detail).toEqual({ reason: 'reference-not-allowed' });
  });

  test('a symlink that stays inside the allowed dir (as Kubernetes secret volumes are laid out) is read', async () => {
    await mkdir(join(allowed, '..data-1'));
    await writeFile(join(allowed, '..data-1', 'password'), 'k8s-value');
    await symlink('..data-1', join(allowed, '..data'));
    await symlink('..data/password', join(allowed, 'password'));
    expect(await new LocalSecretResolver({}, policy).resolve(`file:${join(allowed, 'password')}`)).toBe('k8s-value');
  });

  test('an allowed dir reached through a symlink is compared by its real path', async () => {
    await symlink(allowed, join(root, 'linked-secrets'));
    await writeFile(join(allowed, 'via-link'), 'linked-value');
    const viaLink = { ...policy, fileDirs: [join(root, 'linked-secrets')] };
    expect(await new LocalSecretResolver({}, viaLink).resolve(`file:${join(root, 'linked-secrets', 'via-link')}`)).toBe('linked-value');
  });

  test('a file or env value over the size limit is refused; one at the limit is read', async () => {
    await writeFile(join(allowed, 'big'), 'b'.repeat(MAX_SECRET_BYTES + 1));
    await writeFile(join(allowed, 'fits'), 'f'.repeat(MAX_SECRET_BYTES) + '\n');
    const env = { PULLTHROUGH_SECRET_BIG: 'e'.repeat(MAX_SECRET_BYTES + 1) };
    const resolver = new LocalSecretResolver(env, policy);
    expect((await refusal(resolver.resolve(`file:${join(allowed, 'big')}`))).detail).toEqual({ reason: 'secret-too-large' });
    expect((await refusal(resolver.resolve('env:PULLTHROUGH_SECRET_BIG'))).detail).toEqual({ reason: 'secret-too-large' });
    expect(await resolver.resolve(`file:${join(allowed, 'fits')}`)).toHaveLength(MAX_SECRET_BYTES);
  });

  test('a FIFO or a directory is not a secret (and cannot hang the read)', async () => {
    execFileSync('mkfifo', [join(allowed, 'fifo')]);
    const resolver = new LocalSecretResolver({}, policy);
    expect((await refusal(resolver.resolve(`file:${join(allowed, 'fifo')}`))).detail).toEqual({ reason: 'file-unreadable' });
    await mkdir(join(allowed, 'a-dir'));
    expect((await refusal(resolver.resolve(`file:${join(allowed, 'a-dir')}`))).detail).toEqual({ reason: 'file-unreadable' });
  });

  test('env: names outside the prefix are refused even when set; unset ones say so', async () => {
    const resolver = new LocalSecretResolver({ PULLTHROUGH_ADMIN_TOKEN: 'admin-token-value', PULLTHROUGH_SECRET_OK: 'ok' }, policy);
    const err = await refusal(resolver.resolve('env:PULLTHROUGH_ADMIN_TOKEN'));
    expect(err.detail).toEqual({ reason: 'reference-not-allowed' });
    expect(err.message).not.toContain('admin-token-value');
    expect(await resolver.resolve('env:PULLTHROUGH_SECRET_OK')).toBe('ok');
    expect((await refusal(resolver.resolve('env:PULLTHROUGH_SECRET_UNSET'))).detail).toEqual({ reason: 'env-unset' });
  });

  test('/etc/shadow is refused before anything is opened', async () => {
    const err = await refusal(new LocalSecretResolver({}, DEFAULT_SECRET_POLICY).resolve('file:/etc/shadow'));
    expect(err.detail).toEqual({ reason: 'reference-not-allowed' });
    expect(err.message).not.toContain('/etc');
  });
});
