import { CredentialLookupError } from '@pullthrough/oci';
import { boundCredentials } from './bound-credentials.js';
import type { CredentialProvider } from './upstream-target.js';

/** A provider over fixed sets that counts secret reads (the sets' secrets are plain values here). */
function provider(loginServers: Record<string, string>) {
  const reads: string[] = [];
  const p: CredentialProvider = {
    credentialsFor: (name) => async () => (reads.push(name), { username: `${name}-user`, password: `${name}-password` }),
    identityTokenFor: (name) => async () => (reads.push(`${name}:identity`), undefined),
    loginServerOf: async (name) => loginServers[name],
  };
  return { p, reads };
}

test.each([
  ['docker.io', 'registry-1.docker.io'],
  ['index.docker.io', 'registry-1.docker.io'],
  ['GHCR.IO', 'ghcr.io'],
  ['127.0.0.1:5000', '127.0.0.1:5000'],
])('a set for %s gives its secrets to %s', async (loginServer, registry) => {
  const { p, reads } = provider({ 'the-set': loginServer });
  const bound = boundCredentials(p, 'the-set', registry);
  expect(await bound.credentials()).toEqual({ username: 'the-set-user', password: 'the-set-password' });
  expect(await bound.identityToken!()).toBeUndefined();
  expect(reads).toEqual(['the-set', 'the-set:identity']);
});

test.each([
  ['ghcr.io', 'registry-1.docker.io'],
  ['r.example', 'r.example:5000'],
  ['evil.example', '127.0.0.1:5000'],
])('a set for %s gives nothing to %s, and its secrets are never read', async (loginServer, registry) => {
  const { p, reads } = provider({ 'the-set': loginServer });
  const bound = boundCredentials(p, 'the-set', registry);
  const err = (await bound.credentials().catch((e: unknown) => e)) as CredentialLookupError;
  expect(err).toBeInstanceOf(CredentialLookupError);
  expect(err.category).toBe('credential-lookup');
  expect(err.detail).toMatchObject({ credentialSet: 'the-set', reason: 'registry-mismatch', loginServer, upstreamRegistry: registry });
  await expect(bound.identityToken!()).rejects.toBeInstanceOf(CredentialLookupError);
  expect(reads).toEqual([]);
});

test('the binding is read on every lookup: a set moved to another registry stops giving secrets at once', async () => {
  const servers: Record<string, string> = { 'the-set': 'ghcr.io' };
  const { p, reads } = provider(servers);
  const bound = boundCredentials(p, 'the-set', 'ghcr.io');
  expect(await bound.credentials()).toBeDefined();
  servers['the-set'] = 'quay.io';
  await expect(bound.credentials()).rejects.toBeInstanceOf(CredentialLookupError);
  expect(reads).toEqual(['the-set']);
});
