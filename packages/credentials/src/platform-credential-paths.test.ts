import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialLookupError } from '@pullthrough/oci';
import {
  credentialSetReferenceIssues,
  DATA_DIR_ISSUE,
  DEFAULT_SECRET_POLICY,
  fileReferenceIssue,
  LocalSecretResolver,
  PLATFORM_CREDENTIAL_ISSUE,
  secretReferenceIssue,
  type SecretReferencePolicy,
} from './index.js';

// The pod's own platform credentials and the cache's data directory are never secret sources,
// whatever directories the operator allows: a credential set's secrets are sent to its registry.

/** An operator who allowed far too much: the whole secrets trees, /proc, /sys. */
const wide: SecretReferencePolicy = { ...DEFAULT_SECRET_POLICY, fileDirs: ['/run/secrets', '/var/run/secrets', '/proc', '/sys'] };

describe('platform credentials, whatever PULLTHROUGH_SECRET_FILE_DIRS says (save time)', () => {
  test.each([
    '/var/run/secrets/kubernetes.io/serviceaccount/token',
    '/run/secrets/kubernetes.io/serviceaccount/token',
    '/var/run/secrets/kubernetes.io/serviceaccount/namespace',
    '/var/run/secrets/azure/tokens/azure-identity-token',
    '/run/secrets/azure/tokens/azure-identity-token',
    '/var/run/secrets/eks.amazonaws.com/serviceaccount/token',
    '/run/secrets/eks.amazonaws.com/serviceaccount/token',
    '/var/run/secrets/tokens/vault-token',
    '/var/run/secrets/kubernetes.io',
    '/var/run/secrets/pullthrough/../kubernetes.io/serviceaccount/token',
    '/proc/self/environ',
    '/proc/1/root/etc/shadow',
    '/sys/class/net/eth0/address',
  ])('%s is refused with the platform message', (path) => {
    expect(secretReferenceIssue(`file:${path}`, wide)).toBe(PLATFORM_CREDENTIAL_ISSUE);
    expect(secretReferenceIssue(`file:${path}`, DEFAULT_SECRET_POLICY)).toBe(PLATFORM_CREDENTIAL_ISSUE);
  });

  test('the message is field-level and never repeats the reference', () => {
    const issues = credentialSetReferenceIssues(
      { authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_U', passwordSecretIdentifier: 'file:/var/run/secrets/azure/tokens/azure-identity-token' }] },
      wide,
    );
    expect(issues).toEqual([{ field: 'authCredentials[0].passwordSecretIdentifier', message: PLATFORM_CREDENTIAL_ISSUE }]);
    expect(issues[0]!.message).not.toContain('azure-identity-token');
  });

  test('neighbours that only share a prefix are judged by the allowed directories as usual', () => {
    expect(secretReferenceIssue('file:/var/run/secrets/kubernetes.io-backup/x', wide)).toBeNull();
    expect(secretReferenceIssue('file:/var/run/secrets/azure-registry/token', wide)).toBeNull();
    expect(secretReferenceIssue('file:/processes/x', wide)).toMatch(/PULLTHROUGH_SECRET_FILE_DIRS/);
  });
});

describe('the data directory', () => {
  let root: string;
  let dataDir: string;
  let allowed: string;
  let policy: SecretReferencePolicy;

  beforeAll(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'refused-dirs-')));
    dataDir = join(root, 'data');
    allowed = join(root, 'secrets');
    await mkdir(dataDir);
    await mkdir(allowed);
    await writeFile(join(dataDir, 'admin-token'), 'the-admin-token-value\n');
    await writeFile(join(dataDir, 'redis-password'), 'the-redis-password\n');
    await writeFile(join(allowed, 'hub-token'), 'hub\n');
    // The operator allowed the parent of the data dir: the data dir stays refused.
    policy = { ...DEFAULT_SECRET_POLICY, fileDirs: [root], refusedDirs: [dataDir] };
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  test.each(['admin-token', 'redis-password'])('%s is refused by name, at save time and when read', async (name) => {
    const reference = `file:${join(dataDir, name)}`;
    expect(secretReferenceIssue(reference, policy)).toBe(DATA_DIR_ISSUE);
    const err = await new LocalSecretResolver({}, policy).resolve(reference).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialLookupError);
    expect((err as CredentialLookupError).detail).toEqual({ reason: 'reference-not-allowed' });
    expect((err as CredentialLookupError).message).not.toContain(root);
  });

  test('a symlink in an allowed directory that leads into the data dir is refused on its real path (save time and read)', async () => {
    await symlink(join(dataDir, 'admin-token'), join(allowed, 'innocent'));
    const reference = `file:${join(allowed, 'innocent')}`;
    expect(secretReferenceIssue(reference, policy)).toBeNull();
    expect(await fileReferenceIssue(reference, policy)).toBe(DATA_DIR_ISSUE);
    const err = (await new LocalSecretResolver({}, policy).resolve(reference).catch((e: unknown) => e)) as CredentialLookupError;
    expect(err).toBeInstanceOf(CredentialLookupError);
    expect(err.message).toContain(DATA_DIR_ISSUE);
    expect(err.message).not.toContain('the-admin-token-value');
  });

  test('a symlink in an allowed directory that leads to /proc is refused when read', async () => {
    await symlink('/proc/self/environ', join(allowed, 'environ'));
    const reference = `file:${join(allowed, 'environ')}`;
    expect(await fileReferenceIssue(reference, policy)).toBe(PLATFORM_CREDENTIAL_ISSUE);
    const err = (await new LocalSecretResolver({}, policy).resolve(reference).catch((e: unknown) => e)) as CredentialLookupError;
    expect(err.detail).toEqual({ reason: 'reference-not-allowed' });
    expect(err.message).toContain(PLATFORM_CREDENTIAL_ISSUE);
  });

  test('a file beside the data dir, in an allowed directory, is still read', async () => {
    expect(await new LocalSecretResolver({}, policy).resolve(`file:${join(allowed, 'hub-token')}`)).toBe('hub');
  });
});
