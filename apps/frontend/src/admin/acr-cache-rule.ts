import type { CacheRule } from '@pullthrough/cache-rules';
import { ACR_RESOURCE_TYPES, acrResourceId, bodyShape, ENVELOPE_READ_ONLY, isObject, PROPERTIES_READ_ONLY, PROVISIONING_SUCCEEDED, readOnlyIssues, resourceIdName, without, withoutNulls } from './acr-resource.js';
import type { FieldIssue } from './problem.js';

/** A request body in our rule shape, and where the client put each of its fields (for field errors). */
export interface DecodedBody {
  body: Record<string, unknown>;
  /** Our field name (`sourceRepository`, `platforms[1]`) -> the client's (`properties.sourceRepository`). */
  field: (ours: string) => string;
  /** Problems with the ACR-only parts (read-only fields, credentialSetResourceId, unknown envelope fields). */
  issues: FieldIssue[];
}

const ARM_TOP_LEVEL = ['name', 'properties', 'identity', ...ENVELOPE_READ_ONLY];

/** `credentialSetResourceId` -> our `credentialSetName` (its last segment); absent or `null` (how az removes it): none. */
function credentialSetFrom(props: Record<string, unknown>, at: (field: string) => string, issues: FieldIssue[]): string | undefined {
  const id = props.credentialSetResourceId;
  if (id === undefined) return undefined;
  const name = typeof id === 'string' ? resourceIdName(id, 'credentialSets') : undefined;
  if (name === undefined) {
    issues.push({ field: at('credentialSetResourceId'), message: 'must be a credential set resource id: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/registries/<registry>/credentialSets/<name>' });
    return undefined;
  }
  if (props.credentialSetName !== undefined && props.credentialSetName !== name) {
    issues.push({ field: at('credentialSetName'), message: `names another credential set than credentialSetResourceId ("${name}"); give one of them` });
  }
  return name;
}

/**
 * A PUT body for cache rule `name` in any of three shapes, as our rule body: ours as is; ARM's
 * (`{"properties": {...}}`, the ARM GET body) or az's (`az acr cache show -o json`, flat). In ACR's
 * shapes `credentialSetResourceId` becomes `credentialSetName` (its last segment), the read-only fields
 * (`id`, `type`, `systemData`, `resourceGroup`, `creationDate`, `provisioningState`) are checked to
 * describe this rule and dropped, and our own fields (`platforms`, `allow`...) are read from where our
 * ACR answer puts them (`properties`, under their own names). Unknown fields are left in for our
 * validation to refuse, named where the client put them.
 */
export function decodeCacheRuleBody(raw: Record<string, unknown>, name: string): DecodedBody {
  const shape = bodyShape(raw);
  if (shape === 'ours') return { body: raw, field: (f) => f, issues: [] };
  const input = withoutNulls(raw);
  const issues: FieldIssue[] = [];
  // Newer ACR API versions let a rule log in with its own managed identity; here a credential set does that.
  if (input.identity !== undefined) issues.push({ field: 'identity', message: 'a cache rule has no identity here: give the identity to a credential set for the upstream and name that set' });
  let props: Record<string, unknown>;
  let prefix = '';
  if (shape === 'arm') {
    prefix = 'properties.';
    for (const key of Object.keys(input)) if (!ARM_TOP_LEVEL.includes(key)) issues.push({ field: key, message: 'unknown field' });
    if (!isObject(input.properties)) return { body: {}, field: (f) => f, issues: [...issues, { field: 'properties', message: 'must be an object' }] };
    props = withoutNulls(input.properties);
    if (Object.hasOwn(props, 'name')) issues.push({ field: 'properties.name', message: 'unknown field (the name goes at the top level)' });
    props = without(props, ['name']);
  } else {
    props = without(input, [...ENVELOPE_READ_ONLY, 'name', 'identity']);
  }
  const at = (f: string) => `${prefix}${f}`;
  issues.push(...readOnlyIssues(input, props, 'cacheRules', name, at));
  const credentialSetName = credentialSetFrom(props, at, issues);
  const body = without(props, [...PROPERTIES_READ_ONLY, 'credentialSetResourceId']);
  if (input.name !== undefined) body.name = input.name;
  if (credentialSetName !== undefined) body.credentialSetName = credentialSetName;
  const fromResourceId = props.credentialSetResourceId !== undefined;
  const field = (f: string): string => {
    if (f === 'name') return 'name';
    if (f === 'rule') return shape === 'arm' ? 'properties' : f;
    if (f === 'credentialSetName' && fromResourceId) return at('credentialSetResourceId');
    return at(f);
  };
  return { body, field, issues };
}

/**
 * A rule in ACR's ARM shape: `id`, `name`, `type`, and `properties` with `sourceRepository`,
 * `targetRepository`, `credentialSetResourceId` (when it has a set), our own fields under their own
 * names (so PUT of this body changes nothing), and `provisioningState`.
 */
export function acrCacheRule(rule: CacheRule): Record<string, unknown> {
  const { name, sourceRepository, targetRepository, credentialSetName, ...ours } = rule;
  return {
    id: acrResourceId('cacheRules', name),
    name,
    type: ACR_RESOURCE_TYPES.cacheRules,
    properties: {
      sourceRepository,
      targetRepository,
      ...(credentialSetName === undefined ? {} : { credentialSetResourceId: acrResourceId('credentialSets', credentialSetName) }),
      ...ours,
      provisioningState: PROVISIONING_SUCCEEDED,
    },
  };
}
