import type { CredentialHealth, CredentialSet } from '@pullthrough/credentials';
import type { DecodedBody } from './acr-cache-rule.js';
import { ACR_RESOURCE_TYPES, acrResourceId, bodyShape, ENVELOPE_READ_ONLY, isObject, PROPERTIES_READ_ONLY, PROVISIONING_SUCCEEDED, readOnlyIssues, without, withoutNulls } from './acr-resource.js';
import type { FieldIssue } from './problem.js';

/** What a set's `properties` (flat in az's output) may hold: ACR's fields, ours, and the read-only ones. */
const PROPERTY_KEYS = ['loginServer', 'authCredentials', 'tokenRealmHosts', 'credentialHealth', ...PROPERTIES_READ_ONLY];
const CREDENTIAL_KEYS = ['name', 'usernameSecretIdentifier', 'passwordSecretIdentifier', 'credentialHealth'];
const IDENTITY_KEYS = ['type', 'principalId', 'tenantId', 'userAssignedIdentities', 'clientId'];

/** `authCredentials` without ACR's read-only `credentialHealth`; unknown keys named. */
function credentialsFrom(list: unknown, at: (f: string) => string, issues: FieldIssue[]): unknown {
  if (!Array.isArray(list)) return list;
  return list.map((item, i) => {
    if (!isObject(item)) return item;
    const credential = withoutNulls(item);
    for (const key of Object.keys(credential)) if (!CREDENTIAL_KEYS.includes(key)) issues.push({ field: at(`authCredentials[${i}].${key}`), message: 'unknown field' });
    return without(credential, ['credentialHealth']);
  });
}

/**
 * ACR's `identity` (`type` SystemAssigned, UserAssigned with one `userAssignedIdentities` entry, or
 * None; `principalId`/`tenantId` read-only) as ours (`type`, `clientId`). Our own `clientId` is read too.
 */
function identityFrom(given: unknown, issues: FieldIssue[]): { value: unknown; clientIdAt?: string } {
  if (!isObject(given)) return { value: given };
  const identity = withoutNulls(given);
  for (const key of Object.keys(identity)) if (!IDENTITY_KEYS.includes(key)) issues.push({ field: `identity.${key}`, message: 'unknown field' });
  if (identity.type === 'None') return { value: undefined };
  const out: Record<string, unknown> = { type: identity.type };
  if (identity.clientId !== undefined) out.clientId = identity.clientId;
  const assigned = identity.userAssignedIdentities;
  if (assigned === undefined || assigned === null) return { value: out };
  const entries = isObject(assigned) ? Object.entries(assigned) : [];
  if (entries.length !== 1 || !isObject(entries[0]![1]) || typeof entries[0]![1].clientId !== 'string') {
    issues.push({ field: 'identity.userAssignedIdentities', message: 'must hold exactly one identity, with its clientId' });
    return { value: out };
  }
  const [resourceId, entry] = entries[0] as [string, Record<string, unknown>];
  if (out.clientId !== undefined && out.clientId !== entry.clientId) issues.push({ field: 'identity.clientId', message: 'differs from the clientId in userAssignedIdentities; give one of them' });
  out.clientId = entry.clientId;
  return { value: out, clientIdAt: `identity.userAssignedIdentities.${resourceId}.clientId` };
}

/**
 * A PUT body for credential set `name` in any of three shapes, as our set body: ours as is; ARM's
 * (`{"properties": {...}, "identity": {...}}`) or az's (`az acr credential-set show -o json`, flat).
 * The read-only fields (`id`, `type`, `systemData`, `resourceGroup`, `creationDate`,
 * `provisioningState`, every `credentialHealth`, `identity.principalId`/`tenantId`) are checked and
 * dropped; secret identifiers are kept as the references they are (never resolved here). Unknown
 * fields are refused, named where the client put them.
 */
export function decodeCredentialSetBody(raw: Record<string, unknown>, name: string): DecodedBody {
  const shape = bodyShape(raw);
  if (shape === 'ours') return { body: raw, field: (f) => f, issues: [] };
  const input = withoutNulls(raw);
  const issues: FieldIssue[] = [];
  let props: Record<string, unknown>;
  const prefix = shape === 'arm' ? 'properties.' : '';
  const at = (f: string) => `${prefix}${f}`;
  const envelope = ['name', 'identity', ...ENVELOPE_READ_ONLY];
  if (shape === 'arm') {
    for (const key of Object.keys(input)) if (![...envelope, 'properties'].includes(key)) issues.push({ field: key, message: 'unknown field' });
    if (!isObject(input.properties)) return { body: {}, field: (f) => f, issues: [...issues, { field: 'properties', message: 'must be an object' }] };
    props = withoutNulls(input.properties);
  } else {
    props = without(input, envelope);
  }
  for (const key of Object.keys(props)) if (!PROPERTY_KEYS.includes(key)) issues.push({ field: at(key), message: 'unknown field' });
  issues.push(...readOnlyIssues(input, props, 'credentialSets', name, at));
  const body: Record<string, unknown> = {};
  if (input.name !== undefined) body.name = input.name;
  for (const key of ['loginServer', 'tokenRealmHosts']) if (props[key] !== undefined) body[key] = props[key];
  if (props.authCredentials !== undefined) body.authCredentials = credentialsFrom(props.authCredentials, at, issues);
  let clientIdAt: string | undefined;
  if (input.identity !== undefined) {
    const identity = identityFrom(input.identity, issues);
    if (identity.value !== undefined) body.identity = identity.value;
    clientIdAt = identity.clientIdAt;
  }
  const field = (f: string): string => {
    if (f === 'name' || f === '(body)') return f;
    if (f === 'identity.clientId' && clientIdAt) return clientIdAt;
    return f === 'identity' || f.startsWith('identity.') ? f : at(f);
  };
  return { body, field, issues };
}

/** ACR's per-credential health: status, and errorCode/errorMessage when unhealthy. */
function acrHealth(health: CredentialHealth): Record<string, unknown> {
  const { status, errorCode, errorMessage } = health;
  return { status, ...(errorCode === undefined ? {} : { errorCode }), ...(errorMessage === undefined ? {} : { errorMessage }) };
}

/**
 * A set in ACR's ARM shape: `id`, `name`, `type`, `identity` (ours: `type` and, user-assigned, our
 * `clientId`), and `properties` with `loginServer`, `authCredentials` (secret references, each with
 * ACR's `credentialHealth`), our `tokenRealmHosts`, our set-level `credentialHealth` (with `checkedAt`)
 * and `provisioningState`. PUT of this body changes nothing.
 */
export function acrCredentialSet(set: CredentialSet, health: CredentialHealth): Record<string, unknown> {
  const { name, loginServer, authCredentials, identity, tokenRealmHosts } = set;
  return {
    id: acrResourceId('credentialSets', name),
    name,
    type: ACR_RESOURCE_TYPES.credentialSets,
    ...(identity === undefined ? {} : { identity: { ...identity } }),
    properties: {
      loginServer,
      ...(authCredentials === undefined ? {} : { authCredentials: authCredentials.map((c) => ({ ...c, credentialHealth: acrHealth(health) })) }),
      ...(tokenRealmHosts === undefined ? {} : { tokenRealmHosts }),
      credentialHealth: health,
      provisioningState: PROVISIONING_SUCCEEDED,
    },
  };
}
