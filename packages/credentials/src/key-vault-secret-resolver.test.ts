import { CredentialLookupError } from '@pullthrough/oci';
import {
  createTlsCertificate,
  freePort,
  startIdentityEmulator,
  startKeyVaultEmulator,
  tempDir,
  type IdentityEmulator,
  type KeyVaultEmulator,
  type TempDir,
  type TlsCertificate,
} from '@pullthrough/test-support';
import { createAzureCredential, createSecretResolver, DEFAULT_SECRET_POLICY, KeyVaultSecretResolver, MAX_SECRET_BYTES, parseSecretUri } from './index.js';

// The real ManagedIdentityCredential (MSAL's App Service source) reads these two variables itself.
let dir: TempDir;
let tls: TlsCertificate;
let identity: IdentityEmulator;
let vault: KeyVaultEmulator;
const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };

beforeAll(async () => {
  dir = await tempDir('kv-');
  tls = await createTlsCertificate(dir.path);
  identity = await startIdentityEmulator();
  vault = await startKeyVaultEmulator(tls, identity);
  process.env.IDENTITY_ENDPOINT = identity.endpoint;
  process.env.IDENTITY_HEADER = identity.header;
}, 30_000);
afterAll(async () => {
  process.env.IDENTITY_ENDPOINT = saved.endpoint;
  process.env.IDENTITY_HEADER = saved.header;
  if (saved.endpoint === undefined) delete process.env.IDENTITY_ENDPOINT;
  if (saved.header === undefined) delete process.env.IDENTITY_HEADER;
  await vault?.stop();
  await identity?.stop();
  await dir?.remove();
});

const resolver = (clientId?: string) =>
  new KeyVaultSecretResolver({
    credential: createAzureCredential({ kind: 'managed-identity', clientId }),
    ca: tls.cert,
    disableChallengeResourceVerification: true,
    extraHosts: ['127.0.0.1'],
  });

async function failure(p: Promise<unknown>): Promise<CredentialLookupError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CredentialLookupError);
  return err as CredentialLookupError;
}

test('parses secret URIs with and without a version, and refuses anything else', () => {
  expect(parseSecretUri('https://v.vault.azure.net/secrets/hub-pw')).toEqual({ vaultUrl: 'https://v.vault.azure.net', name: 'hub-pw' });
  expect(parseSecretUri('https://v.vault.azure.net/secrets/hub-pw/0123abcd')).toEqual({ vaultUrl: 'https://v.vault.azure.net', name: 'hub-pw', version: '0123abcd' });
  expect(parseSecretUri('http://v.vault.azure.net/secrets/hub-pw')).toBeUndefined();
  expect(parseSecretUri('https://v.vault.azure.net/keys/hub-pw')).toBeUndefined();
});

test('the real SecretClient and ManagedIdentityCredential read the current and a pinned version over HTTPS', async () => {
  const v1 = vault.setSecret('hub-password', 'kv-value-one');
  vault.setSecret('hub-password', 'kv-value-two');
  const kv = resolver('11111111-2222-3333-4444-555555555555');
  expect(await kv.resolve(vault.secretUri('hub-password'))).toBe('kv-value-two');
  expect(await kv.resolve(vault.secretUri('hub-password', v1))).toBe('kv-value-one');
  expect(identity.tokenRequests).toBeGreaterThanOrEqual(1);
  expect(vault.secretReads).toBe(2);
});

test('secret missing, forbidden, unreachable vault and identity unavailable are credential-lookup errors naming the step, without values', async () => {
  vault.setSecret('present', 'kv-present-value');
  const kv = resolver();
  const missing = await failure(kv.resolve(vault.secretUri('absent-secret')));
  expect(missing.category).toBe('credential-lookup');
  expect(missing.detail).toEqual({ reason: 'secret-missing' });
  expect(missing.message).not.toContain(vault.url);

  vault.forbidden = true;
  try {
    const forbidden = await failure(kv.resolve(vault.secretUri('present')));
    expect(forbidden.detail).toMatchObject({ reason: 'forbidden' });
    expect(JSON.stringify({ m: forbidden.message, d: forbidden.detail, c: String(forbidden.cause) })).not.toContain('kv-present-value');
  } finally {
    vault.forbidden = false;
  }

  const port = await freePort();
  const unreachable = await failure(kv.resolve(`https://127.0.0.1:${port}/secrets/present`));
  expect(unreachable.detail).toMatchObject({ reason: 'vault-unreachable' });
  expect(unreachable.message).toMatch(/vault unreachable/);

  identity.refuse = true;
  try {
    const noIdentity = await failure(resolver('99999999-0000-0000-0000-000000000000').resolve(vault.secretUri('present')));
    expect(noIdentity.detail).toMatchObject({ reason: 'identity-unavailable' });
  } finally {
    identity.refuse = false;
  }
}, 60_000);

test('the resolver chain routes env:, file: and https: references, refusing unknown schemes', async () => {
  vault.setSecret('chain-secret', 'kv-chain-value');
  const chain = createSecretResolver({
    env: { PULLTHROUGH_SECRET_USER_NAME: 'alice' },
    azureCredential: 'managed-identity',
    keyVaultCa: tls.cert,
    keyVaultDisableChallengeResourceVerification: true,
    policy: { ...DEFAULT_SECRET_POLICY, keyVaultHosts: ['127.0.0.1'] },
  });
  expect(await chain.resolve('env:PULLTHROUGH_SECRET_USER_NAME')).toBe('alice');
  expect(await chain.resolve(vault.secretUri('chain-secret'))).toBe('kv-chain-value');
  await failure(chain.resolve('vault:chain-secret'));
});

test('a vault host that is neither a Key Vault domain nor listed is refused without a request; oversized values are refused', async () => {
  const reads = vault.secretReads;
  const unlisted = new KeyVaultSecretResolver({ credential: createAzureCredential({ kind: 'managed-identity' }), ca: tls.cert, disableChallengeResourceVerification: true });
  const refused = await failure(unlisted.resolve(vault.secretUri('present')));
  expect(refused.detail).toEqual({ reason: 'vault-not-allowed' });
  expect(vault.secretReads).toBe(reads);
  vault.setSecret('huge-secret', 'x'.repeat(MAX_SECRET_BYTES + 1));
  const huge = await failure(resolver().resolve(vault.secretUri('huge-secret')));
  expect(huge.detail).toEqual({ reason: 'secret-too-large' });
  expect(huge.message).not.toContain('xxxx');
  vault.setSecret('just-fits', 'y'.repeat(MAX_SECRET_BYTES));
  expect(await resolver().resolve(vault.secretUri('just-fits'))).toHaveLength(MAX_SECRET_BYTES);
});
