import type { Request } from 'express';
import { ProblemError, type FieldIssue } from './problem.js';

/**
 * ACR's ARM resource shape for the cache-rule and credential-set admin routes: the parts both share
 * (resource ids and types, the read-only fields ARM and `az` add, and when a client asked for it).
 */
export type AcrCollection = 'cacheRules' | 'credentialSets';

/** The registry every resource id names: fixed, so ids are stable across deployments and restarts. */
export const ACR_REGISTRY_ID = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/pullthrough/providers/Microsoft.ContainerRegistry/registries/pullthrough';

export const ACR_RESOURCE_TYPES: Record<AcrCollection, string> = {
  cacheRules: 'Microsoft.ContainerRegistry/registries/cacheRules',
  credentialSets: 'Microsoft.ContainerRegistry/registries/credentialSets',
};

/** Writes here are synchronous: a stored resource is always provisioned. */
export const PROVISIONING_SUCCEEDED = 'Succeeded';

export function acrResourceId(collection: AcrCollection, name: string): string {
  return `${ACR_REGISTRY_ID}/${collection}/${name}`;
}

const RESOURCE_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ContainerRegistry\/registries\/[^/]+\/(cacheRules|credentialSets)\/([^/]+)$/i;

/** The resource name an ARM id of `collection` ends in (any subscription, group and registry), or undefined. */
export function resourceIdName(id: string, collection: AcrCollection): string | undefined {
  const m = RESOURCE_ID.exec(id);
  return m && m[1]!.toLowerCase() === collection.toLowerCase() ? m[2] : undefined;
}

/** `?api-version=2023-07-01[-preview]`, as ARM clients send it. */
const API_VERSION = /^\d{4}-\d{2}-\d{2}(?:-preview)?$/;

function acceptsAcrProfile(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    return (type === 'application/json' || type === '*/*') && params.some((p) => /^profile="?acr"?$/.test(p));
  });
}

/**
 * Did the client ask to be answered in ACR's shape: `?api-version=<date>` (ARM clients, `az rest`) or
 * `Accept: application/json; profile=acr`? A malformed api-version is a 400 problem naming it.
 */
export function wantsAcrShape(req: Request): boolean {
  const version = req.query['api-version'];
  if (version !== undefined) {
    if (typeof version !== 'string' || !API_VERSION.test(version)) {
      throw new ProblemError(400, 'Bad Request', 'api-version must be a date such as 2023-07-01 (optionally -preview)', [{ field: 'api-version', message: 'must look like 2023-07-01 or 2023-11-01-preview' }]);
    }
    return true;
  }
  return acceptsAcrProfile(req.get('accept'));
}

/** Which shape a request body is in: ours, ARM's (`{"properties": {...}}`) or what `az ... show -o json` prints (flat, with ARM's read-only fields). */
export type BodyShape = 'ours' | 'arm' | 'az';

/** Fields only ACR's shapes carry (az prints them flat; ARM has the last three under `properties`). */
const ACR_ONLY_KEYS = ['id', 'type', 'systemData', 'resourceGroup', 'creationDate', 'provisioningState', 'credentialSetResourceId'];

export function bodyShape(body: Record<string, unknown>): BodyShape {
  if (Object.hasOwn(body, 'properties')) return 'arm';
  return ACR_ONLY_KEYS.some((k) => Object.hasOwn(body, k)) ? 'az' : 'ours';
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Read-only fields of the resource envelope (`id`, `type`, `systemData`, `resourceGroup`): checked to describe this resource, then dropped. */
export const ENVELOPE_READ_ONLY = ['id', 'type', 'systemData', 'resourceGroup'] as const;
/** Read-only fields of `properties` (flat in az's output). */
export const PROPERTIES_READ_ONLY = ['creationDate', 'provisioningState'] as const;

/**
 * Problems with the read-only fields of `body` (ARM's and az's output of this very resource pass):
 * `type` must be this collection's, `id` must name this resource (in any registry), the rest must
 * have ARM's types. `at(field)` is where the client put a field.
 */
export function readOnlyIssues(body: Record<string, unknown>, props: Record<string, unknown>, collection: AcrCollection, name: string, at: (field: string) => string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const kind = collection === 'cacheRules' ? 'cache rule' : 'credential set';
  if (body.type !== undefined && (typeof body.type !== 'string' || body.type.toLowerCase() !== ACR_RESOURCE_TYPES[collection].toLowerCase())) {
    issues.push({ field: 'type', message: `must be ${ACR_RESOURCE_TYPES[collection]} (this is a ${kind})` });
  }
  if (body.id !== undefined && (typeof body.id !== 'string' || resourceIdName(body.id, collection) !== name)) {
    issues.push({ field: 'id', message: `must be the resource id of ${kind} "${name}" (.../registries/<registry>/${collection}/${name})` });
  }
  if (body.systemData !== undefined && !isObject(body.systemData)) issues.push({ field: 'systemData', message: 'must be an object' });
  if (body.resourceGroup !== undefined && typeof body.resourceGroup !== 'string') issues.push({ field: 'resourceGroup', message: 'must be a string' });
  for (const key of PROPERTIES_READ_ONLY) {
    if (props[key] !== undefined && typeof props[key] !== 'string') issues.push({ field: at(key), message: 'must be a string' });
  }
  return issues;
}

/** `record` without its `null` fields: in ACR's shapes `null` is "not set" (az prints unset fields as null). */
export function withoutNulls(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== null));
}

/** `rest` without `keys`. */
export function without(rest: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(rest).filter(([k]) => !keys.includes(k)));
}
