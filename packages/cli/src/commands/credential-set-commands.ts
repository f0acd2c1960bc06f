import { list, required, str, type CommandContext, type CommandSpec, type OptionSpec } from '../command.js';
import { usageError } from '../exit-codes.js';
import { renderFields, renderTable } from '../table.js';
import { createNamed, deleteNamed, namedCommand, showNamed, updateNamed, verifyNamed, type NamedResource } from './named-resource.js';

type CredentialSet = Record<string, unknown> & {
  name: string;
  loginServer?: string;
  authCredentials?: Array<{ name?: string; usernameSecretIdentifier?: string; passwordSecretIdentifier?: string }>;
  identity?: { type: string; clientId?: string };
  tokenRealmHosts?: string[];
  credentialHealth?: { status?: string; errorCode?: string; errorMessage?: string; checkedAt?: string };
};

const NAME = { type: 'string', short: 'n', value: 'NAME', description: 'credential set name (5-50 letters, digits, -)' } as const satisfies OptionSpec;

/** `az acr credential-set` flags: secret *references* (Key Vault URI, env:NAME, file:/path), never secret values. */
const SET_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  name: NAME,
  'login-server': { type: 'string', short: 'l', value: 'HOST', description: 'the registry these credentials are for: docker.io, ghcr.io, host:port  (loginServer)' },
  'username-id': { type: 'string', short: 'u', value: 'REF', description: 'reference to the username secret: https://<vault>.vault.azure.net/secrets/<name>, env:NAME or file:/path' },
  'password-id': { type: 'string', short: 'p', value: 'REF', description: 'reference to the password/token secret (same forms)' },
  identity: { type: 'string', value: 'ID', description: 'log in to an ACR upstream with a managed identity: SystemAssigned, or a user-assigned client id' },
  'token-realm-hosts': { type: 'string', multiple: true, value: 'HOSTS', description: "https token realm hosts outside the registry's domain that may receive these credentials" },
};

function setFields(set: CredentialSet): string {
  const cred = set.authCredentials?.[0];
  const health = set.credentialHealth;
  return renderFields([
    ['name', set.name],
    ['login server', set.loginServer],
    ['username secret', cred?.usernameSecretIdentifier],
    ['password secret', cred?.passwordSecretIdentifier],
    ['identity', set.identity ? `${set.identity.type}${set.identity.clientId ? ` ${set.identity.clientId}` : ''}` : undefined],
    ['token realm hosts', set.tokenRealmHosts],
    ['health', health ? `${health.status ?? '-'}${health.errorCode ? ` (${health.errorCode})` : ''}` : undefined],
    ['health message', health?.errorMessage],
    ['checked at', health?.checkedAt],
  ]);
}

/** The flags given, applied to `base` ({} for create, the stored set for update). */
function applySetFlags(base: CredentialSet | Record<string, unknown>, ctx: CommandContext): Record<string, unknown> {
  const { credentialHealth: _health, ...set } = base as CredentialSet;
  const out: Record<string, unknown> = { ...set };
  const loginServer = str(ctx, 'login-server');
  if (loginServer !== undefined) out.loginServer = loginServer;
  const user = str(ctx, 'username-id');
  const password = str(ctx, 'password-id');
  const identity = str(ctx, 'identity');
  if (identity !== undefined && (user !== undefined || password !== undefined)) throw usageError('give --identity or -u/-p, not both');
  if (user !== undefined || password !== undefined) {
    const current = (set as CredentialSet).authCredentials?.[0] ?? {};
    out.authCredentials = [{ ...current, ...(user !== undefined ? { usernameSecretIdentifier: user } : {}), ...(password !== undefined ? { passwordSecretIdentifier: password } : {}) }];
    delete out.identity;
  }
  if (identity !== undefined) {
    out.identity = identity === 'SystemAssigned' ? { type: 'SystemAssigned' } : { type: 'UserAssigned', clientId: identity };
    delete out.authCredentials;
  }
  const realms = list(ctx, 'token-realm-hosts');
  if (realms !== undefined) out.tokenRealmHosts = realms;
  return out;
}

const SET: NamedResource<CredentialSet> = { noun: 'credential set', group: 'credential-set', collection: '/credential-sets', nameOption: NAME, fields: setFields };

export const credentialSetCommands: CommandSpec[] = [
  {
    path: ['credential-set', 'create'],
    summary: 'create a credential set (needs the admin role)',
    options: SET_OPTIONS,
    examples: ['pullthrough credential-set create -n hub-login -l docker.io -u https://myvault.vault.azure.net/secrets/hub-user -p https://myvault.vault.azure.net/secrets/hub-token'],
    async run(ctx) {
      const name = required(ctx, 'name', '-n/--name');
      required(ctx, 'login-server', '-l/--login-server');
      if (str(ctx, 'identity') === undefined && (str(ctx, 'username-id') === undefined || str(ctx, 'password-id') === undefined)) {
        throw usageError('give -u/--username-id and -p/--password-id (secret references), or --identity');
      }
      await createNamed(ctx, SET, name, () => applySetFlags({}, ctx));
    },
  },
  {
    path: ['credential-set', 'update'],
    summary: 'change a credential set (GET, then PUT with the flags applied; needs the admin role)',
    options: SET_OPTIONS,
    examples: ['pullthrough credential-set update -n hub-login -p https://myvault.vault.azure.net/secrets/hub-token-2'],
    async run(ctx) {
      const name = required(ctx, 'name', '-n/--name');
      await updateNamed(ctx, SET, name, (current) => applySetFlags(current, ctx));
    },
  },
  namedCommand(SET, 'show', 'show a credential set: its secret references (never values) and its health', (ctx, name) => showNamed(ctx, SET, name)),
  {
    path: ['credential-set', 'list'],
    summary: 'list the credential sets with their health',
    async run(ctx) {
      const body = (await (await ctx.client()).call('GET', '/credential-sets')).body as { credentialSets: CredentialSet[] };
      if (ctx.output === 'json') return ctx.out.json(body);
      const rows = body.credentialSets.map((s) => [s.name, s.loginServer, s.identity ? `identity ${s.identity.type}` : 'secrets', s.credentialHealth?.status, s.credentialHealth?.errorCode]);
      ctx.out.print(renderTable(['name', 'login-server', 'auth', 'health', 'error'], rows));
    },
  },
  namedCommand(SET, 'delete', 'delete a credential set (refused while rules use it; needs the admin role)', (ctx, name) => deleteNamed(ctx, SET, name)),
  namedCommand(SET, 'verify', 'live check, step by step: secrets readable, upstream reachable, upstream accepts them (exit 6 when a step fails)', (ctx, name) => verifyNamed(ctx, SET, name)),
];
